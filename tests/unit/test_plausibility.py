"""The number rules: shares are parts of a whole, values keep to the catalog's bounds, no number
is so large that sums of it could overflow — the issue's examples on the shipped catalog first."""

from __future__ import annotations

from typing import Any

import pytest

from shared.catalog import default_catalog
from shared.domain.catalog import Indikator
from shared.domain.validation import RowError, Scope, ValidRow, validate_row
from shared.domain.validation.plausibility import MAX_MAGNITUDE, judge_numbers
from tests.factories import INCOME, LABOUR, MERIT, NOW, SCHOOL, SURVEY, YOUTH, count_row, share_row
from tests.factories import ingest_catalog as small

STOCKHOLM = default_catalog()
SCHOOL_ROW = {"indicator": "behorighet-gymnasiet-ak9", "area": "husby", "period": "2024"}


def judge(
    raw: dict[str, Any], source: str = SCHOOL, *, catalog: Any = STOCKHOLM, text: bool = False
) -> ValidRow | list[RowError]:
    return validate_row(raw, Scope.of(catalog, source, NOW), 1, text=text)


def errors(
    raw: dict[str, Any], source: str = SCHOOL, **kw: Any
) -> dict[tuple[str | None, str], str]:
    outcome = judge(raw, source, **kw)
    assert isinstance(outcome, list), f"expected errors, got {outcome}"
    return {(e.field, e.code.value): e.message for e in outcome}


def test_a_numerator_of_1e307_is_refused_before_its_value_overflows() -> None:
    found = errors({**SCHOOL_ROW, "numerator": 1e307, "denominator": 1})
    assert set(found) == {
        ("numerator", "number_too_large"),
        ("numerator", "numerator_exceeds_denominator"),
    }
    assert "numerator 1e+307" in found[("numerator", "number_too_large")]
    assert "1e+15" in found[("numerator", "number_too_large")]


def test_a_share_of_600_in_300_is_refused() -> None:
    found = errors({**SCHOOL_ROW, "numerator": 600, "denominator": 300})
    message = found[("numerator", "numerator_exceeds_denominator")]
    assert "600" in message
    assert "300" in message
    assert "percent" in message
    assert found[("value", "value_out_of_range")] == (
        "value 200 is above the maximum 100 of 'behorighet-gymnasiet-ak9'"
    )


def test_a_value_just_above_the_maximum_is_shown_with_the_digits_that_make_it_so() -> None:
    found = errors({**SCHOOL_ROW, "area": "stockholm", "value": 100.00001})
    message = found[("value", "value_out_of_range")]
    assert message.startswith("value 100.00001 is above the maximum 100 ")  # not "100 … 100"


def test_a_whole_share_is_plausible() -> None:
    outcome = judge({**SCHOOL_ROW, "numerator": 300, "denominator": 300})
    assert isinstance(outcome, ValidRow)
    assert outcome.fields["value"] == 100.0


def test_a_value_within_tolerance_is_still_held_to_the_bounds() -> None:
    found = errors({**SCHOOL_ROW, "numerator": 300, "denominator": 300, "value": 100.04})
    assert set(found) == {("value", "value_out_of_range")}


@pytest.mark.parametrize("value", [1e300, -1e300])
def test_meritvarde_of_1e300_is_refused(value: float) -> None:
    row = {"indicator": "meritvarde-ak9", "area": "husby", "period": "2024", "value": value}
    found = errors(row)
    assert set(found) == {("value", "number_too_large")}
    assert f"value {value:g}" in found[("value", "number_too_large")]


@pytest.mark.parametrize(("value", "ok"), [(0, True), (340, True), (340.5, False), (-0.1, False)])
def test_meritvarde_keeps_to_0_to_340(value: float, ok: bool) -> None:
    outcome = judge(
        {"indicator": "meritvarde-ak9", "area": "husby", "period": "2024", "value": value}
    )
    assert isinstance(outcome, ValidRow) is ok
    if not ok:
        assert isinstance(outcome, list)
        assert [(e.field, e.code.value) for e in outcome] == [("value", "value_out_of_range")]
        assert ("minimum 0" if value < 0 else "maximum 340") in outcome[0].message


