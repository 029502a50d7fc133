"""Statuses of every area and gender other than the city's total, projected from the series rows.

The city's total statuses are projected with the etappmål and nämnder they feed
(`shared.readmodel.projections`); the others are a row each of `indicator_status` per
(indicator, area, gender) with a value, the same pure `indikator_summary` of that series. Only the
(indicator, area, gender) whose rows changed are computed again; one without a value any more loses
its row (a reader judges a missing row as no data). Each projection bumps `areas:<area>` of the
areas it rewrote, so only their answers move on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, not_, or_, select

from shared.db.schema import indicator_status, series
from shared.db.upsert import chunks, upsert
from shared.domain.catalog import TOTAL, Catalog
from shared.domain.documents import IndikatorDocument
from shared.domain.status import Point, Thresholds
from shared.domain.summary import indikator_summary, status_fields

Triple = tuple[str, str, str]  # (indicator, area, gender)
ALL_AREAS: Triple = ("*", "*", "*")  # in what was projected: every other area's statuses
# an indicator (its city summaries), one other area's status or one (area, gender) profile
Projected = str | Triple | tuple[str, str]


def status_row(doc: IndikatorDocument, area: str, gender: str, now: datetime) -> dict[str, Any]:
    """The `indicator_status` row of one summary."""
    return {
        "indicator": doc["indicator"],
        "area": area,
        "gender": gender,
        **{k: v for k, v in status_fields(doc).items() if k != "published"},
        "inputs": doc["inputs"],
        "document": doc,
        "preliminary": not doc["published"],
        "computed_at": now,
    }


def all_triples(conn: Connection, root: str) -> set[Triple]:
    """Every (indicator, area, gender) other than the city's total that has rows or a status."""
    found: set[Triple] = set()
    for table in (series, indicator_status):
        t = table.c
        query = select(t.indicator, t.area, t.gender).distinct()
        query = query.where(not_(and_(t.area == root, t.gender == TOTAL)))
        found |= {(i, a, g) for i, a, g in conn.execute(query)}
    return found


def project_area_statuses(
    conn: Connection,
    catalog: Catalog,
    thresholds: Thresholds,
    triples: Iterable[Triple] | None,
    now: datetime,
) -> tuple[set[str], dict[Triple, IndikatorDocument | None]]:
    """Recompute the statuses of `triples` (None: every area's); return the areas rewritten and
    what each status became (None: deleted), for what is projected from them in the same
    transaction (its writes may be deferred, `shared.readmodel.deferred`)."""
    found = _points(conn, catalog, triples)
    docs: dict[Triple, IndikatorDocument | None] = {
        key: indikator_summary(catalog, key[0], pts, now, thresholds)
        for key, pts in sorted(found.items())
    }
    rows = [status_row(doc, a, g, now) for (_, a, g), doc in docs.items() if doc is not None]
    upsert(conn, indicator_status, rows)
    t = indicator_status.c
    not_city = not_(and_(t.area == catalog.root, t.gender == TOTAL))
    if triples is None:
        stored = {
            (r.indicator, r.area, r.gender)
            for r in conn.execute(select(t.indicator, t.area, t.gender).where(not_city))
        }
        gone = stored - set(found)
    else:
        gone = {k for k in triples if k not in found}
    for part in chunks(sorted(gone), 100):  # an OR of pairs: kept short
        conn.execute(
            delete(indicator_status).where(
                or_(*(and_(t.indicator == i, t.area == a, t.gender == g) for i, a, g in part))
            )
        )
    docs.update(dict.fromkeys(gone))
    return {a for _, a, _ in found} | {a for _, a, _ in gone}, docs


def _points(
    conn: Connection, catalog: Catalog, triples: Iterable[Triple] | None
) -> dict[Triple, list[Point]]:
    """Every value of the series of `triples` (None: of every area but the city's total)."""
    c = series.c
    columns = (
        c.indicator,
        c.area,
        c.gender,
        c.period,
        c.value,
        c.origin,
        c.coverage,
        c.preliminary,
    )
    found: dict[Triple, list[Point]] = {}

    def add(rows: Iterable[Any]) -> None:
        for i, a, g, period, value, origin, coverage, preliminary in rows:
            point = Point.of(period, float(value), origin, coverage, preliminary)
            found.setdefault((i, a, g), []).append(point)

    if triples is None:
        add(
            conn.execute(
                select(*columns).where(
                    c.value.is_not(None),
                    c.indicator.in_(sorted(catalog.indicator)),
                    not_(and_(c.area == catalog.root, c.gender == TOTAL)),
                )
            )
        )
        return found
    wanted: dict[tuple[str, str], set[str]] = {}
    for i, a, g in triples:
        if i in catalog.indicator and not (a == catalog.root and g == TOTAL):
            wanted.setdefault((i, g), set()).add(a)
    # one statement for every group, compiled once: its areas are an expanding parameter
    query = select(*columns).where(
        c.value.is_not(None),
        c.indicator == bindparam("indicator"),
        c.gender == bindparam("gender"),
        c.area.in_(bindparam("areas", expanding=True)),
    )
    for (i, g), areas in sorted(wanted.items()):
        for part in chunks(sorted(areas)):
            add(conn.execute(query, {"indicator": i, "gender": g, "areas": part}))
    return found
