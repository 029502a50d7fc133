"""Ingest and aggregate judge with one rule set: what ingest accepts the aggregator applies, with
finite numbers only, and what a rogue producer writes to the canonical topic is refused for the
reasons ingest would have given."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.aggregate.writer import _apply
from shared.domain.catalog import Kind
from shared.domain.event import event_of
from shared.domain.observation import Observation
from shared.domain.rollup import (
    InvalidObservationError,
    RollupEngine,
    SeriesId,
    SeriesState,
    visible,
)
from shared.domain.validation import (
    MAX_MAGNITUDE,
    Scope,
    ValidRow,
    allowed_indicators,
    iso_utc,
    validate_batch,
)
from shared.domain.validation import validate_row as ingest
from tests.factories import (
    LABOUR,
    MERIT,
    NOW,
    SCHOOL,
    SHARE,
    SURVEY,
    YOUTH,
    count_row,
    ingest_catalog,
    share_row,
)
from tests.strategies import AREAS, CITY, COUNT, RATE, observation, raw_rows
from tests.strategies import CATALOG as TREE

CATALOG = ingest_catalog()
ENGINE = RollupEngine(CATALOG)
SOURCES = (SCHOOL, LABOUR, SURVEY)
SCOPED = {s: tuple(sorted(allowed_indicators(CATALOG, s))) for s in SOURCES}
_NUMBERS = (
    "sum_numerator",
    "sum_denominator",
    "sum_value",
    "reported_value",
    "reported_numerator",
    "reported_denominator",
)


def published(row: ValidRow, source: str) -> Observation:
    """The event ingest would publish for an accepted row, as the aggregator decodes it."""
    event = event_of(row, source, iso_utc(NOW), str(uuid4()))
    return Observation.model_validate_json(orjson.dumps(event))


def assert_finite(rows: dict[SeriesId, SeriesState]) -> None:
    for row in rows.values():
        for name in _NUMBERS:
            number = getattr(row, name)
            assert number is None or math.isfinite(number), (row.id, name, number)
        ind = CATALOG.indicator[row.indicator]
        shown = visible(ind, row)
        for number in (shown.value, shown.numerator, shown.denominator, shown.computed_value):
            assert number is None or math.isfinite(number), (row.id, shown)
        if row.n_reporting > 0 and ind.kind is not Kind.LEVEL:
            assert shown.computed_value is not None, row  # a rollup is never served as null


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[dict[str, object]]]:
    source = draw(st.sampled_from(SOURCES))
    return source, draw(st.lists(raw_rows(CATALOG, SCOPED[source]), min_size=1, max_size=12))


@settings(max_examples=500, deadline=None)
@given(st.lists(batches(), min_size=1, max_size=4))
def test_what_ingest_accepts_the_aggregator_applies_with_finite_numbers(
    sent: list[tuple[str, list[dict[str, object]]]],
) -> None:
    rows: dict[SeriesId, SeriesState] = {}
    for source, batch in sent:
        result = validate_batch(batch, Scope.of(CATALOG, source, NOW))
        for accepted in result.valid:
            obs = published(accepted, source)
            assert ENGINE.check(obs) is CATALOG.indicator[obs.indicator]
            ENGINE.apply(rows, obs)
    assert_finite(rows)


def test_the_issues_overflowing_row_never_reaches_the_canonical_topic() -> None:
    raw = {
        "indicator": SHARE,
        "area": "kista",
        "period": "2024",
        "numerator": 1e307,
        "denominator": 1,
    }
    assert not isinstance(ingest(raw, Scope.of(CATALOG, SCHOOL, NOW), 1), ValidRow)


def rogue(raw: dict[str, Any], source: str) -> Observation:
    """An event written straight to the canonical topic, without ingest's judgement."""
    return Observation.model_validate(
        {**raw, "observation_id": uuid4(), "source": source, "received_at": NOW, "updated_at": NOW}
    )


ROGUES: list[tuple[dict[str, Any], str]] = [
    (share_row(numerator=1e307, denominator=1, value=None), SCHOOL),
    (share_row(numerator=600, denominator=300, value=200), SCHOOL),
    (share_row(numerator=300, denominator=300, value=100.04), SCHOOL),
    (share_row(numerator=214, denominator=300, value=80), SCHOOL),
    (share_row(numerator=-1, denominator=0, value=1), SCHOOL),
    (share_row(numerator=None), SCHOOL),
    (share_row(comment="\x1b[31mred"), SCHOOL),
    (share_row(comment="\u202eevil"), SCHOOL),
    (share_row(comment="x" * 1001), SCHOOL),
    (share_row(area="atlantis"), SCHOOL),
    (share_row(period="2024-Q1"), SCHOOL),
    (share_row(period="24"), SCHOOL),
    (
        {
            "indicator": YOUTH,
            "area": "kista",
            "period": "2024-T1",
            "numerator": 1,
            "value": 2,
            "denominator": 1e-300,
        },
        SCHOOL,
    ),
    ({"indicator": MERIT, "area": "kista", "period": "2024", "value": 1e300}, SCHOOL),
    ({"indicator": MERIT, "area": "kista", "period": "2024", "value": -1}, SCHOOL),
    (count_row(value=-1), LABOUR),
    (count_row(gender="K"), LABOUR),
    (count_row(area="kista"), LABOUR),
    (count_row(numerator=1, denominator=2), LABOUR),
    ({**count_row(), "indicator": "nope"}, LABOUR),
]