def test_the_csv_path_follows_the_same_rules() -> None:
    found = errors({**SCHOOL_ROW, "numerator": "1e307", "denominator": "1"}, text=True)
    assert ("numerator", "number_too_large") in found
    row = {"indicator": MERIT, "area": "kista", "period": "2024", "value": "341"}
    assert set(errors(row, catalog=small(), text=True)) == {("value", "value_out_of_range")}


def test_a_tiny_denominator_cannot_make_a_huge_value() -> None:
    row = {
        "indicator": YOUTH,
        "area": "rinkeby-kista",
        "period": "2025-T1",
        "numerator": 1,
        "denominator": 1e-300,
    }
    found = errors(row, catalog=small())
    assert set(found) == {("denominator", "number_too_large")}
    assert "1000·numerator/denominator" in found[("denominator", "number_too_large")]
    unscaled = {
        "indicator": INCOME,
        "area": "kista",
        "period": "2025-Q1",
        "value": 3,
        "numerator": 1e15,
        "denominator": 1e-3,
    }
    assert set(errors(unscaled, SURVEY, catalog=small())) == {("denominator", "number_too_large")}


def test_the_bound_itself_is_plausible() -> None:
    row = {**count_row(value=MAX_MAGNITUDE)}
    assert isinstance(judge(row, LABOUR, catalog=small()), ValidRow)
    found = errors(count_row(value=MAX_MAGNITUDE * 1.0001), LABOUR, catalog=small())
    assert set(found) == {("value", "number_too_large")}


def test_counts_keep_their_own_code_for_negatives() -> None:
    assert set(errors(count_row(value=-1), LABOUR, catalog=small())) == {
        ("value", "negative_count")
    }


def test_a_retraction_is_checked_for_size_and_sign_only() -> None:
    retract = share_row(value=None, numerator=600, denominator=300, retract=True)
    assert isinstance(judge(retract, catalog=small()), ValidRow)
    huge = share_row(value=None, numerator=1e16, denominator=300, retract=True)
    assert set(errors(huge, catalog=small())) == {("numerator", "number_too_large")}


def _share(unit: str, **bounds: float) -> Indikator:
    return Indikator.model_validate(
        {
            "id": "andel",
            "name": "Andel",
            "unit": unit,
            "kind": "ratio",
            "direction": "increase",
            "period_type": "year",
            "area_levels": ["stad"],
            "cadence": {"months": 12},
            **bounds,
        }
    )


def test_unit_share_is_a_share_of_scale_one() -> None:
    ind = _share("share")
    assert judge_numbers(ind, None, 3, 4, False) == (0.75, [])
    value, problems = judge_numbers(ind, None, 5, 4, False)
    assert value == 1.25
    assert [p.code.value for p in problems] == [
        "numerator_exceeds_denominator",
        "value_out_of_range",
    ]
    assert "maximum 1 " in problems[1].message


def test_a_share_may_be_narrower_than_its_whole() -> None:
    ind = _share("percent", min=10, max=90)
    assert judge_numbers(ind, None, 1, 2, False) == (50.0, [])
    _, problems = judge_numbers(ind, None, 19, 20, False)
    assert [(p.field, p.code.value) for p in problems] == [("value", "value_out_of_range")]
    assert "maximum 90" in problems[0].message


def test_a_rate_that_is_not_a_share_may_exceed_its_denominator() -> None:
    row = {
        "indicator": YOUTH,
        "area": "rinkeby-kista",
        "period": "2025-T1",
        "numerator": 3,
        "denominator": 2,
    }
    outcome = judge(row, catalog=small())
    assert isinstance(outcome, ValidRow)
    assert outcome.fields["value"] == 1500.0


def test_every_shipped_indicator_is_bounded() -> None:
    for ind in STOCKHOLM.indikatorer:
        assert ind.min is not None, ind.id
        assert ind.max is not None, ind.id
        if ind.is_share:
            assert (ind.min, ind.max) == (0, 100), ind.id
    assert STOCKHOLM.indicator["meritvarde-ak9"].bounds == (0, 340)
