"""Reference oracle for rollups: plain loops over the full event list, no incremental state.

Written from the contract's rules, not from `shared.domain.rollup`: pick each series' final winner
(greatest (updated_at, observation_id)), then walk the area tree recursively for every
(indicator, period, gender) and compute each area's sums, coverage and visible value. The tree of a
period is the one valid on its last day: the areas valid then, each under the parent whose link is
valid then (a link's missing bound is its area's). A value is
preliminary when it is reported so, or computed with any preliminary contribution below it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.domain.catalog import (
    RATIO_SCALE,
    TOTAL,
    AreaLevel,
    Catalog,
    Indikator,
    Kind,
    ParentLink,
)
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.periods import parse_period
from shared.domain.status import Point

SeriesId = tuple[str, str, str, str]  # indicator, area, period, gender
VIRTUAL_AREAS = {"ytterstaden": "ytterstad", "fokusomraden": "fokus"}


@dataclass(frozen=True)
class OracleRow:
    """What a series should show once every event has been seen."""

    value: float | None
    numerator: float | None
    denominator: float | None
    origin: str | None  # "reported", "computed" or None
    computed_value: float | None
    coverage: float | None
    winner: str | None  # observation_id of the winning version, retraction or not
    retracted: bool
    preliminary: bool = False


@dataclass(frozen=True)
class _Sums:
    numerator: float
    denominator: float
    value: float
    contributing: int
    preliminary: bool  # some contribution is preliminary


def close(a: float | None, b: float | None) -> bool:
    """Equal as numbers within rel 1e-9 / abs 1e-9, or both missing."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def version(obs: Observation) -> tuple[datetime, str]:
    """The order of versions within a series."""
    return obs.updated_at.astimezone(UTC), str(obs.observation_id)


def winners(events: Iterable[Observation]) -> dict[SeriesId, Observation]:
    """The final winning version of every series in the events."""
    best: dict[SeriesId, Observation] = {}
    for obs in events:
        key = (obs.indicator, obs.area, obs.period, obs.gender.value)
        if key not in best or version(obs) > version(best[key]):
            best[key] = obs
    return best


def direct_children(catalog: Catalog, period: str) -> dict[str, list[str]]:
    """Direct children of every area valid on the period's last day, and of the virtual areas."""
    day = parse_period(period).end - timedelta(days=1)

    def within(start: date | None, end: date | None) -> bool:
        return (start is None or start <= day) and (end is None or day <= end)

    valid = [a for a in catalog.omraden if within(a.valid_from, a.valid_to)]
    children: dict[str, list[str]] = {a.id: [] for a in valid}
    for area in valid:
        links = area.parents or ((ParentLink(id=area.parent),) if area.parent else ())
        for link in links:
            if within(link.valid_from or area.valid_from, link.valid_to or area.valid_to):
                children[link.id].append(area.id)
    for virtual, flag in VIRTUAL_AREAS.items():
        children[virtual] = [
            a.id for a in valid if a.level is AreaLevel.STADSDELSOMRADE and getattr(a, flag)
        ]
    return children


def oracle_rows(catalog: Catalog, events: Iterable[Observation]) -> dict[SeriesId, OracleRow]:
    """Every area's row for every (indicator, period, gender) that the events mention."""
    final = winners(events)
    rows: dict[SeriesId, OracleRow] = {}
    for indicator_id, period, gender in {(k[0], k[2], k[3]) for k in final}:
        children = direct_children(catalog, period)
        walk = _Walk(catalog.indicator[indicator_id], period, gender, final, children)
        for area in children:
            rows[(indicator_id, area, period, gender)] = walk.row(area)
    return rows


def city_points(
    catalog: Catalog, rows: Mapping[SeriesId, OracleRow], indicator: str
) -> list[Point]:
    """The city's total series of one indicator as status points, with origin and coverage."""
    return [
        Point.of(k[2], r.value, r.origin, r.coverage, r.preliminary)
        for k, r in rows.items()
        if k[0] == indicator and k[1] == catalog.root and k[3] == TOTAL and r.value is not None
    ]


@dataclass(frozen=True)
class _Walk:
    """The tree of one (indicator, period, gender), walked from any area down to the leaves."""

    indicator: Indikator
    period: str
    gender: str
    final: dict[SeriesId, Observation]
    children: dict[str, list[str]]

    def winner(self, area: str) -> Observation | None:
        return self.final.get((self.indicator.id, area, self.period, self.gender))

    def reported(self, area: str) -> Observation | None:
        obs = self.winner(area)
        return obs if obs is not None and not obs.retract else None

    def sums(self, area: str) -> _Sums:
        parts = [p for c in self.children[area] if (p := self.contribution(c)) is not None]
        return _Sums(
            sum(p[0] for p in parts),
            sum(p[1] for p in parts),
            sum(p[2] for p in parts),
            len(parts),
            any(p[3] for p in parts),
        )

    def contribution(self, area: str) -> tuple[float, float, float, bool] | None:
        if self.indicator.kind is Kind.LEVEL:
            return None
        obs = self.reported(area)
        if obs is not None:
            preliminary = obs.status is ObservationStatus.PRELIMINARY
            if self.indicator.kind is Kind.RATIO:
                return (obs.numerator or 0.0, obs.denominator or 0.0, 0.0, preliminary)
            return (0.0, 0.0, obs.value or 0.0, preliminary)
        own = self.sums(area)
        if not own.contributing:
            return None
        return (own.numerator, own.denominator, own.value, own.preliminary)

    def row(self, area: str) -> OracleRow:
        return _row(
            self.indicator,
            self.winner(area),
            self.reported(area),
            self.sums(area),
            self.children[area],
        )


def _row(
    indicator: Indikator,
    winner: Observation | None,
    reported: Observation | None,
    sums: _Sums,
    children: list[str],
) -> OracleRow:
    computed: float | None = None
    if sums.contributing and indicator.kind is Kind.COUNT:
        computed = sums.value
    elif sums.contributing and indicator.kind is Kind.RATIO and sums.denominator != 0:
        scale = RATIO_SCALE.get(indicator.unit, 1.0)
        computed = scale * sums.numerator / sums.denominator
    coverage = sums.contributing / len(children) if children else None
    winner_id = str(winner.observation_id) if winner is not None else None
    retracted = winner is not None and winner.retract
    if reported is not None:
        return OracleRow(
            reported.value,
            reported.numerator,
            reported.denominator,
            "reported",
            computed,
            coverage,
            winner_id,
            retracted,
            reported.status is ObservationStatus.PRELIMINARY,
        )
    if computed is not None:
        num, den = (
            (sums.numerator, sums.denominator) if indicator.kind is Kind.RATIO else (None, None)
        )
        return OracleRow(
            computed,
            num,
            den,
            "computed",
            computed,
            coverage,
            winner_id,
            retracted,
            sums.preliminary,
        )
    return OracleRow(None, None, None, None, None, coverage, winner_id, retracted)


def oracle_versions(events: list[Observation]) -> list[str]:
    """Each event's outcome as of its arrival, from the contract: `duplicate` when an earlier event
    of the series had its id, `applied` when it is newer than every earlier version, else
    `superseded`."""
    outcomes = []
    for i, obs in enumerate(events):
        key = (obs.indicator, obs.area, obs.period, obs.gender.value)
        earlier = [e for e in events[:i] if (e.indicator, e.area, e.period, e.gender.value) == key]
        if any(e.observation_id == obs.observation_id for e in earlier):
            outcomes.append("duplicate")
        elif all(version(obs) > version(e) for e in earlier):
            outcomes.append("applied")
        else:
            outcomes.append("superseded")
    return outcomes