@pytest.mark.parametrize(("raw", "source"), ROGUES)
def test_a_rogue_event_is_refused_for_the_reasons_ingest_gives(
    raw: dict[str, Any], source: str
) -> None:
    outcome = ingest(raw, Scope.of(CATALOG, source, NOW), 1, fast=False)
    assert isinstance(outcome, list)
    with pytest.raises(InvalidObservationError) as refused:
        ENGINE.check(rogue(raw, source))
    by_ingest = {(e.field, e.code, e.message) for e in outcome}
    assert set(refused.value.problems) == by_ingest


def test_a_rogue_event_leaves_the_rollups_untouched() -> None:
    rows: dict[SeriesId, SeriesState] = {}
    ENGINE.apply(rows, rogue(share_row(area="kista"), SCHOOL))
    before = {key: vars(row).copy() for key, row in rows.items()}
    for raw in (
        share_row(area="rinkeby", numerator=1e300, denominator=1e300, value=100),
        share_row(area="rinkeby", numerator=9e307, denominator=9e307, value=100),
    ):
        with pytest.raises(InvalidObservationError):
            ENGINE.apply(rows, rogue(raw, SCHOOL))
    assert {key: vars(row) for key, row in rows.items()} == before
    assert_finite(rows)


def test_a_canonical_event_needs_the_value_ingest_computes() -> None:
    with pytest.raises(InvalidObservationError) as refused:
        ENGINE.check(rogue(share_row(value=None), SCHOOL))
    assert [(p.field, p.code.value) for p in refused.value.problems] == [("value", "missing_value")]


def test_the_writer_dead_letters_a_rogue_event_with_the_codes_as_json() -> None:
    store = SimpleNamespace(rollup=ENGINE)  # every event refused: the store is never written
    value = rogue(share_row(numerator=600, denominator=300, value=200), SCHOOL).to_json()
    applied = _apply(store, [value, b"not json"], {})
    (first, error), (second, _) = applied.outcomes
    assert (first, second) == ("invalid", "malformed")
    assert [(e["field"], e["code"]) for e in orjson.loads(error or "")] == [
        ("numerator", "numerator_exceeds_denominator"),
        ("value", "value_out_of_range"),
    ]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("field", ["value", "numerator", "denominator"])
def test_a_rogue_event_with_a_number_that_is_not_finite_is_dead_lettered_naming_it(
    field: str, number: str
) -> None:
    store = SimpleNamespace(rollup=ENGINE)
    good = orjson.loads(rogue(share_row(numerator=60, denominator=300, value=20), SCHOOL).to_json())
    text = orjson.dumps(good).decode().replace(f'"{field}":{good[field]}', f'"{field}":{number}')
    assert number in text  # the number replaced is in the event sent
    applied = _apply(store, [text.encode()], {})
    assert applied.outcomes == [("malformed", f"{field}: Input should be a finite number")]


def test_the_engine_checks_texts_the_row_rules_never_see() -> None:
    obs = rogue(share_row(), "evil\x1b[2J")
    with pytest.raises(InvalidObservationError) as refused:
        ENGINE.check(obs)
    assert [(p.field, p.code.value) for p in refused.value.problems] == [
        ("source", "control_character")
    ]
    assert "control_character: source holds the control character U+001B" in str(refused.value)


def test_the_largest_numbers_everywhere_in_the_tree_still_sum_to_finite_rollups() -> None:
    engine, rows = RollupEngine(TREE), dict[SeriesId, SeriesState]()
    for area in AREAS:  # every area reports, parents too: each contributes to up to three sums
        engine.apply(rows, observation(COUNT, area, "2024", value=MAX_MAGNITUDE))
        engine.apply(
            rows,
            observation(RATE, area, "2024", numerator=MAX_MAGNITUDE, denominator=MAX_MAGNITUDE),
        )
    for row in rows.values():
        for name in _NUMBERS:
            number = getattr(row, name)
            assert number is None or math.isfinite(number), (row.id, name)
        shown = visible(TREE.indicator[row.indicator], row)
        assert shown.computed_value is None or math.isfinite(shown.computed_value)
    city = rows[(COUNT, CITY, "2024", "T")]
    assert city.sum_value == MAX_MAGNITUDE * len(TREE.children[CITY])
