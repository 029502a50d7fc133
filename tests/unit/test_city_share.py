"""A ratio's value without numerator and denominator: accepted for the city alone (decided in
`shared.domain.validation.plausibility.needs_parts`), by ingest and the aggregator alike."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.observation import Observation
from shared.domain.rollup import Origin, RollupEngine, SeriesState, visible
from shared.domain.validation import ErrorCode, Scope, ValidRow, judge_event, validate_row
from tests.factories import CITY, NOW, SCHOOL, SHARE, ingest_catalog, share_row

CATALOG = ingest_catalog()


def judge(**overrides: object) -> ValidRow | list[tuple[str | None, str]]:
    outcome = validate_row(share_row(**overrides), Scope.of(CATALOG, SCHOOL, NOW), 1)
    return outcome if isinstance(outcome, ValidRow) else [(e.field, e.code.value) for e in outcome]


def test_the_city_may_report_a_share_without_its_parts() -> None:
    outcome = judge(area=CITY, value=86.9, numerator=None, denominator=None)
    assert isinstance(outcome, ValidRow)
    assert outcome.fields["value"] == 86.9
    assert "numerator" not in outcome.fields


def test_a_stadsdel_or_stadsdelsomrade_share_still_needs_its_parts() -> None:
    for area in ("rinkeby", "rinkeby-kista"):
        assert set(judge(area=area, numerator=None, denominator=None)) == {  # type: ignore[arg-type]
            ("numerator", ErrorCode.MISSING_NUMERATOR.value),
            ("denominator", ErrorCode.MISSING_DENOMINATOR.value),
        }


def test_the_city_still_needs_a_value_and_both_parts_when_it_sends_one() -> None:
    assert judge(area=CITY, value=None, numerator=None, denominator=None) != []
    assert ("denominator", "missing_denominator") in judge(area=CITY, denominator=None)  # type: ignore[operator]
    assert ("value", "value_out_of_range") in judge(
        area=CITY, value=101.0, numerator=None, denominator=None
    )  # type: ignore[operator]


def event(area: str, value: float, oid: str, **parts: float) -> Observation:
    return Observation.model_validate(
        {
            "observation_id": oid,
            "source": "kolada",
            "indicator": SHARE,
            "area": area,
            "period": "2024",
            "value": value,
            "received_at": datetime(2025, 1, 1, tzinfo=UTC),
            "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
            **parts,
        }
    )


def test_the_aggregator_applies_the_city_s_bare_share_and_it_beats_the_computed_one() -> None:
    city = event(CITY, 86.9, "00000000-0000-4000-8000-000000000001")
    assert judge_event(CATALOG, city) == []
    bare_child = event("rinkeby", 70.0, "00000000-0000-4000-8000-000000000002")
    assert {p.code for p in judge_event(CATALOG, bare_child)} == {
        ErrorCode.MISSING_NUMERATOR,
        ErrorCode.MISSING_DENOMINATOR,
    }
    engine, rows = RollupEngine(CATALOG), dict[tuple[str, str, str, str], SeriesState]()
    child = event(
        "rinkeby", 70.0, "00000000-0000-4000-8000-000000000003", numerator=70, denominator=100
    )
    engine.apply(rows, child)
    engine.apply(rows, city)
    shown = visible(CATALOG.indicator[SHARE], rows[(SHARE, CITY, "2024", "T")])
    assert (shown.value, shown.origin, shown.computed_value) == (86.9, Origin.REPORTED, 70.0)
