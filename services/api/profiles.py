"""Areas and area profiles: latest value per indicator, gap to the city, the area's own status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from services.api import queries
from shared.domain.catalog import Catalog, NamndType
from shared.domain.rollup import FOKUSOMRADEN, VIRTUAL, YTTERSTADEN
from shared.domain.status import Point
from shared.domain.summary import indikator_summary
from shared.readmodel.revisions import rows_key

Document = dict[str, Any]
_LISTS = ("missing_indicators", "missing_groups", "groups")
VIRTUAL_AREAS = {YTTERSTADEN: "Ytterstaden", FOKUSOMRADEN: "Fokusområden"}
RISK_COLUMNS = (
    "sociala_riskfaktorer",
    "halsa",
    "sakerhet_trygghet",
    "forsorjning",
    "composite",
    "rank",
    "computed_at",
)
RISK_DETAILS = ("out_of", "n_indicators", "n_groups", *_LISTS)


def known_areas(catalog: Catalog) -> frozenset[str]:
    """Every area id the read model can hold: the catalog's and the virtual ones."""
    return frozenset(a.id for a in catalog.omraden) | frozenset(VIRTUAL_AREAS)


def omrade_items(
    conn: Connection, catalog: Catalog, on: date | None = None, only: str | None = None
) -> list[Document]:
    """Every area with its owning nämnd and social-risk index, catalog order, virtual last.

    Former areas too, with their validity; `on` keeps the tree of that day (parents of then);
    `only` keeps that one area (a profile's).
    """
    risk = queries.risk_rows(conn, only)
    owners = {
        n.area: n.id
        for n in catalog.namnder
        if n.type is NamndType.STADSDELSNAMND and n.area is not None
    }
    items: list[Document] = []
    tree = None if on is None else catalog.trees.on(on)
    for area in catalog.omraden:
        if (tree is not None and area.id not in tree.valid) or only not in (None, area.id):
            continue
        links = [link.model_dump(mode="json") for link in area.links]
        item = area.model_dump(mode="json") | {"namnd": owners.get(area.id), "parents": links}
        if tree is not None:
            item["parent"] = tree.parent.get(area.id)
        items.append(item)
    for area_id, name in VIRTUAL_AREAS.items():
        if only not in (None, area_id):
            continue
        items.append(
            {
                "id": area_id,
                "name": name,
                "level": VIRTUAL,
                "parent": None,
                "ytterstad": area_id == YTTERSTADEN,
                "fokus": area_id == FOKUSOMRADEN,
                "code": None,
                "namnd": None,
                "valid_from": None,
                "valid_to": None,
                "parents": [],
            }
        )
    for item in items:
        row = risk.get(item["id"], {})
        document = row.get("document") or {}
        item["risk"] = {k: row.get(k) for k in RISK_COLUMNS} | {
            k: document.get(k, [] if k in _LISTS else None) for k in RISK_DETAILS
        }
        item["risk"]["preliminary"] = bool(row.get("preliminary", False))
    return items


def _points(rows: list[dict[str, Any]]) -> list[Point]:
    return [
        Point.of(r["period"], float(r["value"]), r["origin"], r["coverage"], r["preliminary"])
        for r in rows
    ]


def profile_keys(catalog: Catalog, area: str, gender: str) -> list[str]:
    """The answer keys an area profile reads: its and the city's rows, its statuses."""
    from services.api.views import status_keys

    return [rows_key(area), rows_key(catalog.root), *status_keys(catalog, area, gender)]


def profile_rows(
    conn: Connection,
    catalog: Catalog,
    area: str,
    level: str,
    gender: str,
    now: datetime,
    projected: bool = True,
) -> list[Document]:
    """One row per indicator reported at the area's level or with data for it, catalog order.

    The status is the projected one (`projected`), else computed now from the area's rows.
    """
    stored = queries.indikator_documents(conn, area, gender) if projected else {}
    rows = queries.latest_rows(conn, sorted({area, catalog.root}), gender)
    mine: dict[str, list[dict[str, Any]]] = {}
    city: dict[tuple[str, str], tuple[float, bool]] = {}
    for row in rows:
        if row["area"] == area:
            mine.setdefault(row["indicator"], []).append(row)
        if row["area"] == catalog.root:
            city[(row["indicator"], row["period"])] = (
                float(row["value"]),
                bool(row["preliminary"]),
            )
    result = []
    for ind in catalog.indikatorer:
        own = mine.get(ind.id, [])
        if not own and level not in {lv.value for lv in ind.area_levels}:
            continue
        latest = max(own, key=lambda r: (r["period_start"], r["period"]), default=None)
        found = stored.get(ind.id)  # not yet projected: its rows say (they are among its keys)
        summary = found[0] if found else indikator_summary(catalog, ind.id, _points(own), now)
        value = None if latest is None else float(latest["value"])
        city_value, city_preliminary = (
            (None, False) if latest is None else city.get((ind.id, latest["period"]), (None, False))
        )
        gap = None if value is None or city_value is None else value - city_value
        result.append(
            {
                "indicator": ind.id,
                "name": ind.name,
                "unit": ind.unit,
                "direction": ind.direction.value,
                "area": area,
                "gender": gender,
                "period": latest["period"] if latest else None,
                "value": value,
                "numerator": latest["numerator"] if latest else None,
                "denominator": latest["denominator"] if latest else None,
                "origin": latest["origin"] if latest else None,
                "city_value": city_value,
                "gap": gap,
                "compared_to_city": _compare(gap, ind.direction.sign),
                "status": summary["status"],
                "trend": summary["trend"],
                "inputs": summary["inputs"],
                "received_at": latest["received_at"] if latest else None,
                # read by `redaction.profile_row`, which replaces them with `published`
                "value_preliminary": bool(latest and latest["preliminary"]),
                "city_preliminary": city_preliminary,
                "status_preliminary": not summary["published"],
            }
        )
    return result


def _compare(gap: float | None, sign: int) -> str | None:
    if gap is None:
        return None
    better = sign * gap
    if abs(better) < 1e-9:
        return "lika"
    return "battre" if better > 0 else "samre"
