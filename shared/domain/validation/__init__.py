"""Validation of observation rows against the catalog: the one judge every ingest path calls.

The HTTP endpoint (JSON and CSV) and the Kafka raw-topic validator both use `validate_batch` /
`validate_row`; the aggregator checks decoded events with `judge_event`, made of the same rules.
A rejected row is data — `RowError(row, field, code, message)` with a stable `ErrorCode` — never
an exception. Pure: no I/O; the clock comes in through `Scope`.
"""

from shared.domain.validation.batch import Judgement, validate_batch
from shared.domain.validation.cells import CLOCK_SKEW, EARLIEST, iso_utc
from shared.domain.validation.codes import (
    DESCRIPTIONS,
    ErrorCode,
    Problem,
    Problems,
    RowError,
    Unreadable,
)
from shared.domain.validation.event import judge_event
from shared.domain.validation.plausibility import MAX_MAGNITUDE, judge_numbers
from shared.domain.validation.rules import validate_row
from shared.domain.validation.scope import (
    FIELDS,
    RATIO_SCALE,
    RATIO_TOLERANCE,
    RESERVED,
    Scope,
    Scopes,
    ValidRow,
    allowed_indicators,
)

__all__ = [
    "CLOCK_SKEW",
    "DESCRIPTIONS",
    "EARLIEST",
    "FIELDS",
    "MAX_MAGNITUDE",
    "RATIO_SCALE",
    "RATIO_TOLERANCE",
    "RESERVED",
    "ErrorCode",
    "Judgement",
    "Problem",
    "Problems",
    "RowError",
    "Scope",
    "Scopes",
    "Unreadable",
    "ValidRow",
    "allowed_indicators",
    "iso_utc",
    "judge_event",
    "judge_numbers",
    "validate_batch",
    "validate_row",
]
