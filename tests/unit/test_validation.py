"""One test (at least) per validation rule, each on a row that differs from a valid one in one way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.domain.observation import Observation
from shared.domain.validation import (
    DESCRIPTIONS,
    ErrorCode,
    RowError,
    Scope,
    ValidRow,
    validate_row,
)
from tests.factories import (
    INCOME,
    JOBSEEKERS,
    LABOUR,
    NOW,
    SAFETY,
    SCHOOL,
    SHARE,
    SURVEY,
    YOUTH,
    count_row,
    ingest_catalog,
    share_row,
)

CATALOG = ingest_catalog()
SCHOOL_SCOPE = Scope.of(CATALOG, SCHOOL, NOW)


def judge(raw: object, source: str = SCHOOL, *, text: bool = False) -> ValidRow | list[RowError]:
    return validate_row(raw, Scope.of(CATALOG, source, NOW), 7, text=text)


def codes(raw: object, source: str = SCHOOL, *, text: bool = False) -> set[tuple[str | None, str]]:
    outcome = judge(raw, source, text=text)
    assert isinstance(outcome, list), f"expected errors, got {outcome}"
    assert all(e.row == 7 for e in outcome)
    return {(e.field, e.code.value) for e in outcome}


def valid(raw: object, source: str = SCHOOL, *, text: bool = False) -> dict[str, Any]:
    outcome = judge(raw, source, text=text)
    assert isinstance(outcome, ValidRow), outcome
    return outcome.fields


def test_a_valid_row_is_normalised_and_keyed_by_series() -> None:
    outcome = judge(share_row(updated_at="2025-02-01T09:00:00+01:00"))
    assert isinstance(outcome, ValidRow)
    assert outcome.key == f"{SHARE}|rinkeby|2024|T"
    assert outcome.fields["updated_at"] == "2025-02-01T08:00:00Z"
    assert outcome.fields["value"] == pytest.approx(71.33)
    assert outcome.fields["numerator"] == 214.0


def test_valid_fields_make_an_observation_v1_once_the_service_adds_its_part() -> None:
    fields = valid(share_row(comment="ok", observation_id="6F9619FF-8B86-D011-B42D-00C04FC964FF"))
    event = Observation.model_validate(
        {**fields, "source": SCHOOL, "received_at": NOW.isoformat(), "schema": "observation.v1"}
    )
    assert str(event.observation_id) == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    assert event.series_key == f"{SHARE}|rinkeby|2024|T"


def test_defaults_gender_t_status_final_not_retracted() -> None:
    fields = valid(share_row(gender=None, status=None))
    assert (fields["gender"], fields["status"], fields["retract"]) == ("T", "final", False)


@pytest.mark.parametrize("raw", [[1, 2], "x", 3, None])
def test_a_row_must_be_an_object(raw: object) -> None:
    assert codes(raw) == {(None, "not_an_object")}


def test_unknown_and_reserved_fields_are_rejected() -> None:
    found = codes(share_row(valeu=3, source="x", schema="observation.v1"))
    assert found == {
        ("valeu", "unknown_field"),
        ("source", "reserved_field"),
        ("schema", "reserved_field"),
    }


@pytest.mark.parametrize("name", ["indicator", "area", "period"])
def test_required_fields(name: str) -> None:
    assert (name, "missing_field") in codes(share_row(**{name: None}))
    assert (name, "missing_field") in codes(share_row(**{name: ""}))


@pytest.mark.parametrize("name", ["indicator", "area", "period", "comment"])
def test_text_fields_must_be_strings(name: str) -> None:
    assert (name, "bad_type") in codes(share_row(**{name: 12}))


def test_unknown_indicator() -> None:
    assert codes(share_row(indicator="nope")) == {("indicator", "unknown_indicator")}


def test_forbidden_indicator_outside_the_sources_scope() -> None:
    assert codes(count_row(), SCHOOL) == {("indicator", "forbidden_indicator")}
    assert valid(count_row(), LABOUR)["value"] == 5120.0


def test_scope_includes_indicators_that_name_the_source() -> None:
    assert valid(
        {"indicator": SAFETY, "area": "rinkeby", "period": "2024-VT", "value": 3.5}, SURVEY
    )
    assert codes(
        {"indicator": SAFETY, "area": "rinkeby", "period": "2024-VT", "value": 3.5}, SCHOOL
    ) == {("indicator", "forbidden_indicator")}


def test_unknown_area() -> None:
    assert codes(share_row(area="atlantis")) == {("area", "unknown_area")}


def test_area_level_must_be_one_the_indicator_is_reported_at() -> None:
    assert codes(count_row(area="kista"), LABOUR) == {("area", "area_level_not_allowed")}


@pytest.mark.parametrize(
    "period", ["24", "2024-Q5", "2024-13", "2024-T4", "2024-ht", "2024 ", "1800"]
)
def test_bad_period(period: str) -> None:
    assert codes(share_row(period=period)) == {("period", "bad_period")}


@pytest.mark.parametrize("period", ["2024-Q1", "2024-01", "2024-T1", "2024-VT"])
def test_period_type_must_match_the_indicator(period: str) -> None:
    assert codes(share_row(period=period)) == {("period", "period_type_mismatch")}


def test_each_period_type_is_accepted_for_its_indicator() -> None:
    assert valid(
        {
            "indicator": YOUTH,
            "area": "rinkeby-kista",
            "period": "2025-T1",
            "numerator": 3,
            "denominator": 1500,
        }
    )["value"] == pytest.approx(2.0)
    assert valid(
        {"indicator": JOBSEEKERS, "area": "kista", "period": "2025-05", "value": 3}, LABOUR
    )
    assert valid(
        {
            "indicator": INCOME,
            "area": "kista",
            "period": "2025-Q2",
            "value": 3,
            "numerator": 1,
            "denominator": 2,
        },
        SURVEY,
    )


def test_a_period_starting_after_today_is_in_the_future() -> None:
    assert codes(share_row(period="2026")) == {("period", "future_period")}
    month = {"indicator": JOBSEEKERS, "area": "kista", "value": 3}
    assert valid({**month, "period": "2025-06"}, LABOUR)  # started 1 June, today is 15 June
    assert codes({**month, "period": "2025-07"}, LABOUR) == {("period", "future_period")}


def test_gender_must_be_t_k_or_m() -> None:
    assert codes(share_row(gender="X")) == {("gender", "bad_gender")}
    assert codes(share_row(gender=1)) == {("gender", "bad_gender")}


def test_gender_must_be_allowed_for_the_indicator() -> None:
    assert codes(count_row(gender="K"), LABOUR) == {("gender", "gender_not_allowed")}


def test_status() -> None:
    assert valid(share_row(status="preliminary"))["status"] == "preliminary"
    assert codes(share_row(status="draft")) == {("status", "bad_status")}


@pytest.mark.parametrize("value", ["71.3", [71.3], {"v": 1}, True])
def test_numbers_in_json_must_be_json_numbers(value: object) -> None:
    assert ("value", "bad_number") in codes(share_row(value=value))


def test_a_number_not_read_is_one_error_not_also_a_missing_one() -> None:
    assert codes(count_row(value="many"), LABOUR, text=True) == {("value", "bad_number")}
    assert codes(share_row(denominator="abc"), text=True) == {("denominator", "bad_number")}


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-Infinity"])
def test_numbers_must_be_finite(cell: str) -> None:
    assert ("value", "not_finite") in codes({**share_row(), "value": cell}, text=True)


def test_huge_integers_are_not_finite() -> None:
    assert ("value", "not_finite") in codes(count_row(value=10**400), LABOUR)


@pytest.mark.parametrize(
    ("cell", "ok"),
    [
        ("71.33", True),
        (" 7.133e1 ", True),
        ("1_000", False),
        ("0x10", False),
        ("", True),
        ("7,1", False),
    ],
)
def test_csv_number_cells(cell: str, ok: bool) -> None:
    outcome = judge({**share_row(), "value": cell}, text=True)
    assert isinstance(outcome, ValidRow) is ok, outcome


def test_value_is_required_unless_retracted() -> None:
    assert codes(count_row(value=None), LABOUR) == {("value", "missing_value")}
    fields = valid(count_row(value=None, retract=True), LABOUR)
    assert fields["retract"] is True
    assert "value" not in fields


def test_retract_must_be_boolean() -> None:
    assert codes(share_row(retract="yes")) == {("retract", "bad_boolean")}
    assert valid(
        {**share_row(value=None, numerator=None, denominator=None), "retract": "yes"}, text=True
    )


def test_ratio_needs_numerator_and_denominator() -> None:
    assert codes(share_row(numerator=None)) == {("numerator", "missing_numerator")}
    assert codes(share_row(denominator=None, value=None)) == {
        ("denominator", "missing_denominator")
    }


def test_ratio_parts_must_be_sane() -> None:
    assert ("denominator", "bad_denominator") in codes(share_row(denominator=0))
    assert ("numerator", "negative_numerator") in codes(share_row(numerator=-1, value=-0.33))


def test_percent_value_must_match_numerator_over_denominator() -> None:
    assert valid(share_row(value=71.38))  # 71.333… within 0.05
    assert codes(share_row(value=71.39)) == {("value", "inconsistent_value")}


def test_percent_value_is_computed_when_absent() -> None:
    assert valid(share_row(value=None))["value"] == pytest.approx(100 * 214 / 300)


def test_ratio_of_unscaled_unit_requires_the_value() -> None:
    row = {
        "indicator": INCOME,
        "area": "kista",
        "period": "2025-Q1",
        "numerator": 1,
        "denominator": 2,
    }
    assert codes(row, SURVEY) == {("value", "missing_value")}


def test_retracted_ratio_needs_no_parts() -> None:
    assert valid(share_row(value=None, numerator=None, denominator=None, retract=True))


def test_counts_are_non_negative_and_take_no_ratio_parts() -> None:
    assert codes(count_row(value=-1), LABOUR) == {("value", "negative_count")}
    assert codes(count_row(numerator=1, denominator=2), LABOUR) == {
        ("numerator", "ratio_parts_not_allowed"),
        ("denominator", "ratio_parts_not_allowed"),
    }


def test_levels_may_be_negative() -> None:
    assert valid(
        {"indicator": SAFETY, "area": "rinkeby", "period": "2024-HT", "value": -2.5}, SURVEY
    )


@pytest.mark.parametrize(
    "stamp", ["2025-02-01", "2025-02-01T08:00:00", "yesterday", "2025-02-01T08:00Z", 5]
)
def test_updated_at_must_be_rfc3339_with_offset(stamp: object) -> None:
    assert codes(share_row(updated_at=stamp)) == {("updated_at", "bad_timestamp")}


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-W05-6T08:00:00Z",  # an ISO week date
        "2025-02-01T08:00:00+0100",  # offset without its colon
        "2025-02-01T08:00:00+01",
        "2025-02-01T08:00:00+01:00:30",
        "٢٠٢٥-02-01T08:00:00Z",  # Arabic-Indic digits
        "2025-02-30T08:00:00Z",
        "2025-02-01T24:00:00Z",
    ],
)
def test_updated_at_is_rfc3339_not_any_iso_8601(stamp: str) -> None:
    assert codes(share_row(updated_at=stamp)) == {("updated_at", "bad_timestamp")}


@pytest.mark.parametrize(
    ("stamp", "stored"),
    [
        ("2025-02-01t08:00:00z", "2025-02-01T08:00:00Z"),  # RFC 3339 allows lower case
        ("2025-02-01 09:00:00+01:00", "2025-02-01T08:00:00Z"),  # and a space (its note)
        ("2025-02-01T08:00:00.25-00:30", "2025-02-01T08:30:00.250000Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ],
)
def test_updated_at_is_stored_in_utc(stamp: str, stored: str) -> None:
    assert valid(share_row(updated_at=stamp))["updated_at"] == stored


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]
)
def test_updated_at_before_1970_is_refused_naming_the_field(stamp: str) -> None:
    # the first of these lies before year 1 in UTC: converting it overflowed into a 500
    outcome = judge(share_row(updated_at=stamp), SCHOOL)
    assert isinstance(outcome, list)
    [error] = outcome
    assert (error.field, error.code.value) == ("updated_at", "bad_timestamp")
    assert "1970" in error.message


def test_updated_at_may_not_be_in_the_future_beyond_clock_skew() -> None:
    assert valid(share_row(updated_at=(NOW + timedelta(minutes=4)).isoformat()))
    ahead = (NOW + timedelta(minutes=6)).isoformat()
    assert codes(share_row(updated_at=ahead)) == {("updated_at", "future_timestamp")}


def test_comment_length() -> None:
    assert valid(share_row(comment="å" * 1000))["comment"] == "å" * 1000
    assert codes(share_row(comment="x" * 1001)) == {("comment", "comment_too_long")}


def test_observation_id_must_be_a_uuid() -> None:
    assert codes(share_row(observation_id="42")) == {("observation_id", "bad_observation_id")}


def test_every_error_of_a_row_is_reported() -> None:
    found = codes({"indicator": SHARE, "area": "nowhere", "period": "2030", "gender": "Q", "x": 1})
    assert {
        ("area", "unknown_area"),
        ("period", "future_period"),
        ("gender", "bad_gender"),
        ("x", "unknown_field"),
    } <= found


def test_every_code_is_documented() -> None:
    assert set(DESCRIPTIONS) == set(ErrorCode)


def test_every_code_is_in_the_ingest_docs() -> None:
    from pathlib import Path

    from services.ingest.schemas import PROBLEM_CODES

    text = (Path(__file__).parents[2] / "docs" / "ingest.md").read_text()
    for code in [*(c.value for c in ErrorCode), *PROBLEM_CODES]:
        assert f"`{code}`" in text, code
