"""Property tests: the streaming rollup engine ends where the plain-loop oracle does, in any order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.catalog import Catalog, Kind
from shared.domain.observation import Observation
from shared.domain.rollup import (
    InvalidObservationError,
    Outcome,
    RollupEngine,
    SeriesId,
    SeriesState,
    visible,
)
from tests.oracle import OracleRow, close, oracle_rows, version
from tests.strategies import CATALOG, GROUPS, REORGANISED, observation, streams, valid_areas

SETTINGS = settings(max_examples=200, deadline=None)


def run(
    events: Iterable[Observation], catalog: Catalog = CATALOG
) -> tuple[dict[SeriesId, SeriesState], list[Outcome]]:
    """Apply events in order through a fresh engine into a dict."""
    engine, rows = RollupEngine(catalog), dict[SeriesId, SeriesState]()
    outcomes = [engine.apply(rows, obs) for obs in events]
    return rows, outcomes


def mismatches(rows: dict[SeriesId, SeriesState], expected: dict[SeriesId, OracleRow]) -> list[str]:
    """Every difference between the engine's rows and the oracle's, as readable lines."""
    problems = [
        f"{key}: engine row the oracle does not know" for key in rows if key not in expected
    ]
    for key, want in expected.items():
        row = rows.get(key)
        if row is None:  # never touched: fine as long as there is nothing to show
            if want.value is not None or want.winner is not None:
                problems.append(f"{key}: missing in the engine, oracle has {want}")
            continue
        got = visible(CATALOG.indicator[key[0]], row)
        origin = got.origin.value if got.origin is not None else None
        pairs = {
            "value": (got.value, want.value),
            "numerator": (got.numerator, want.numerator),
            "denominator": (got.denominator, want.denominator),
            "computed_value": (got.computed_value, want.computed_value),
            "coverage": (got.coverage, want.coverage),
        }
        problems += [
            f"{key}.{f}: engine {g} != oracle {w}" for f, (g, w) in pairs.items() if not close(g, w)
        ]
        for name, g2, w2 in (
            ("origin", origin, want.origin),
            ("winner", row.observation_id, want.winner),
            ("retracted", row.retracted, want.retracted),
            ("preliminary", got.preliminary, want.preliminary),
        ):
            if g2 != w2:
                problems.append(f"{key}.{name}: engine {g2} != oracle {w2}")
    return problems


def expected_outcomes(events: list[Observation]) -> list[Outcome]:
    """Outcomes from a running maximum per series: newer applies, equal repeats, older loses."""
    best: dict[tuple[str, str, str, str], tuple[datetime, str]] = {}
    outcomes = []
    for obs in events:
        key = (obs.indicator, obs.area, obs.period, obs.gender.value)
        current = best.get(key)
        if current is None or version(obs) > current:
            best[key] = version(obs)
            outcomes.append(Outcome.APPLIED)
        else:
            outcomes.append(Outcome.DUPLICATE if version(obs) == current else Outcome.SUPERSEDED)
    return outcomes


@SETTINGS
@given(streams())
def test_engine_equals_oracle(events: list[Observation]) -> None:
    rows, _ = run(events)
    assert mismatches(rows, oracle_rows(CATALOG, events)) == []


@settings(max_examples=40, deadline=None)
@given(streams(min_events=60, max_events=150))
def test_long_histories_equal_the_oracle(events: list[Observation]) -> None:
    rows, _ = run(events)
    assert mismatches(rows, oracle_rows(CATALOG, events)) == []


@SETTINGS
@given(streams(), st.data())
def test_any_order_gives_the_same_rows(events: list[Observation], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(events))
    first, _ = run(events)
    second, _ = run(shuffled)
    assert mismatches(second, oracle_rows(CATALOG, events)) == []
    assert mismatches(first, oracle_rows(CATALOG, shuffled)) == []


@SETTINGS
@given(streams())
def test_repeating_every_event_changes_nothing(events: list[Observation]) -> None:
    engine = RollupEngine(CATALOG)
    rows: dict[SeriesId, SeriesState] = {}
    for obs in events:
        engine.apply(rows, obs)
    snapshot = {key: SeriesState(**vars(row)) for key, row in rows.items()}
    again = [engine.apply(rows, obs) for obs in events]
    assert rows == snapshot
    assert Outcome.APPLIED not in again


@SETTINGS
@given(streams())
def test_outcomes_follow_the_version_order(events: list[Observation]) -> None:
    _, outcomes = run(events)
    assert outcomes == expected_outcomes(events)
    assert outcomes.count(Outcome.APPLIED) >= len({o.series_key for o in events})


class OnlyKeys(MutableMapping[SeriesId, SeriesState]):
    """A row mapping that refuses any key the engine did not name in `keys_for`."""

    def __init__(self, rows: dict[SeriesId, SeriesState], allowed: set[SeriesId]) -> None:
        self.rows, self.allowed = rows, allowed

    def _check(self, key: SeriesId) -> None:
        assert key in self.allowed, f"engine touched {key} outside keys_for"

    def __getitem__(self, key: SeriesId) -> SeriesState:
        self._check(key)
        return self.rows[key]

    def __setitem__(self, key: SeriesId, row: SeriesState) -> None:
        self._check(key)
        self.rows[key] = row

    def __delitem__(self, key: SeriesId) -> None:
        self._check(key)
        del self.rows[key]

    def __iter__(self) -> Iterator[SeriesId]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@SETTINGS
@given(streams())
def test_engine_touches_only_the_rows_keys_for_names(events: list[Observation]) -> None:
    engine = RollupEngine(CATALOG)
    rows: dict[SeriesId, SeriesState] = {}
    for obs in events:
        allowed = set(engine.keys_for(obs.indicator, obs.area, obs.period, obs.gender.value))
        engine.apply(OnlyKeys(rows, allowed), obs)
    assert mismatches(rows, oracle_rows(CATALOG, events)) == []


# --- A reorganised tree: each period rolls up in the tree of its last day ------------------------


@SETTINGS
@given(streams(catalog=REORGANISED))
def test_reorganised_tree_equals_the_oracle(events: list[Observation]) -> None:
    rows, _ = run(events, REORGANISED)
    assert mismatches(rows, oracle_rows(REORGANISED, events)) == []


@SETTINGS
@given(streams(catalog=REORGANISED), st.data())
def test_reorganised_tree_in_any_order(events: list[Observation], data: st.DataObject) -> None:
    rows, _ = run(data.draw(st.permutations(events)), REORGANISED)
    assert mismatches(rows, oracle_rows(REORGANISED, events)) == []


@SETTINGS
@given(streams(catalog=REORGANISED))
def test_reorganised_engine_touches_only_keys_for(events: list[Observation]) -> None:
    engine = RollupEngine(REORGANISED)
    rows: dict[SeriesId, SeriesState] = {}
    for obs in events:
        allowed = set(engine.keys_for(obs.indicator, obs.area, obs.period, obs.gender.value))
        engine.apply(OnlyKeys(rows, allowed), obs)
    assert mismatches(rows, oracle_rows(REORGANISED, events)) == []


@pytest.mark.parametrize(("indicator", "period", "gender"), GROUPS)
def test_an_area_outside_its_periods_tree_is_refused(
    indicator: str, period: str, gender: str
) -> None:
    invalid = sorted({a.id for a in REORGANISED.omraden} - set(valid_areas(REORGANISED, period)))
    assert invalid  # every period has an area that is not valid on its last day
    ratio = REORGANISED.indicator[indicator].kind is Kind.RATIO
    numbers = {"numerator": 1, "denominator": 2} if ratio else {"value": 1.0}
    for area in invalid:
        obs = observation(indicator, area, period, gender=gender, **numbers)
        with pytest.raises(InvalidObservationError) as caught:
            RollupEngine(REORGANISED).apply({}, obs)
        assert [p.code.value for p in caught.value.problems] == ["area_not_valid"]
