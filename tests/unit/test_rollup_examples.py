"""Hand-worked rollup examples, checked against both the engine and the oracle."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from shared.domain.observation import Observation
from shared.domain.rollup import (
    Origin,
    Outcome,
    RollupEngine,
    SeriesId,
    SeriesState,
    Visible,
    arrival,
    visible,
)
from tests.oracle import close, oracle_rows
from tests.strategies import BASE_TIME, CATALOG, CITY, COUNT, LEVEL, RATE, SHARE, observation

T0 = BASE_TIME
LATER = BASE_TIME + timedelta(hours=1)


def shown(events: list[Observation], area: str, indicator: str = SHARE) -> Visible:
    """The engine's visible row for `area` after all events; the oracle must agree."""
    engine, rows = RollupEngine(CATALOG), dict[SeriesId, SeriesState]()
    for obs in events:
        engine.apply(rows, obs)
    key = (indicator, area, events[0].period, "T")
    got = visible(CATALOG.indicator[indicator], rows[key])
    want = oracle_rows(CATALOG, events)[key]
    assert close(got.value, want.value)
    assert close(got.coverage, want.coverage)
    assert got.origin == (Origin(want.origin) if want.origin else None)
    return got


def share(area: str, num: float, den: float, **kw: object) -> Observation:
    return observation(SHARE, area, "2024", numerator=num, denominator=den, **kw)  # type: ignore[arg-type]


def test_a_parent_share_is_the_sum_of_numerators_over_the_sum_of_denominators() -> None:
    events = [share("rinkeby", 30, 100), share("kista", 10, 300)]
    parent = shown(events, "rinkeby-kista")
    # 40/400 = 10 %, not the mean of 30 % and 3.33 % (16.7 %)
    assert parent == Visible(10.0, 40.0, 400.0, Origin.COMPUTED, 10.0, 2 / 3)
    assert shown(events, CITY) == Visible(10.0, 40.0, 400.0, Origin.COMPUTED, 10.0, 0.25)
    assert shown(events, "ytterstaden").coverage == 0.5
    assert shown(events, "fokusomraden").value == 10.0


def test_a_plain_number_ratio_is_not_scaled() -> None:
    events = [
        observation(RATE, "hogalid", "2024", numerator=3, denominator=1000),
        observation(RATE, "katarina", "2024", numerator=5, denominator=1000),
    ]
    assert shown(events, "sodermalm", RATE).value == pytest.approx(0.004)


def test_a_reported_parent_wins_and_feeds_its_own_parents() -> None:
    events = [share("rinkeby", 30, 100), share("kista", 10, 300), share("rinkeby-kista", 50, 200)]
    parent = shown(events, "rinkeby-kista")
    assert (parent.value, parent.origin, parent.computed_value) == (25.0, Origin.REPORTED, 10.0)
    assert (parent.numerator, parent.denominator) == (50.0, 200.0)
    # The city sums what rinkeby-kista reports (50/200), not its children (40/400).
    assert shown(events, CITY).value == 25.0
    assert shown(events, "fokusomraden").value == 25.0


def test_coverage_counts_direct_children_and_a_childless_area_has_none() -> None:
    events = [
        observation(COUNT, "abrahamsberg", "2024", value=10),
        observation(COUNT, "hogalid", "2024", value=5),
        observation(COUNT, "skarpnack", "2024", value=7),
    ]
    city = shown(events, CITY, COUNT)
    assert (city.value, city.coverage, city.numerator) == (22.0, 0.75, None)
    assert shown(events, "bromma", COUNT).coverage == 0.5
    assert shown(events, "skarpnack", COUNT).coverage is None
    assert shown(events, "ytterstaden", COUNT) == Visible(
        10.0, None, None, Origin.COMPUTED, 10.0, 0.5
    )


def test_a_retraction_removes_the_contribution() -> None:
    kista = share("kista", 10, 300)
    gone = share("kista", 0, 1, updated_at=LATER, retract=True)
    events = [share("rinkeby", 30, 100), kista, gone]
    parent = shown(events, "rinkeby-kista")
    assert (parent.value, parent.coverage) == (30.0, 1 / 3)
    assert shown(events, "kista").value is None
    last = shown([*events, share("rinkeby", 1, 1, updated_at=LATER, retract=True)], CITY)
    assert last == Visible(None, None, None, None, None, 0.0)


def test_a_late_older_correction_is_ignored() -> None:
    engine, rows = RollupEngine(CATALOG), dict[SeriesId, SeriesState]()
    newer = share("rinkeby", 40, 100, updated_at=LATER)
    older = share("rinkeby", 20, 100, updated_at=T0)
    assert engine.apply(rows, newer) is Outcome.APPLIED
    assert engine.apply(rows, older) is Outcome.SUPERSEDED
    assert engine.apply(rows, newer) is Outcome.DUPLICATE
    assert shown([newer, older], "rinkeby").value == 40.0
    assert shown([older, newer], "rinkeby-kista").value == 40.0


def test_equal_updated_at_is_broken_by_observation_id_across_time_zones() -> None:
    plus_one = T0.astimezone(timezone(timedelta(hours=1)))  # the same instant as T0
    low = share(
        "rinkeby",
        10,
        100,
        updated_at=plus_one,
        observation_id="00000000-0000-0000-0000-00000000000a",
    )
    high = share(
        "rinkeby", 90, 100, updated_at=T0, observation_id="00000000-0000-0000-0000-00000000000b"
    )
    assert shown([high, low], "rinkeby").value == 90.0
    assert shown([low, high], "rinkeby").value == 90.0


def test_a_level_is_not_rolled_up() -> None:
    events = [
        observation(LEVEL, "rinkeby", "2024", value=250_000),
        observation(LEVEL, "rinkeby-kista", "2024", value=280_000),
    ]
    parent = shown(events, "rinkeby-kista", LEVEL)
    assert (parent.value, parent.origin, parent.computed_value) == (280_000, Origin.REPORTED, None)
    assert parent.coverage == 0.0
    assert oracle_rows(CATALOG, events)[(LEVEL, CITY, "2024", "T")].value is None


def test_arrival_judges_a_version_against_the_winner_alone() -> None:
    winner = (T0, "b")
    assert arrival(None, (T0, "a")) is Outcome.APPLIED
    assert arrival(winner, (LATER, "b")) is Outcome.DUPLICATE  # its id won already
    assert arrival(winner, (T0, "a")) is Outcome.SUPERSEDED  # same time, lesser id
    assert arrival(winner, (T0, "c")) is Outcome.APPLIED
    assert arrival(winner, (LATER, "a")) is Outcome.APPLIED
