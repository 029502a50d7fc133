"""The social-risk index (Västra Götalandsmodellen): each area's indicators relative to the city.

Pure: no I/O. For every risk indicator an area gets a relative value, 100 = as the city and higher =
more risk; a group's score is the mean of its relatives, the composite the mean of the group scores,
and areas of one level are ranked by it (1 = highest risk). The method and its edge cases are in
docs/risk-index.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from shared.domain.catalog import AreaLevel, Catalog, Direction, Indikator, Kind, RiskGroup
from shared.domain.documents import RelativeDocument, RiskDocument
from shared.domain.periods import parse_period

CITY_LEVEL = 100.0


@dataclass(frozen=True)
class Relative:
    """One indicator of one area against the city; 100 = as the city, higher = more risk."""

    indicator: str
    value: float
    city: float
    relative: float

    def as_dict(self) -> RelativeDocument:
        """JSON-native form."""
        return {
            "indicator": self.indicator,
            "value": self.value,
            "city": self.city,
            "relative": self.relative,
        }


@dataclass(frozen=True)
class GroupScore:
    """The mean relative of one risk group's indicators that the area has."""

    group: RiskGroup
    score: float
    indicators: tuple[Relative, ...]


@dataclass(frozen=True)
class RiskScore:
    """An area's composite risk score and rank among the areas of its level."""

    area: str
    level: AreaLevel
    score: float | None  # None: no risk indicator could be computed for the area
    rank: int | None
    out_of: int  # how many areas of the level have a score
    groups: tuple[GroupScore, ...]
    missing_indicators: tuple[str, ...]
    missing_groups: tuple[RiskGroup, ...]

    @property
    def n_indicators(self) -> int:
        """How many indicators went into the score."""
        return sum(len(g.indicators) for g in self.groups)

    @property
    def n_groups(self) -> int:
        """How many groups went into the score."""
        return len(self.groups)

    def as_dict(self) -> RiskDocument:
        """JSON-native form: enums as their values, tuples as lists."""
        return {
            "area": self.area,
            "level": self.level.value,
            "score": self.score,
            "rank": self.rank,
            "out_of": self.out_of,
            "n_indicators": self.n_indicators,
            "n_groups": self.n_groups,
            "groups": [
                {
                    "group": g.group.value,
                    "score": g.score,
                    "indicators": [r.as_dict() for r in g.indicators],
                }
                for g in self.groups
            ],
            "missing_indicators": list(self.missing_indicators),
            "missing_groups": [g.value for g in self.missing_groups],
        }


def eligible(catalog: Catalog) -> tuple[Indikator, ...]:
    """Indicators in the index: those with a risk group, except counts (they measure size)."""
    return tuple(
        i for i in catalog.indikatorer if i.risk_group is not None and i.kind is not Kind.COUNT
    )


def relative(direction: Direction, value: float, city: float) -> float | None:
    """100·area/city when lower is better, 100·city/area when higher is better; None if undefined."""
    if not (math.isfinite(value) and math.isfinite(city)) or value < 0 or city < 0:
        return None
    if direction is Direction.DECREASE:
        return CITY_LEVEL * value / city if city > 0 else None
    return CITY_LEVEL * city / value if value > 0 else None


def risk_index(
    catalog: Catalog,
    values: Mapping[tuple[str, str], float],
    city: Mapping[str, float],
    level: AreaLevel,
    on: date | None = None,
) -> list[RiskScore]:
    """Score and rank every area of `level` valid `on` (default: still valid), ranked ones first.

    A former area (one whose validity ended, e.g. Älvsjö before 2020-07-01) is not scored.
    """
    indicators = eligible(catalog)
    by_group = {g: ii for g in RiskGroup if (ii := [i for i in indicators if i.risk_group is g])}
    unranked = []
    current = [
        a.id
        for a in catalog.omraden
        if a.level is level and (a.valid_on(on) if on is not None else a.valid_to is None)
    ]
    for area in current:
        scored: list[GroupScore] = []
        missing: list[str] = []
        for group in by_group:
            found = []
            for ind in by_group[group]:
                rel = _against_city(ind, values.get((ind.id, area)), city.get(ind.id))
                if rel is None:
                    missing.append(ind.id)
                else:
                    found.append(rel)
            if found:
                scored.append(
                    GroupScore(group, sum(r.relative for r in found) / len(found), tuple(found))
                )
        unranked.append(
            RiskScore(
                area=area,
                level=level,
                score=sum(g.score for g in scored) / len(scored) if scored else None,
                rank=None,
                out_of=0,
                groups=tuple(scored),
                missing_indicators=_in_order(missing, indicators),
                missing_groups=tuple(g for g in by_group if g not in {s.group for s in scored}),
            )
        )
    return _ranked(unranked)


def _in_order(ids: list[str], indicators: tuple[Indikator, ...]) -> tuple[str, ...]:
    return tuple(i.id for i in indicators if i.id in ids)


def _against_city(ind: Indikator, value: float | None, base: float | None) -> Relative | None:
    if value is None or base is None:
        return None
    rel = relative(ind.direction, value, base)
    return None if rel is None else Relative(ind.id, value, base, rel)


def _ranked(scores: list[RiskScore]) -> list[RiskScore]:
    """Competition ranking (1, 2, 2, 4): equal scores share a rank; ties listed by area id."""
    values = [s.score for s in scores if s.score is not None]
    ranked = sorted(
        (
            replace(s, rank=1 + sum(1 for v in values if v > s.score), out_of=len(values))
            for s in scores
            if s.score is not None
        ),
        key=lambda s: (s.rank, s.area),
    )
    return ranked + [replace(s, out_of=len(values)) for s in scores if s.score is None]


def latest_city_inputs(
    catalog: Catalog, points: Iterable[tuple[str, str, str, float | None]]
) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """From (indicator, area, period, value) points, each indicator's values at the city's latest period."""
    root = catalog.root
    city_periods: dict[str, str] = {}
    rows = [p for p in points if p[3] is not None and p[0] in catalog.indicator]
    for ind, area, period, _ in rows:
        if area == root and (
            ind not in city_periods or parse_period(period) > parse_period(city_periods[ind])
        ):
            city_periods[ind] = period
    values: dict[tuple[str, str], float] = {}
    city: dict[str, float] = {}
    for ind, area, period, value in rows:
        if value is not None and city_periods.get(ind) == period:
            values[(ind, area)] = value
            if area == root:
                city[ind] = value
    return values, city
