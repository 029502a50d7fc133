"""Derived projections written in a transaction of their own or of the batch they come from.

After a batch: the status of every indicator whose city total changed, then the etappmål they belong
to, every nämnd's rollup and, when a risk indicator's totals changed, the social-risk index. Each is
a pure function of rows already committed to the read model (`shared.domain.summary`,
`shared.domain.risk`), so running it twice, or later, gives the same rows.

Under load they are throttled: the projector collects what batches changed and projects at most
once per `interval`, inside the transaction of the batch that is due; the aggregator flushes what is
left as soon as the stream goes idle (`flush`), and after every partition assignment it projects
everything once (`mark_all`), so the work a crashed worker left pending is never lost. On
PostgreSQL one advisory lock serialises projections across workers: each reads every commit made
before it, so the last projection to run sees the final state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, text

from services.aggregate.store import BatchResult
from shared.db.schema import etappmal_status, indicator_status, namnd_rollup, series
from shared.db.schema import risk_index as risk_index_table
from shared.db.upsert import upsert
from shared.domain.catalog import AreaLevel, Catalog, Gender, NamndType, RiskGroup
from shared.domain.observation import utcnow
from shared.domain.periods import parse_period
from shared.domain.risk import eligible, latest_city_inputs, risk_index
from shared.domain.status import DEFAULT_THRESHOLDS, Point, Thresholds
from shared.domain.summary import AreaValue, etappmal_summary, indicator_summary, namnd_summary

TOTAL = Gender.T.value
RISK_LEVELS = (AreaLevel.STADSDELSOMRADE.value, AreaLevel.STADSDEL.value)
PROJECTION_LOCK = 0x5354_5052  # pg_advisory_xact_lock key of the projections ("STPR")


class Projector:
    """Recomputes the summaries that depend on what batches changed; throttled by `interval`."""

    def __init__(
        self, catalog: Catalog, thresholds: Thresholds = DEFAULT_THRESHOLDS, interval: float = 0.0
    ) -> None:
        self.catalog = catalog
        self.thresholds = thresholds
        self.risk_ids = {i.id for i in eligible(catalog)}
        self.interval = interval
        self.pending: set[str] = set()  # indicators some of whose totals changed, not yet projected
        self._last = -float("inf")

    def __call__(self, conn: Connection, result: BatchResult) -> None:
        """Run inside the batch's transaction; the documents go on `result` for the rollups topic."""
        self.pending |= {k[0] for k in result.changed if k[3] == TOTAL}
        if self.pending and time.monotonic() - self._last >= self.interval:
            result.projected = set(self.pending)
            result.documents = self._project(conn, result.projected)

    def flush(self, conn: Connection) -> tuple[set[str], list[tuple[str, dict[str, Any]]]]:
        """Project everything pending now (the stream is idle); return what and the documents."""
        projected = set(self.pending)
        return projected, self._project(conn, projected) if projected else []

    def done(self, projected: Iterable[str]) -> None:
        """The projection of `projected` committed: they are no longer pending."""
        self.pending -= set(projected)

    def mark_all(self) -> None:
        """Project every indicator next time (after an assignment: other workers' work may wait)."""
        self.pending |= set(self.catalog.indicator)
        self._last = -float("inf")

    def _project(self, conn: Connection, indicators: set[str]) -> list[tuple[str, dict[str, Any]]]:
        self._last = time.monotonic()
        return self.refresh(conn, indicators, utcnow())

    def refresh(
        self, conn: Connection, indicators: Iterable[str], now: datetime
    ) -> list[tuple[str, dict[str, Any]]]:
        """Recompute indicator, etappmål, nämnd and risk summaries; return (rollup id, document)s."""
        touched = sorted(set(indicators) & set(self.catalog.indicator))
        if not touched:
            return []
        if conn.dialect.name == "postgresql":  # see the module's docstring
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PROJECTION_LOCK})
        ind_docs = {i: self._indicator(conn, i, now) for i in touched}
        upsert(
            conn,
            indicator_status,
            [_status_row(d, self.catalog.root, now) for d in ind_docs.values()],
        )
        goals = sorted({g.id for i in touched for g in self.catalog.goals_of_indicator(i)})
        all_docs = self._stored_indicator_docs(conn) | ind_docs
        goal_docs = {g: etappmal_summary(self.catalog, g, all_docs) for g in goals}
        upsert(conn, etappmal_status, [
            {"etappmal": g, "status": d["status"], "counts": d["counts"], "document": d, "computed_at": now}
            for g, d in goal_docs.items()
        ])  # fmt: skip
        all_goals = self._stored_goal_docs(conn) | goal_docs
        area_values = self._area_values(conn)
        namnd_docs = {
            n.id: namnd_summary(
                self.catalog, n.id, all_docs, all_goals, area_values.get(n.area or "", {})
            )
            for n in self.catalog.namnder
        }
        upsert(conn, namnd_rollup, [
            {"namnd": n, "counts": d["counts"], "document": d, "computed_at": now}
            for n, d in namnd_docs.items()
        ])  # fmt: skip
        risk_docs = self._risk(conn, now) if self.risk_ids & set(touched) else []
        return (
            [(f"indikator:{i}", d) for i, d in ind_docs.items()]
            + [(f"etappmal:{g}", d) for g, d in goal_docs.items()]
            + [(f"namnd:{n}", d) for n, d in namnd_docs.items()]
            + [(f"risk:{d['area']}", d) for d in risk_docs]
        )

    def _risk(self, conn: Connection, now: datetime) -> list[dict[str, Any]]:
        """Recompute the social-risk index of every stadsdel and stadsdelsområde."""
        query = select(series.c.indicator, series.c.area, series.c.period, series.c.value).where(
            series.c.indicator.in_(sorted(self.risk_ids)),
            series.c.gender == TOTAL,
            series.c.value.is_not(None),
            series.c.area_level.in_([AreaLevel.STAD.value, *RISK_LEVELS]),
        )
        values, city = latest_city_inputs(self.catalog, [tuple(r) for r in conn.execute(query)])
        docs = [
            score.as_dict()
            for level in RISK_LEVELS
            for score in risk_index(self.catalog, values, city, AreaLevel(level))
        ]
        conn.execute(delete(risk_index_table))
        upsert(conn, risk_index_table, [_risk_row(d, now) for d in docs])
        return docs

    def _indicator(self, conn: Connection, indicator_id: str, now: datetime) -> dict[str, Any]:
        query = select(series.c.period, series.c.value).where(
            series.c.indicator == indicator_id,
            series.c.area == self.catalog.root,
            series.c.gender == TOTAL,
            series.c.value.is_not(None),
        )
        points = [Point(r.period, r.value) for r in conn.execute(query)]
        return indicator_summary(self.catalog, indicator_id, points, now, self.thresholds)

    def _stored_indicator_docs(self, conn: Connection) -> dict[str, dict[str, Any]]:
        query = select(indicator_status.c.indicator, indicator_status.c.document).where(
            indicator_status.c.area == self.catalog.root, indicator_status.c.gender == TOTAL
        )
        return {r.indicator: r.document for r in conn.execute(query)}

    def _stored_goal_docs(self, conn: Connection) -> dict[str, dict[str, Any]]:
        return {r.etappmal: r.document for r in conn.execute(select(etappmal_status))}

    def _area_values(self, conn: Connection) -> dict[str, dict[str, AreaValue]]:
        """Each stadsdelsnämnd area's latest value per indicator beside the city's, same period."""
        areas = [
            n.area for n in self.catalog.namnder if n.type is NamndType.STADSDELSNAMND and n.area
        ]
        query = select(series.c.indicator, series.c.area, series.c.period, series.c.value).where(
            series.c.area.in_([*areas, self.catalog.root]),
            series.c.gender == TOTAL,
            series.c.value.is_not(None),
        )
        values: dict[tuple[str, str], dict[str, float]] = {}
        for r in conn.execute(query):
            values.setdefault((r.indicator, r.area), {})[r.period] = r.value
        result: dict[str, dict[str, AreaValue]] = {}
        for (indicator, area), by_period in values.items():
            if area == self.catalog.root:
                continue
            city = values.get((indicator, self.catalog.root), {})
            common = [p for p in by_period if p in city] or list(by_period)
            period = max(common, key=lambda p: parse_period(p).sort_key)
            result.setdefault(area, {})[indicator] = AreaValue(
                period, by_period[period], city.get(period)
            )
        return result


def _status_row(doc: dict[str, Any], root: str, now: datetime) -> dict[str, Any]:
    return {
        "indicator": doc["indicator"],
        "area": root,
        "gender": TOTAL,
        "status": doc["status"],
        "trend": doc["trend"],
        "reason": doc["reason"],
        "stale": doc["stale"],
        "latest_period": doc["latest_period"],
        "latest_value": doc["latest_value"],
        "inputs": doc["inputs"],
        "document": doc,
        "computed_at": now,
    }


def _risk_row(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    groups = {g["group"]: g["score"] for g in doc["groups"]}
    return {
        "area": doc["area"],
        "area_level": doc["level"],
        **{group.value: groups.get(group.value) for group in RiskGroup},
        "composite": doc["score"],
        "rank": doc["rank"],
        "document": doc,
        "computed_at": now,
    }
