"""Areas and area profiles: latest value per indicator, gap to the city, the area's own status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from services.api import queries
from services.api.caching import ReadState
from shared.domain.catalog import Catalog, NamndType
from shared.domain.rollup import FOKUSOMRADEN, VIRTUAL, YTTERSTADEN
from shared.readmodel.profiles import VIRTUAL_AREAS, split_rows
from shared.readmodel.profiles import profile_rows as shared_profile_rows
from shared.readmodel.revisions import profile_key, rows_key

Document = dict[str, Any]
_LISTS = ("missing_indicators", "missing_groups", "groups")
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


def profile_keys(catalog: Catalog, area: str, gender: str, state: ReadState | None) -> list[str]:
    """The answer keys an area profile reads: its projected profile once the aggregator has
    projected one (the key is in the read `state`; None: none is read), else its and the city's
    rows and statuses."""
    key = profile_key(area, gender)
    if state is not None and key in state.revisions:
        return [key]
    from services.api.views import status_keys

    return [key, rows_key(area), rows_key(catalog.root), *status_keys(catalog, area, gender)]


def profile_rows(
    conn: Connection,
    catalog: Catalog,
    area: str,
    gender: str,
    now: datetime,
    state: ReadState | None = None,
) -> list[Document]:
    """One row per indicator reported at the area's level or with data for it, catalog order.

    With a read `state` that has the profile's key, the projected profile; else made here from
    the area's and the city's rows and, with a `state` (not in a moment of the past, whose
    statuses are judged at it), the stored statuses; a status not stored is computed `now`.
    """
    if state is not None and profile_key(area, gender) in state.revisions:
        stored = queries.profile_document(conn, area, gender)
        if stored is not None:
            return [dict(row) for row in stored["indikatorer"]]
    found = queries.indikator_documents(conn, area, gender) if state is not None else {}
    statuses = {i: d for i, (d, _) in found.items()}
    rows = queries.latest_rows(conn, sorted({area, catalog.root}), gender)
    by_area, city = split_rows(rows, catalog.root)
    return shared_profile_rows(catalog, area, gender, by_area.get(area, {}), city, statuses, now)
