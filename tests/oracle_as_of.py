"""The reference oracle at a knowledge time: what every summary should say over the versions
received by then, with staleness judged then.

Rollups come from `tests.oracle` (plain loops, the tree valid on each period's last day); the
judgements are the domain's own formulas (`shared.domain.summary`), fed with the oracle's rows
instead of the read model's: status points of any area and gender, etappmål from indicator
documents, nämnd rollups with each stadsdelsnämnd area's latest value beside the city's, and
area profiles with the latest value, the city's value of that period and the area's own status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.catalog import TOTAL, Catalog
from shared.domain.documents import EtappmalDocument, IndikatorDocument, NamndDocument
from shared.domain.observation import Observation
from shared.domain.periods import parse_period
from shared.domain.status import Point
from shared.domain.summary import AreaValue, etappmal_summary, indikator_summary, namnd_summary
from tests.oracle import OracleRow, SeriesId, oracle_rows


def received_by(events: Iterable[Observation], moment: datetime) -> list[Observation]:
    """The versions counted at `moment`: those received by then, in arrival order."""
    return [e for e in events if e.received_at <= moment]


@dataclass
class OracleAt:
    """The oracle's read model at one knowledge time `now`."""

    catalog: Catalog
    events: list[Observation]  # every version received by `now`
    now: datetime
    rows: dict[SeriesId, OracleRow] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = oracle_rows(self.catalog, self.events)

    def shown(self, indicator: str) -> dict[tuple[str, str, str], OracleRow]:
        """The rows of one indicator that have a value or a winner: (area, period, gender) → row."""
        return {
            k[1:]: r
            for k, r in self.rows.items()
            if k[0] == indicator and (r.origin is not None or r.winner is not None)
        }

    def valued(self, area: str, gender: str) -> dict[str, list[tuple[str, OracleRow]]]:
        """Per indicator, the (period, row)s of one area and gender that have a value."""
        found: dict[str, list[tuple[str, OracleRow]]] = {}
        for (ind, a, period, g), row in self.rows.items():
            if a == area and g == gender and row.value is not None:
                found.setdefault(ind, []).append((period, row))
        return found

    def indicators(self, area: str = "", gender: str = TOTAL) -> dict[str, IndikatorDocument]:
        """Every indicator's status document for one area (the city by default) and gender."""
        valued = self.valued(area or self.catalog.root, gender)
        return {
            ind.id: indikator_summary(
                self.catalog, ind.id, _points(valued.get(ind.id, [])), self.now
            )
            for ind in self.catalog.indikatorer
        }

    def goals(self, area: str = "", gender: str = TOTAL) -> dict[str, EtappmalDocument]:
        """Every etappmål's document from the indicators' of one area and gender."""
        docs = self.indicators(area, gender)
        return {g.id: etappmal_summary(self.catalog, g.id, docs) for g in self.catalog.etappmal}

    def namnder(self) -> dict[str, NamndDocument]:
        """Every nämnd's rollup."""
        docs, goals = self.indicators(), self.goals()
        return {
            n.id: namnd_summary(self.catalog, n.id, docs, goals, self._area_values(n.area))
            for n in self.catalog.namnder
        }

    def profile(self, area: str, gender: str) -> dict[str, dict[str, Any]]:
        """The area profile: per indicator shown, its latest value, the city's then, its status."""
        own, level = self.valued(area, gender), self.catalog.area[area].level
        city = self.valued(self.catalog.root, gender)
        result = {}
        for ind in self.catalog.indikatorer:
            mine = own.get(ind.id, [])
            if not mine and level not in ind.area_levels:
                continue
            latest = max(mine, key=lambda p: (parse_period(p[0]).decimal_start, p[0]), default=None)
            summary = indikator_summary(self.catalog, ind.id, _points(mine), self.now)
            city_value = None
            if latest is not None:
                city_value = next(
                    (r.value for p, r in city.get(ind.id, []) if p == latest[0]), None
                )
            result[ind.id] = {
                "period": latest[0] if latest else None,
                "value": latest[1].value if latest else None,
                "city_value": city_value,
                "status": summary["status"],
                "trend": summary["trend"],
            }
        return result

    def _area_values(self, area: str | None) -> dict[str, AreaValue]:
        """A stadsdelsnämnd area's latest value per indicator: the latest period the city has a
        value for too, else the area's latest."""
        if area is None:
            return {}
        city = {
            (ind, period): row
            for ind, rows in self.valued(self.catalog.root, TOTAL).items()
            for period, row in rows
        }
        result = {}
        for ind, rows in self.valued(area, TOTAL).items():

            def rank(item: tuple[str, OracleRow], ind: str = ind) -> tuple[bool, float]:
                return (ind, item[0]) in city, parse_period(item[0]).decimal_start

            period, row = max(rows, key=rank)
            town = city.get((ind, period))
            preliminary = row.preliminary or (town is not None and town.preliminary)
            result[ind] = AreaValue(
                period, row.value, town.value if town else None, not preliminary
            )
        return result


def _points(rows: list[tuple[str, OracleRow]]) -> list[Point]:
    return [Point.of(p, r.value, r.origin, r.coverage, r.preliminary) for p, r in rows]
