"""Derived projections written in a transaction of their own or of the batch they come from.

After a batch: the status of every indicator whose city total changed, then the etappmål they belong
to, every nämnd's rollup and, when a risk indicator's totals changed, the social-risk index. Each is
a pure function of rows already committed to the read model (`shared.domain.summary`,
`shared.domain.risk`), so running it twice, or later, gives the same rows. Every projection bumps
`read_model_state` (its revision and `refreshed_at`), so readers see it in that one row, and the
answer keys it changed (`shared.readmodel.revisions`: `status:<indicator>`, `namnder`, `risk`).

The statuses of every other area and gender (`shared.readmodel.area_status`) are projected for
the (indicator, area, gender) whose rows changed, at most once per `area_interval` (5 s) under
load and at once when the stream goes idle, so they lag the city's by up to that; the refresh
timer projects all of them again (staleness moves with time).

Under load they are throttled: the projector collects what batches changed and projects at most
once per `interval`, inside the transaction of the batch that is due; the aggregator flushes what is
left as soon as the stream goes idle (`flush`), and after every partition assignment it projects
everything once (`mark_all`), so the work a crashed worker left pending is never lost. On
PostgreSQL one advisory lock serialises projections across workers: each reads every commit made
before it, so the last projection to run sees the final state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Select, and_, bindparam, case, delete, func, select, text

from shared.db.schema import etappmal_status, indicator_status, namnd_rollup, series
from shared.db.schema import risk_index as risk_index_table
from shared.db.upsert import upsert
from shared.domain.areas import last_day
from shared.domain.catalog import TOTAL, AreaLevel, Catalog, NamndType, RiskGroup
from shared.domain.documents import EtappmalDocument, IndikatorDocument, RiskDocument
from shared.domain.observation import utcnow
from shared.domain.risk import eligible, latest_city_inputs, risk_index
from shared.domain.status import DEFAULT_THRESHOLDS, Point, Thresholds
from shared.domain.summary import (
    AreaValue,
    etappmal_summary,
    indikator_summary,
    namnd_summary,
)
from shared.readmodel.area_status import (
    ALL_AREAS,
    Projected,
    Triple,
    all_triples,
    project_area_statuses,
    status_row,
)
from shared.readmodel.profiles import Pair, all_pairs, project_profiles
from shared.readmodel.revisions import (
    NAMNDER,
    RISK,
    areas_key,
    bump_answers,
    profile_key,
    risk_key,
    status_key,
)
from shared.readmodel.store import BatchResult, bump_state

AREA_INTERVAL = 5.0  # the aggregator's seconds between projections of other areas' statuses
# Most (indicator, area, gender) statuses one projection recomputes (about 0.3 s here): the rest
# wait for the next one, so under a heavy load other areas lag more instead of stalling batches.
AREA_BATCH = 500
# The aggregator's seconds between refreshes of every other area's status (staleness moves with
# time, by days; the city's are refreshed every STADSPULS_AGGREGATE_REFRESH_SECONDS).
AREA_REFRESH = 3600.0
RISK_LEVELS = (AreaLevel.STADSDELSOMRADE.value, AreaLevel.STADSDEL.value)
PROJECTION_LOCK = 0x5354_5052  # pg_advisory_xact_lock key of the projections ("STPR")


class Projector:
    """Recomputes the summaries that depend on what batches changed; throttled by `interval`.

    With `every_area` (the aggregator's) the statuses of every other area and gender are
    projected too (`shared.readmodel.area_status`), at most once per `area_interval`: a moment
    of the past (`services.api.past`) has them computed on request instead.
    """

    def __init__(
        self,
        catalog: Catalog,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        interval: float = 0.0,
        every_area: bool = True,
        area_interval: float = 0.0,
    ) -> None:
        self.catalog = catalog
        self.thresholds = thresholds
        self.risk_ids = {i.id for i in eligible(catalog)}
        self.interval = interval
        self.every_area = every_area
        self.area_interval = area_interval
        self.pending: set[str] = set()  # indicators some of whose totals changed, not yet projected
        self.pending_areas: set[Triple] = set()  # other statuses whose rows changed, likewise
        self.pending_profiles: set[Pair] = set()  # area profiles whose inputs changed, likewise
        self._profiles_of = {  # every profile of one gender: the city's rows of it changed
            g: {(a, gg) for a, gg in all_pairs(catalog) if gg == g} for g in ("T", "K", "M")
        }
        # statuses this projector computed and the profiles have not been projected from yet
        # (a projection's writes may be deferred to its end, so they cannot be read back)
        self._fresh: dict[Triple, IndikatorDocument | None] = {}
        self.area_batch: int | None = None  # most pending ones per projection (None: all)
        self._all_areas = False  # every other status is due (after an assignment)
        self._last = -float("inf")
        self._area_last = -float("inf")
        # the last risk index computed and the rows it was computed from
        self._risk_memo: tuple[tuple[Any, ...], list[RiskDocument], bool] | None = None

    def __call__(self, conn: Connection, result: BatchResult) -> None:
        """Run inside the batch's transaction; the documents go on `result` for the rollups topic."""
        self.mark_changed((i, a, g) for i, a, _, g in result.changed)
        city, documents = self.project_city_due(conn)
        if city:
            result.documents = documents
        result.projected |= city | self.project_areas_due(conn)

    def mark_changed(self, changed: Iterable[Triple]) -> None:
        """Rows of these (indicator, area, gender) changed: their summaries are pending."""
        changed = list(changed)
        self.pending |= {i for i, _, g in changed if g == TOTAL}
        if self.every_area:
            root = self.catalog.root
            self.pending_areas |= {(i, a, g) for i, a, g in changed if a != root or g != TOTAL}
            # a profile compares its area with the city: the city's rows are every one's input
            for g in {g for _, a, g in changed if a == root}:
                self.pending_profiles |= self._profiles_of.get(g, set())

    def project_city_due(
        self, conn: Connection
    ) -> tuple[set[str], list[tuple[str, dict[str, Any]]]]:
        """Project the city's pending summaries if `interval` has passed; what and the documents."""
        if not self.pending or time.monotonic() - self._last < self.interval:
            return set(), []
        projected = set(self.pending)
        return projected, self._project(conn, set(projected))

    def project_areas_due(self, conn: Connection) -> set[Projected]:
        """Project other areas' pending statuses if `area_interval` has passed; return what."""
        if not self._areas_due() or time.monotonic() - self._area_last < self.area_interval:
            return set()
        return self._project_areas(conn, utcnow())

    def flush(self, conn: Connection) -> tuple[set[Projected], list[tuple[str, dict[str, Any]]]]:
        """Project everything pending now (the stream is idle); return what and the documents."""
        projected: set[Projected] = set(self.pending)
        documents = self._project(conn, self.pending) if self.pending else []
        if self._areas_due():
            projected |= self._project_areas(conn, utcnow())
        return projected, documents

    def done(self, projected: Iterable[Projected]) -> None:
        """The projection of `projected` committed: they are no longer pending."""
        for item in projected:
            if isinstance(item, str):
                self.pending.discard(item)
            elif item == ALL_AREAS:
                self._all_areas = False
            elif len(item) == 2:
                self.pending_profiles.discard(item)
            else:
                self.pending_areas.discard(item)

    def mark_all(self) -> None:
        """Project every indicator next time (after an assignment: other workers' work may wait)."""
        self.pending |= set(self.catalog.indicator)
        self._all_areas = self.every_area
        if self.every_area:
            self.pending_profiles |= all_pairs(self.catalog)
        self._last = self._area_last = -float("inf")

    def mark_areas(self, conn: Connection) -> None:
        """Every other area's status is due again, projected `area_batch` at a time."""
        if self.every_area:
            self.pending_areas |= all_triples(conn, self.catalog.root)

    def _areas_due(self) -> bool:
        return self.every_area and (
            self._all_areas or bool(self.pending_areas) or bool(self.pending_profiles)
        )

    def _project(self, conn: Connection, indicators: set[str]) -> list[tuple[str, dict[str, Any]]]:
        self._last = time.monotonic()
        return self.refresh(conn, indicators, utcnow())

    def _project_areas(self, conn: Connection, now: datetime) -> set[Projected]:
        """Project the pending statuses of other areas (all when due); return what was."""
        self._area_last = time.monotonic()
        if self._all_areas and self.area_batch is None:
            profiles = self.refresh_areas(conn, None, now)
            return {*self.pending_areas, ALL_AREAS, *profiles}
        projected: set[Projected] = set()
        if self._all_areas:  # every one, named: then a batch of them at a time
            self.pending_areas |= all_triples(conn, self.catalog.root)
            projected.add(ALL_AREAS)
        chosen = sorted(self.pending_areas)[: self.area_batch]
        profiles = self.refresh_areas(conn, chosen, now)
        return projected | set(chosen) | profiles

    @property
    def idle_work(self) -> bool:
        """Something is still pending after a flush (other areas beyond one `area_batch`)."""
        return bool(self.pending) or self._areas_due()

    def refresh_areas(
        self, conn: Connection, triples: Iterable[Triple] | None, now: datetime
    ) -> set[Pair]:
        """Recompute the statuses of other areas: of `triples`, or of every one (None); then the
        profiles of their areas and every pending one (every profile: None). Return the
        profiles projected."""
        _lock(conn)
        chosen = None if triples is None else list(triples)
        areas, docs = project_area_statuses(conn, self.catalog, self.thresholds, chosen, now)
        self._fresh.update(docs)
        pairs = None if chosen is None else self.pending_profiles | {(a, g) for _, a, g in chosen}
        profiles = project_profiles(conn, self.catalog, pairs, self._fresh, now)
        self._fresh.clear()
        if areas or profiles:
            bump_state(conn, refreshed_at=now)
            keys = {areas_key(a) for a in areas} | {profile_key(a, g) for a, g in profiles}
            bump_answers(conn, keys, now)
        return all_pairs(self.catalog) if pairs is None else pairs

    def refresh(
        self, conn: Connection, indicators: Iterable[str], now: datetime
    ) -> list[tuple[str, dict[str, Any]]]:
        """Recompute indicator, etappmål, nämnd and risk summaries; return (rollup id, document)s."""
        touched = sorted(set(indicators) & set(self.catalog.indicator))
        if not touched:
            return []
        _lock(conn)
        ind_docs = {i: self._indikator_summary(conn, i, now) for i in touched}
        if self.every_area:  # the city's profile shows them
            root = self.catalog.root
            self._fresh.update({(i, root, TOTAL): d for i, d in ind_docs.items()})
            self.pending_profiles.add((root, TOTAL))
        upsert(
            conn,
            indicator_status,
            [status_row(d, self.catalog.root, TOTAL, now) for d in ind_docs.values()],
        )
        goals = sorted({g.id for i in touched for g in self.catalog.goals_of_indicator(i)})
        all_docs = self._stored_indikator_docs(conn) | ind_docs
        goal_docs = {g: etappmal_summary(self.catalog, g, all_docs) for g in goals}
        upsert(
            conn,
            etappmal_status,
            [_etappmal_row(g, d, now) for g, d in goal_docs.items()],
        )
        all_goals = self._stored_etappmal_docs(conn) | goal_docs
        area_values = self._area_values(conn)
        namnd_docs = {
            n.id: namnd_summary(
                self.catalog, n.id, all_docs, all_goals, area_values.get(n.area or "", {})
            )
            for n in self.catalog.namnder
        }
        upsert(
            conn,
            namnd_rollup,
            [
                {
                    "namnd": n,
                    "counts": d["counts"],
                    "document": d,
                    "preliminary": not d["published"],
                    "computed_at": now,
                }
                for n, d in namnd_docs.items()
            ],
        )
        risk = self._risk(conn, now) if self.risk_ids & set(touched) else None
        risk_docs, risk_areas = risk or ([], set())
        bump_state(conn, refreshed_at=now)  # answers changed, perhaps without a batch: new ETags
        risky = {RISK} | {risk_key(a) for a in risk_areas} if risk is not None else set()
        bump_answers(conn, {status_key(i) for i in touched} | {NAMNDER} | risky, now)
        documents: list[tuple[str, Mapping[str, Any]]] = [
            *((f"indikator:{i}", d) for i, d in ind_docs.items()),
            *((f"etappmal:{g}", d) for g, d in goal_docs.items()),
            *((f"namnd:{n}", d) for n, d in namnd_docs.items()),
            *((f"risk:{d['area']}", d) for d in risk_docs),
        ]
        return cast(list[tuple[str, dict[str, Any]]], documents)  # the store takes any document

    def _risk(self, conn: Connection, now: datetime) -> tuple[list[RiskDocument], set[str]] | None:
        """Recompute the social-risk index of every stadsdel and stadsdelsområde; return it and
        the areas whose row changed, or None when it is what the table holds (a risk indicator's
        older period changed, say). Only the rows that changed are written (an area's row keeps
        its `computed_at` while it stays the same), so the answers that read only unchanged
        rows (an area profile reads its own) keep their revision."""
        docs, preliminary = self.risk_documents(conn)
        t = risk_index_table.c
        stored = {
            r.area: (r.document, r.preliminary)
            for r in conn.execute(select(t.area, t.document, t.preliminary))
        }
        changed = [d for d in docs if stored.get(d["area"]) != (d, preliminary)]
        gone = sorted(set(stored) - {d["area"] for d in docs})
        if not changed and not gone:
            return None
        if gone:
            conn.execute(delete(risk_index_table).where(t.area.in_(gone)))
        upsert(conn, risk_index_table, [_risk_row(d, now, preliminary) for d in changed])
        return docs, {d["area"] for d in changed} | set(gone)

    def risk_documents(self, conn: Connection) -> tuple[list[RiskDocument], bool]:
        """The social-risk index of every stadsdel and stadsdelsområde, and whether it is
        preliminary (read, not written)."""
        # Only each risk indicator's latest city period counts (`latest_city_inputs`): read just
        # that period's rows, by primary key, not the whole history. Within one indicator (one
        # period type) period_start orders periods as parse_period does and tells them apart.
        newest = (
            select(series.c.indicator, func.max(series.c.period_start).label("start"))
            .where(
                series.c.indicator.in_(sorted(self.risk_ids)),
                series.c.area == self.catalog.root,
                series.c.gender == TOTAL,
                series.c.value.is_not(None),
            )
            .group_by(series.c.indicator)
            .subquery()
        )
        root = series.alias("root")
        latest = (
            select(root.c.indicator, root.c.period)
            .join(
                newest,
                and_(root.c.indicator == newest.c.indicator, root.c.period_start == newest.c.start),
            )
            .where(root.c.area == self.catalog.root, root.c.gender == TOTAL)
            .order_by(root.c.indicator)
        )
        levels = {AreaLevel.STAD, *(AreaLevel(level) for level in RISK_LEVELS)}
        areas = sorted(a.id for a in self.catalog.omraden if a.level in levels)
        # One statement per (indicator, latest period), so that every area's row is found by its
        # whole primary key; joined in one query, SQLite walked every period of every area.
        query = select(
            series.c.indicator,
            series.c.area,
            series.c.period,
            series.c.value,
            series.c.preliminary,
        ).where(
            series.c.indicator == bindparam("indicator"),
            series.c.period == bindparam("period"),
            series.c.area.in_(bindparam("areas", expanding=True)),
            series.c.gender == TOTAL,
            series.c.value.is_not(None),
        )
        found = [
            tuple(row)
            for indicator, period in conn.execute(latest).all()
            for row in conn.execute(
                query, {"indicator": indicator, "period": period, "areas": areas}
            )
        ]
        key = tuple(found)
        if self._risk_memo is not None and self._risk_memo[0] == key:
            return self._risk_memo[1], self._risk_memo[2]  # a pure function of these rows
        values, city = latest_city_inputs(self.catalog, [r[:4] for r in found])
        # every score and rank is relative to the city and the other areas: one preliminary input
        # makes the whole index preliminary
        preliminary = any(r[4] for r in found)
        # the areas scored are those of the newest city period's tree (no former ones)
        on = max((last_day(r[2]) for r in found if r[1] == self.catalog.root), default=None)
        docs = [
            score.as_dict()
            for level in RISK_LEVELS
            for score in risk_index(self.catalog, values, city, AreaLevel(level), on)
        ]
        self._risk_memo = (key, docs, preliminary)
        return docs, preliminary

    def _indikator_summary(
        self, conn: Connection, indicator_id: str, now: datetime
    ) -> IndikatorDocument:
        c = series.c
        query = select(c.period, c.value, c.origin, c.coverage, c.preliminary).where(
            c.indicator == indicator_id,
            c.area == self.catalog.root,
            c.gender == TOTAL,
            c.value.is_not(None),
        )
        points = [Point.of(*r) for r in conn.execute(query)]
        return indikator_summary(self.catalog, indicator_id, points, now, self.thresholds)

    def _stored_indikator_docs(self, conn: Connection) -> dict[str, IndikatorDocument]:
        query = select(indicator_status.c.indicator, indicator_status.c.document).where(
            indicator_status.c.area == self.catalog.root, indicator_status.c.gender == TOTAL
        )
        return {r.indicator: r.document for r in conn.execute(query)}

    def _stored_etappmal_docs(self, conn: Connection) -> dict[str, EtappmalDocument]:
        return {r.etappmal: r.document for r in conn.execute(select(etappmal_status))}

    def _area_values(self, conn: Connection) -> dict[str, dict[str, AreaValue]]:
        """Each stadsdelsnämnd area's latest value per indicator beside the city's, same period."""
        result: dict[str, dict[str, AreaValue]] = {}
        for r in conn.execute(self.area_values_query()):
            result.setdefault(r.area, {})[r.indicator] = AreaValue(
                r.period, r.value, r.city_value, not r.preliminary
            )
        return result

    def area_values_query(self) -> Select[Any]:
        """The query of `_area_values`: the latest period the city also has a value for, else
        the area's latest, ranked in SQL so that one row per (indicator, area) comes back,
        however long the history (on PostgreSQL planned well only from statistics:
        `shared.db.statistics`)."""
        areas = [
            n.area for n in self.catalog.namnder if n.type is NamndType.STADSDELSNAMND and n.area
        ]
        own, city = series.alias("own"), series.alias("city")
        joined = own.outerjoin(
            city,
            and_(
                city.c.indicator == own.c.indicator,
                city.c.area == self.catalog.root,
                city.c.period == own.c.period,
                city.c.gender == TOTAL,
                city.c.value.is_not(None),
            ),
        )
        rank = func.row_number().over(
            partition_by=(own.c.indicator, own.c.area),
            order_by=(case((city.c.value.is_(None), 1), else_=0), own.c.period_start.desc()),
        )
        ranked = (
            select(
                own.c.indicator,
                own.c.area,
                own.c.period,
                own.c.value,
                city.c.value.label("city_value"),
                (own.c.preliminary | func.coalesce(city.c.preliminary, False)).label("preliminary"),
                rank.label("rank"),
            )
            .select_from(joined)
            .where(
                own.c.indicator.in_(sorted(self.catalog.indicator)),
                own.c.area.in_(areas),
                own.c.gender == TOTAL,
                own.c.value.is_not(None),
            )
            .subquery()
        )
        return select(ranked).where(ranked.c.rank == 1)


def _etappmal_row(goal: str, doc: EtappmalDocument, now: datetime) -> dict[str, Any]:
    return {
        "etappmal": goal,
        "status": doc["status"],
        "counts": doc["counts"],
        "document": doc,
        "preliminary": not doc["published"],
        "computed_at": now,
    }


def _risk_row(doc: RiskDocument, now: datetime, preliminary: bool) -> dict[str, Any]:
    groups = {g["group"]: g["score"] for g in doc["groups"]}
    return {
        "area": doc["area"],
        "area_level": doc["level"],
        **{group.value: groups.get(group.value) for group in RiskGroup},
        "composite": doc["score"],
        "rank": doc["rank"],
        "document": doc,
        "preliminary": preliminary,
        "computed_at": now,
    }


def _lock(conn: Connection) -> None:
    """Serialise projections across workers (PostgreSQL; see the module's docstring)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PROJECTION_LOCK})
