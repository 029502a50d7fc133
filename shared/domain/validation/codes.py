"""The stable error codes of rejected rows, with the description users read in the docs and OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple


class ErrorCode(StrEnum):
    """Why a row was rejected. Codes are part of the contract: add freely, rename none."""

    NOT_AN_OBJECT = "not_an_object"
    BAD_ROW = "bad_row"
    UNKNOWN_FIELD = "unknown_field"
    RESERVED_FIELD = "reserved_field"
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    UNKNOWN_INDICATOR = "unknown_indicator"
    FORBIDDEN_INDICATOR = "forbidden_indicator"
    UNKNOWN_AREA = "unknown_area"
    AREA_LEVEL_NOT_ALLOWED = "area_level_not_allowed"
    AREA_NOT_VALID = "area_not_valid"
    BAD_PERIOD = "bad_period"
    PERIOD_TYPE_MISMATCH = "period_type_mismatch"
    FUTURE_PERIOD = "future_period"
    BAD_GENDER = "bad_gender"
    GENDER_NOT_ALLOWED = "gender_not_allowed"
    BAD_STATUS = "bad_status"
    BAD_BOOLEAN = "bad_boolean"
    BAD_NUMBER = "bad_number"
    NOT_FINITE = "not_finite"
    MISSING_VALUE = "missing_value"
    MISSING_NUMERATOR = "missing_numerator"
    MISSING_DENOMINATOR = "missing_denominator"
    BAD_DENOMINATOR = "bad_denominator"
    NEGATIVE_NUMERATOR = "negative_numerator"
    NEGATIVE_COUNT = "negative_count"
    INCONSISTENT_VALUE = "inconsistent_value"
    RATIO_PARTS_NOT_ALLOWED = "ratio_parts_not_allowed"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    NUMBER_TOO_LARGE = "number_too_large"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    NUMERATOR_EXCEEDS_DENOMINATOR = "numerator_exceeds_denominator"
    COMMENT_TOO_LONG = "comment_too_long"
    CONTROL_CHARACTER = "control_character"
    BAD_OBSERVATION_ID = "bad_observation_id"
    DUPLICATE_SERIES = "duplicate_series"
    BATCH_REJECTED = "batch_rejected"
    MALFORMED_MESSAGE = "malformed_message"
    MISSING_SOURCE = "missing_source"
    UNKNOWN_SOURCE = "unknown_source"
    SOURCE_MISMATCH = "source_mismatch"
    INTERNAL_ERROR = "internal_error"


DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.NOT_AN_OBJECT: "The row is not an object of fields (JSON), e.g. a number or a list.",
    ErrorCode.BAD_ROW: (
        "A CSV record or sheet row has a filled cell beyond the header row's columns"
        " (wide layout: under no period)."
    ),
    ErrorCode.UNKNOWN_FIELD: "A field that is not part of the observation; check the spelling.",
    ErrorCode.RESERVED_FIELD: "`source`, `received_at` or `schema`: set by the ingest service only.",
    ErrorCode.MISSING_FIELD: "`indicator`, `area` or `period` is absent or empty.",
    ErrorCode.BAD_TYPE: "A text field (`indicator`, `area`, `period`, `comment`) is not a string.",
    ErrorCode.UNKNOWN_INDICATOR: "No indicator with this id in the catalog.",
    ErrorCode.FORBIDDEN_INDICATOR: "The indicator exists but the key's source may not report it.",
    ErrorCode.UNKNOWN_AREA: "No area with this id in the catalog.",
    ErrorCode.AREA_LEVEL_NOT_ALLOWED: "The indicator is not reported at this area's level.",
    ErrorCode.AREA_NOT_VALID: "The area is not valid on the period's last day (its tree's day).",
    ErrorCode.BAD_PERIOD: "Not a period: use 2024, 2024-T1, 2024-Q1, 2024-01, 2024-VT or 2024-HT.",
    ErrorCode.PERIOD_TYPE_MISMATCH: "The period's type differs from the indicator's period type.",
    ErrorCode.FUTURE_PERIOD: "The period starts after today.",
    ErrorCode.BAD_GENDER: "`gender` is not T, K or M.",
    ErrorCode.GENDER_NOT_ALLOWED: "The indicator is not broken down by this gender.",
    ErrorCode.BAD_STATUS: "`status` is not `preliminary` or `final`.",
    ErrorCode.BAD_BOOLEAN: "`retract` is not true/false (CSV also: 1/0, yes/no).",
    ErrorCode.BAD_NUMBER: "`value`, `numerator` or `denominator` is not a number.",
    ErrorCode.NOT_FINITE: "A number is NaN or infinite.",
    ErrorCode.MISSING_VALUE: "`value` is absent and `retract` is not true (and it cannot be computed).",
    ErrorCode.MISSING_NUMERATOR: "A ratio indicator's row lacks `numerator`.",
    ErrorCode.MISSING_DENOMINATOR: "A ratio indicator's row lacks `denominator`.",
    ErrorCode.BAD_DENOMINATOR: "`denominator` is zero or negative.",
    ErrorCode.NEGATIVE_NUMERATOR: "`numerator` is negative.",
    ErrorCode.NEGATIVE_COUNT: "A count indicator's `value` is negative.",
    ErrorCode.INCONSISTENT_VALUE: "`value` differs from scale·numerator/denominator by more than 0.05.",
    ErrorCode.RATIO_PARTS_NOT_ALLOWED: "`numerator`/`denominator` sent for a count or level indicator.",
    ErrorCode.BAD_TIMESTAMP: "`updated_at` is not an RFC 3339 time with a UTC offset.",
    ErrorCode.FUTURE_TIMESTAMP: "`updated_at` is more than five minutes ahead of the server clock.",
    ErrorCode.NUMBER_TOO_LARGE: "A number (given or computed) is beyond ±1e15, so sums could overflow.",
    ErrorCode.VALUE_OUT_OF_RANGE: "`value` is outside the indicator's `min`…`max` in the catalog.",
    ErrorCode.NUMERATOR_EXCEEDS_DENOMINATOR: "A share (unit percent or share) has numerator > denominator.",
    ErrorCode.COMMENT_TOO_LONG: "`comment` is longer than 1000 characters.",
    ErrorCode.CONTROL_CHARACTER: "A text field holds a control or bidi character (tab, newline are fine).",
    ErrorCode.BAD_OBSERVATION_ID: "`observation_id` is not a UUID.",
    ErrorCode.DUPLICATE_SERIES: "An earlier row of the same batch has the same series key.",
    ErrorCode.BATCH_REJECTED: "atomic=true and another row was rejected (row 0 says how many).",
    ErrorCode.MALFORMED_MESSAGE: "Raw topic only: the message value is not a JSON object.",
    ErrorCode.MISSING_SOURCE: "Shared development raw topic only: the message has no `source` header.",
    ErrorCode.UNKNOWN_SOURCE: "Raw topic only: the topic's suffix (or, on the shared development topic, the `source` header) names no source of the catalog.",
    ErrorCode.SOURCE_MISMATCH: "Raw topic only: the `source` header names another source than the topic it was written to; the topic decides.",
    ErrorCode.INTERNAL_ERROR: "Raw topic only: the validator failed on this message (a bug; see logs).",
}


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row (1-based; 0 = the batch as a whole) was rejected."""

    row: int
    field: str | None
    code: ErrorCode
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-native form `{row, field, code, message}`."""
        return {
            "row": self.row,
            "field": self.field,
            "code": self.code.value,
            "message": self.message,
        }


class Problem(NamedTuple):
    """One broken rule of a row or event: the field (None: the whole row), code and message."""

    field: str | None
    code: ErrorCode
    message: str


class Problems(list[Problem]):
    """Problems collected as rules run."""

    def add(self, field: str | None, code: ErrorCode, message: str) -> None:
        """Record one problem."""
        self.append(Problem(field, code, message))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A row the body parser could not read (e.g. a CSV record with too many cells)."""

    field: str | None
    code: ErrorCode
    message: str


class Errors:
    """The errors of one row, collected as the rules run."""

    __slots__ = ("items", "row")

    def __init__(self, row: int) -> None:
        self.row = row
        self.items: list[RowError] = []

    def add(self, field: str | None, code: ErrorCode, message: str) -> None:
        """Record one error."""
        self.items.append(RowError(self.row, field, code, message))
