"""Summaries the read side serves: per indicator, per etappmål and per nämnd, as JSON-native dicts
whose shapes are in `shared.domain.documents`.

Pure: the aggregator feeds them values read from the read model and stores what they return; the
reference oracle feeds them values computed from the raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from shared.domain.catalog import Baseline, Catalog, NamndType, Responsibility, Role, Target
from shared.domain.documents import (
    AreaComparisonDocument,
    BaselineDocument,
    EtappmalDocument,
    IndikatorDocument,
    NamndDocument,
    NamndEtappmal,
    NamndIndikator,
    ResponsibleDocument,
    StatusFields,
    TargetDocument,
)
from shared.domain.periods import Period, parse_period
from shared.domain.staleness import is_stale, newest_period_age_seconds
from shared.domain.status import DEFAULT_THRESHOLDS, Point, StatusCode, Thresholds, assess, combine


@dataclass(frozen=True)
class AreaValue:
    """An area's latest value of an indicator beside the city's for the same period."""

    period: str
    area_value: float | None
    city_value: float | None
    published: bool = True  # neither value has a preliminary contribution

    @property
    def gap(self) -> float | None:
        """Area minus city, when both are known."""
        if self.area_value is None or self.city_value is None:
            return None
        return self.area_value - self.city_value


def indikator_summary(
    catalog: Catalog,
    indicator_id: str,
    points: Sequence[Point],
    now: datetime,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> IndikatorDocument:
    """Status, trend, staleness and every input of one indicator's series (city, total)."""
    indicator = catalog.indicator[indicator_id]
    baseline, target = catalog.target_of(indicator_id)
    latest: Period | None = None
    latest_value: float | None = None
    for point in points:  # the newest period and the value of its first point, in one pass
        period = parse_period(point.period)
        if latest is None or period > latest:
            latest, latest_value = period, point.value
    stale = latest is not None and is_stale(
        latest, indicator.cadence, indicator.publication_lag, indicator.grace, now.date()
    )
    result = assess(
        points,
        indicator.direction,
        baseline,
        target,
        stale=stale,
        thresholds=thresholds,
        min_coverage=indicator.min_coverage,
    )
    return {
        "indicator": indicator_id,
        "name": indicator.name,
        "unit": indicator.unit,
        "direction": indicator.direction.value,
        "status": result.status.value,
        "trend": result.trend.value if result.trend else None,
        "reason": result.reason.value if result.reason else None,
        "stale": stale,
        "latest_period": latest.text if latest else None,
        "latest_value": latest_value,
        "newest_period_age_seconds": newest_period_age_seconds(latest, now) if latest else None,
        "periods": len(points),
        "published": not any(p.preliminary for p in points),
        "baseline": _baseline(baseline),
        "target": _target(target),
        "inputs": result.as_dict(),
        "responsible": _responsible(catalog.responsible_for(indicator_id)),
    }


def etappmal_summary(
    catalog: Catalog, goal_id: str, indicators: Mapping[str, IndikatorDocument]
) -> EtappmalDocument:
    """An etappmål's status: the least favourable of its indicators', with theirs beside it."""
    goal = catalog.goal[goal_id]
    rows = [indicators.get(i) or _no_data(catalog, i) for i in goal.indicators]
    status, counts = combine([StatusCode(r["status"]) for r in rows])
    return {
        "id": goal.id,
        "malomrade": goal.malomrade,
        "title": goal.title,
        "direction": goal.direction.value,
        "status": status.value,
        "counts": counts,
        "published": all(r.get("published", True) for r in rows),
        "baseline": _baseline(goal.baseline),
        "target": _target(goal.target),
        "headline": goal.headline,
        "indicators": rows,
        "responsible": _responsible(goal.responsible),
    }


