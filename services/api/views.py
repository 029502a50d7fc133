"""Answers assembled from the read model: SQL rows first, then plain dicts shaped as the schemas.

Statuses are the documents the aggregator stored: the city's (gender T) with the etappmål and
nämnder, every other area's and gender's per indicator (`shared.readmodel.area_status`; an
etappmål of those is judged here from them, a pure and cheap step). A status with no row has no
value. In a moment of the past (`projected` false) only the city's are stored: the others run the
same pure summaries (`shared.domain.summary`) here on that area's series, as of the moment. Before
the aggregator has written anything the same functions give every etappmål and nämnd with
`saknar_data`. `answer_keys` names the answer revisions each answer reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from services.api import queries
from shared.domain.catalog import TOTAL, Catalog
from shared.domain.documents import EtappmalDocument, IndikatorDocument
from shared.domain.summary import etappmal_summary, indikator_summary, namnd_summary
from shared.readmodel.revisions import areas_key, status_key

Document = dict[str, Any]


def status_keys(
    catalog: Catalog, area: str, gender: str, indicators: Iterable[str] | None = None
) -> list[str]:
    """The answer keys of the statuses of `indicators` (every one: None) of one area and gender."""
    if area == catalog.root and gender == TOTAL:
        ids = [i.id for i in catalog.indikatorer] if indicators is None else list(indicators)
        return [status_key(i) for i in ids]
    return [areas_key(area)]


def indikator_summaries(
    conn: Connection,
    catalog: Catalog,
    area: str,
    gender: str,
    now: datetime,
    projected: bool = True,
) -> dict[str, IndikatorDocument]:
    """Every indicator's summary for one area and gender: stored if any, else computed now (the
    city's before its first projection; another area's only when they are not `projected`,
    else a missing one has no value)."""
    stored = queries.indikator_documents(conn, area, gender)
    missing = [i.id for i in catalog.indikatorer if i.id not in stored]
    computed = (area == catalog.root and gender == TOTAL) or not projected
    found = queries.points(conn, area, gender, missing) if missing and computed else {}
    result: dict[str, IndikatorDocument] = {}
    for ind in catalog.indikatorer:
        if ind.id in stored:
            doc = stored[ind.id][0]
        else:
            doc = indikator_summary(catalog, ind.id, found.get(ind.id, []), now)
        result[ind.id] = doc | {"area": area, "gender": gender}
    return result


def etappmal_summaries(
    conn: Connection,
    catalog: Catalog,
    area: str,
    gender: str,
    now: datetime,
    indicators: dict[str, IndikatorDocument],
) -> dict[str, tuple[EtappmalDocument, datetime | None]]:
    """Every etappmål's summary and when the aggregator computed it (None: computed now)."""
    city = area == catalog.root and gender == TOTAL
    stored = queries.etappmal_documents(conn) if city else {}
    result: dict[str, tuple[EtappmalDocument, datetime | None]] = {}
    for goal in catalog.etappmal:
        doc, computed_at = stored.get(goal.id, (None, None))
        if doc is None:
            doc = etappmal_summary(catalog, goal.id, indicators)
        result[goal.id] = doc, computed_at
    return result


def etappmal_items(
    conn: Connection,
    catalog: Catalog,
    area: str,
    gender: str,
    now: datetime,
    projected: bool = True,
) -> list[Document]:
    """Every etappmål's status document for one area and gender, in catalog order."""
    indicators = indikator_summaries(conn, catalog, area, gender, now, projected)
    summaries = etappmal_summaries(conn, catalog, area, gender, now, indicators)
    items = []
    for goal in catalog.etappmal:
        doc, computed_at = summaries[goal.id]
        headline = next((i for i in doc["indicators"] if i.get("indicator") == goal.headline), None)
        items.append(
            {
                **doc,
                "indicators": [i | {"area": area, "gender": gender} for i in doc["indicators"]],
                "trend": headline.get("trend") if headline else None,
                "latest_period": headline.get("latest_period") if headline else None,
                "latest_value": headline.get("latest_value") if headline else None,
                "area": area,
                "gender": gender,
                "computed_at": computed_at,
            }
        )
    return items


def namnd_items(
    conn: Connection, catalog: Catalog, now: datetime, projected: bool = True
) -> list[Document]:
    """Every nämnd's rollup, in catalog order."""
    stored = queries.namnd_documents(conn)
    missing = [n.id for n in catalog.namnder if n.id not in stored]
    indicators: dict[str, IndikatorDocument] = {}
    goals: dict[str, EtappmalDocument] = {}
    if missing:
        indicators = indikator_summaries(conn, catalog, catalog.root, TOTAL, now, projected)
        summaries = etappmal_summaries(conn, catalog, catalog.root, TOTAL, now, indicators)
        goals = {goal_id: doc for goal_id, (doc, _) in summaries.items()}
    items = []
    for namnd in catalog.namnder:
        doc, computed_at = stored.get(namnd.id, (None, None))
        if doc is None:
            doc = namnd_summary(catalog, namnd.id, indicators, goals, {})
        items.append({**doc, "computed_at": computed_at})
    return items


def indikator_items(
    conn: Connection,
    catalog: Catalog,
    entries: dict[str, Document],
    area: str,
    gender: str,
    now: datetime,
    projected: bool = True,
) -> list[Document]:
    """Every indicator: its catalog entry with its status for one area and gender."""
    summaries = indikator_summaries(conn, catalog, area, gender, now, projected)
    items = []
    for ind in catalog.indikatorer:
        doc = summaries[ind.id]
        items.append(
            entries[ind.id]
            | {k: doc.get(k) for k in _STATUS_FIELDS}
            | {
                "baseline": doc.get("baseline"),
                "target": doc.get("target"),
                "responsible": doc.get("responsible") or entries[ind.id]["responsible"],
                "etappmal": [g.id for g in catalog.goals_of_indicator(ind.id)],
                "inputs": doc.get("inputs") or {},
                "published": doc.get("published", True),
                "area": area,
                "gender": gender,
            }
        )
    return items


_STATUS_FIELDS = (
    "status",
    "trend",
    "reason",
    "stale",
    "latest_period",
    "latest_value",
    "newest_period_age_seconds",
    "periods",
)
