"""Event streams for the aggregator benchmark: the random worst case and realistic source sweeps.

`random` (tests.streams.StreamMaker) spreads events over every series of the catalog, so nearly every
event touches rows no other event in its batch touches. `sweeps` is what sources actually deliver:
one indicator and period for every area of its lowest level (and the city) at once, every gender,
in calendar order; later some sweeps are corrected in part, a few values retracted, and now and then
a whole sweep is delivered twice (at-least-once upstream).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from shared.domain.areas import valid_in
from shared.domain.catalog import AreaLevel, Catalog, Indikator, Kind
from shared.domain.observation import Observation
from shared.domain.periods import parse_period
from tests.streams import StreamMaker, periods

WORKLOADS = ("random", "sweeps")


def make_events(catalog: Catalog, workload: str, n: int, seed: int = 1) -> list[Observation]:
    """`n` events of the named workload."""
    if workload == "random":
        return StreamMaker(catalog, seed=seed).stream(n)
    if workload == "sweeps":
        return sweeps(catalog, n, seed=seed)
    raise ValueError(f"unknown workload {workload!r}; choose one of {', '.join(WORKLOADS)}")


def _sweep_areas(catalog: Catalog, ind: Indikator) -> list[str]:
    """The lowest level the indicator is reported at, plus the city (levels: every level)."""
    if ind.kind is Kind.LEVEL:  # levels are not rolled up, so sources report each level
        return [a.id for a in catalog.omraden if a.level in ind.area_levels]
    lowest = (
        AreaLevel.STADSDEL if AreaLevel.STADSDEL in ind.area_levels else AreaLevel.STADSDELSOMRADE
    )
    return [a.id for a in catalog.omraden if a.level is lowest] + [catalog.root]


def _timeline(catalog: Catalog, years: range) -> Iterator[tuple[Indikator, str]]:
    """(indicator, period) in calendar order over `years`, then again: sources revise history."""
    due = [(ind, p) for ind in catalog.indikatorer for p in periods(ind, years)]
    due.sort(key=lambda item: (parse_period(item[1]).sort_key, item[0].id))
    while True:
        yield from due


def sweeps(
    catalog: Catalog,
    n: int,
    *,
    seed: int = 1,
    years: range = range(2010, 2026),
    correct: float = 0.15,
    redeliver: float = 0.03,
    retract: float = 0.01,
) -> list[Observation]:
    """`n` events delivered as sweeps, with partial corrections, retractions and redeliveries.

    History stays within `years` (the roadmap's span): once every period has been delivered the
    sources deliver them all again as revisions, so a long stream grows versions, not history.
    """
    maker = StreamMaker(catalog, seed=seed, source="bench")
    rng = random.Random(seed)
    events: list[Observation] = []
    pending: list[tuple[int, Indikator, str]] = []  # (due at event count, indicator, period)
    for ind, period in _timeline(catalog, years):
        if len(events) >= n:
            break
        sweep = [
            maker.observation(ind, area, period, g.value)
            for g in ind.genders
            for area in _sweep_areas(catalog, ind)
            if valid_in(catalog.area[area], period)
        ]
        events.extend(sweep)
        if rng.random() < redeliver:
            events.extend(sweep)  # the same ids again: duplicates
        if rng.random() < correct:
            pending.append((len(events) + rng.randint(1_000, 50_000), ind, period))
        due = [p for p in pending if p[0] <= len(events)]
        pending = [p for p in pending if p[0] > len(events)]
        for _, c_ind, c_period in due:
            areas = _sweep_areas(catalog, c_ind)
            for area in rng.sample(areas, max(1, len(areas) // 10)):
                gender = rng.choice(c_ind.genders).value
                events.append(
                    maker.observation(c_ind, area, c_period, gender, retract=rng.random() < retract)
                )
    return events[:n]


def fresh(obs: Observation, now: datetime | None = None) -> Observation:
    """A new version of the observation's series, as if ingest received it now."""
    moment = now or datetime.now(UTC)
    return obs.model_copy(
        update={"observation_id": uuid.uuid4(), "received_at": moment, "updated_at": moment}
    )