def namnd_summary(
    catalog: Catalog,
    namnd_id: str,
    indicators: Mapping[str, IndikatorDocument],
    goals: Mapping[str, EtappmalDocument],
    area_values: Mapping[str, AreaValue],
) -> NamndDocument:
    """A nämnd's rollup: the etappmål and indicators it leads or is involved in, counts per status,
    and for a stadsdelsnämnd its area's latest values against the city."""
    namnd = catalog.namnd[namnd_id]
    goal_rows: list[NamndEtappmal] = []
    for goal in catalog.etappmal:
        role = _role(goal.responsible, namnd_id)
        if role is not None:
            found = goals.get(goal.id)
            status = found["status"] if found else StatusCode.SAKNAR_DATA.value
            published = found.get("published", True) if found else True
            goal_rows.append(
                {
                    "id": goal.id,
                    "title": goal.title,
                    "role": role,
                    "status": status,
                    "published": published,
                }
            )
    indicator_rows: list[NamndIndikator] = []
    for ind in catalog.indikatorer:
        role = _role(catalog.responsible_for(ind.id), namnd_id)
        if role is not None:
            doc = indicators.get(ind.id) or _no_data(catalog, ind.id)
            indicator_rows.append(
                {"id": ind.id, "name": ind.name, "role": role, **status_fields(doc)}
            )
    comparison: list[AreaComparisonDocument] = []
    if namnd.type is NamndType.STADSDELSNAMND and namnd.area:
        for ind_id, value in sorted(area_values.items()):
            ind = catalog.indicator[ind_id]
            comparison.append(
                {
                    "indicator": ind_id,
                    "name": ind.name,
                    "unit": ind.unit,
                    "direction": ind.direction.value,
                    "period": value.period,
                    "area_value": value.area_value,
                    "city_value": value.city_value,
                    "gap": value.gap,
                    "published": value.published,
                }
            )
    return {
        "id": namnd.id,
        "name": namnd.name,
        "type": namnd.type.value,
        "area": namnd.area,
        "counts": {
            "etappmal": count_statuses(r["status"] for r in goal_rows),
            "indikatorer": count_statuses(r["status"] for r in indicator_rows),
        },
        "published": all(r["published"] for r in (*goal_rows, *indicator_rows, *comparison)),
        "etappmal": goal_rows,
        "indikatorer": indicator_rows,
        "area_comparison": comparison,
    }


def status_fields(doc: IndikatorDocument) -> StatusFields:
    """The status fields of an indicator's summary."""
    return {
        "status": doc["status"],
        "trend": doc["trend"],
        "reason": doc["reason"],
        "stale": doc["stale"],
        "latest_period": doc["latest_period"],
        "latest_value": doc["latest_value"],
        "published": doc.get("published", True),  # documents stored before the flag lack it
    }


def _baseline(baseline: Baseline | None) -> BaselineDocument | None:
    return cast(BaselineDocument, baseline.model_dump()) if baseline else None


def _target(target: Target | None) -> TargetDocument | None:
    return cast(TargetDocument, target.model_dump()) if target else None


def _responsible(responsible: Iterable[Responsibility]) -> list[ResponsibleDocument]:
    return [cast(ResponsibleDocument, r.model_dump(mode="json")) for r in responsible]


def _role(responsible: Sequence[Responsibility], namnd_id: str) -> str | None:
    roles = {r.role for r in responsible if r.namnd == namnd_id}
    if not roles:
        return None
    return (Role.HUVUDANSVARIG if Role.HUVUDANSVARIG in roles else Role.BEROD).value


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """How many of `statuses` are of each status code (every code present)."""
    counts = {code.value: 0 for code in StatusCode}
    for status in statuses:
        counts[status] += 1
    return counts


def _no_data(catalog: Catalog, indicator_id: str) -> IndikatorDocument:
    indicator = catalog.indicator[indicator_id]
    return {
        "indicator": indicator_id,
        "name": indicator.name,
        "unit": indicator.unit,
        "direction": indicator.direction.value,
        "status": StatusCode.SAKNAR_DATA.value,
        "trend": None,
        "reason": "no_data",
        "stale": False,
        "latest_period": None,
        "latest_value": None,
        "newest_period_age_seconds": None,
        "periods": 0,
        "published": True,
        "baseline": None,
        "target": None,
        "inputs": {},
        "responsible": [],
    }
