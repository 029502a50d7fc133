"""The PxWeb connector: every table mapped to an indicator of its source, fetched whole when it changed.

The cursor keeps, per table, the `updated` the server gave, a fingerprint of the mappings that read
it and the series it produced with their observation ids: an unchanged table under unchanged
mappings is not fetched again, and a series a re-fetched table no longer gives is retracted.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import httpx
import orjson

from services.ingest.connectors.base import Cursor, Pulled, Refusal, derived_id
from services.ingest.connectors.pxweb.fetch import PxWebHttp
from services.ingest.connectors.pxweb.pacing import Clock, PxWebLimits, Sleep
from services.ingest.connectors.pxweb.plan import Plan, plan
from services.ingest.connectors.pxweb.query import split
from services.ingest.connectors.pxweb.rows import Mapped, map_rows, updated_at
from services.ingest.connectors.pxweb.tables import PxWebTables
from shared.domain.catalog import Catalog, Indikator
from shared.domain.mappings.pxweb import PxWebMapping, mappings_of

Group = list[tuple[Indikator, PxWebMapping]]


class PxWebConnector:
    """Pulls the PxWeb tables mapped (`pxweb:`) to the indicators of one catalog source."""

    def __init__(
        self,
        source: str,
        catalog: Catalog,
        client: httpx.AsyncClient,
        limits: PxWebLimits | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        lang: str = "sv",
    ) -> None:
        self._source, self.catalog, self.client = source, catalog, client
        self.limits = limits or PxWebLimits()
        self.clock, self.sleep, self.lang = clock, sleep, lang

    @property
    def source(self) -> str:
        """The catalog source this connector publishes as."""
        return self._source

    def tables(self) -> dict[str, Group]:
        """The source's mappings grouped by the table they read."""
        groups: dict[str, Group] = {}
        for ind in self.catalog.indikatorer:
            for m in mappings_of(ind):
                if m.source == self._source:
                    groups.setdefault(m.key, []).append((ind, m))
        return groups

    async def pull(self, cursor: Cursor | None, since: date | None) -> Pulled:
        """Fetch every mapped table that changed since `cursor` (or was updated on or after `since`)."""
        tables = PxWebTables(PxWebHttp(self.client, self.limits, self.clock, self.sleep), self.lang)
        before = _tables_of(cursor)
        after = dict(before)
        out = Mapped()
        for key, group in self.tables().items():
            updated = await tables.updated(group[0][1])
            marks = _fingerprint(group)
            kept = before.get(key, {})
            if not _due(updated, marks, kept, since):
                continue
            mapped, plans, stamps = Mapped(), [], [updated_at(updated)]
            for ind, m in group:
                resolved = plan(m, await tables.table(m), ind.period_type)
                plans.append((ind, resolved))
                mapped.refused += [
                    Refusal(f"{m.table} {m.time}={code}", "bad_period", _no_period(code, ind))
                    for code in resolved.unreadable_times
                ]
                for query in split(resolved.selection(), self.limits.cells):
                    ds = await tables.data(m, query)
                    stamps.append(updated_at(ds.updated or updated))
                    map_rows(self._source, ind.id, resolved, query, ds, stamps[-1], mapped)
            old = kept.get("series", {}) if isinstance(kept.get("series"), dict) else {}
            # A retraction is as new as the newest stamp of the answers that no longer hold the series.
            stamp = max((s for s in stamps if s is not None), default=None)
            mapped.rows += _retractions(self._source, key, old, mapped.series, plans, stamp)
            after[key] = {"updated": updated, "mappings": marks, "series": mapped.series}
            out.rows += mapped.rows
            out.refused += mapped.refused
            out.skipped += mapped.skipped
            out.fetched += mapped.fetched
        return Pulled(out.rows, {"tables": after}, out.fetched, out.refused, out.skipped)


def _tables_of(cursor: Cursor | None) -> dict[str, dict[str, Any]]:
    tables = (cursor or {}).get("tables")
    if not isinstance(tables, Mapping):
        return {}
    return {str(k): dict(v) for k, v in tables.items() if isinstance(v, Mapping)}


def _fingerprint(group: Group) -> str:
    text = orjson.dumps(
        [[ind.id, ind.period_type.value, m.model_dump(mode="json")] for ind, m in group],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(text).hexdigest()[:16]


def _due(updated: str | None, marks: str, kept: Mapping[str, Any], since: date | None) -> bool:
    if since is not None:
        stamp = updated_at(updated)
        return stamp is None or datetime.fromisoformat(stamp).date() >= since
    return updated is None or kept.get("updated") != updated or kept.get("mappings") != marks


def _no_period(code: str, ind: Indikator) -> str:
    return f"time {code!r} is not a {ind.period_type.value} period of {ind.id!r}"


def _retractions(
    source: str,
    key: str,
    old: Mapping[str, Any],
    new: Mapping[str, str],
    plans: list[tuple[Indikator, Plan]],
    stamp: str | None,
) -> list[dict[str, object]]:
    """Retract the series the table gave before and no longer does, where the mapping still reads them."""
    still = {(ind.id, p.mapping.areas[code]) for ind, p in plans for code in p.regions}
    rows: list[dict[str, object]] = []
    for series, observation_id in sorted(old.items()):
        indicator, area, period, gender = series.split("|")
        if series in new or (indicator, area) not in still:
            continue
        row: dict[str, object] = {
            "indicator": indicator,
            "area": area,
            "period": period,
            "gender": gender,
            "retract": True,
            "observation_id": derived_id(source, key, series, "retract", observation_id),
        }
        if stamp is not None:
            row["updated_at"] = stamp
        rows.append(row)
    return rows
