"""Area profiles, projected per (area, gender) beside the statuses they show.

An area profile (`GET /v1/omraden/{id}`, `/v1/omraden/{id}/indikatorer`) has one row per
indicator: the area's latest value, the city's value of the same period and the gap, and the
area's status. `profile_rows` makes them from the area's and the city's series rows and the
stored statuses; it is pure, and the API runs it itself where nothing is projected (a moment of
the past, a read model no aggregator has projected profiles into yet).

The aggregator projects them (`project_profiles`) with the statuses of other areas, at their
cadence: a profile compares the area with the city, whose rows nearly every batch changes, so a
profile read from the rows would change with nearly every batch. Projected, it changes when its
statuses do (at most every `AREA_INTERVAL` under load, at once when the stream goes idle), and
only when what it shows changed: a profile computed again and equal to the one stored is not
written, and its answer key (`profile:<area>:<gender>`) stays where it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from shared.db.schema import area_profiles, indicator_status, series
from shared.db.upsert import chunks, upsert
from shared.domain.catalog import Catalog, Gender
from shared.domain.documents import IndikatorDocument
from shared.domain.rollup import FOKUSOMRADEN, VIRTUAL, YTTERSTADEN
from shared.domain.status import Point
from shared.domain.summary import indikator_summary

Document = dict[str, Any]
Pair = tuple[str, str]  # (area, gender): one profile
Triple = tuple[str, str, str]  # (indicator, area, gender)

VIRTUAL_AREAS = {YTTERSTADEN: "Ytterstaden", FOKUSOMRADEN: "Fokusområden"}
# the series columns a profile reads
PROFILE_COLUMNS = (
    "indicator",
    "area",
    "period",
    "period_start",
    "value",
    "numerator",
    "denominator",
    "origin",
    "coverage",
    "received_at",
    "preliminary",
)


def profile_areas(catalog: Catalog) -> list[str]:
    """Every area a profile is asked of: the catalog's (former ones too) and the virtual ones."""
    return [a.id for a in catalog.omraden] + list(VIRTUAL_AREAS)


def all_pairs(catalog: Catalog) -> set[Pair]:
    """Every profile: each area in each gender."""
    return {(a, g.value) for a in profile_areas(catalog) for g in Gender}


def area_level(catalog: Catalog, area: str) -> str:
    """The level an area's profile lists indicators of (a virtual area's: `virtual`)."""
    found = catalog.area.get(area)
    return found.level.value if found else VIRTUAL


def _points(rows: list[dict[str, Any]]) -> list[Point]:
    return [
        Point.of(r["period"], float(r["value"]), r["origin"], r["coverage"], r["preliminary"])
        for r in rows
    ]


def profile_rows(
    catalog: Catalog,
    area: str,
    gender: str,
    own: Mapping[str, list[dict[str, Any]]],
    city: Mapping[tuple[str, str], tuple[float, bool]],
    statuses: Mapping[str, IndikatorDocument],
    now: datetime,
) -> list[Document]:
    """One row per indicator reported at the area's level or with data for it, catalog order.

    `own`: the area's rows with a value by indicator; `city`: the city's value and preliminary
    flag by (indicator, period); `statuses`: the stored statuses by indicator (one missing is
    computed at `now` from the area's rows).
    """
    level = area_level(catalog, area)
    result = []
    for ind in catalog.indikatorer:
        mine = own.get(ind.id, [])
        if not mine and level not in {lv.value for lv in ind.area_levels}:
            continue
        latest = max(mine, key=lambda r: (r["period_start"], r["period"]), default=None)
        found = statuses.get(ind.id)
        summary = found if found else indikator_summary(catalog, ind.id, _points(mine), now)
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
                # read by the API's redaction, which replaces them with `published`
                "value_preliminary": bool(latest and latest["preliminary"]),
                "city_preliminary": city_preliminary,
                "status_preliminary": not summary["published"],
            }
        )
    return result


def split_rows(
    rows: Iterable[dict[str, Any]], root: str
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[tuple[str, str], tuple[float, bool]]]:
    """Series rows of one gender by area and indicator, and the city's as `profile_rows` takes."""
    by_area: dict[str, dict[str, list[dict[str, Any]]]] = {}
    city: dict[tuple[str, str], tuple[float, bool]] = {}
    for row in rows:
        by_area.setdefault(row["area"], {}).setdefault(row["indicator"], []).append(row)
        if row["area"] == root:
            city[(row["indicator"], row["period"])] = (
                float(row["value"]),
                bool(row["preliminary"]),
            )
    return by_area, city


def _compare(gap: float | None, sign: int) -> str | None:
    if gap is None:
        return None
    better = sign * gap
    if abs(better) < 1e-9:
        return "lika"
    return "battre" if better > 0 else "samre"


def _json_native(rows: list[Document]) -> list[Document]:
    """The rows as the JSON column hands them back and the API writes them: times as RFC 3339
    in UTC with `Z` (SQLite's naive ones taken as UTC), lists for tuples."""
    options = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
    return orjson.loads(orjson.dumps(rows, option=options))  # type: ignore[no-any-return]


def project_profiles(
    conn: Connection,
    catalog: Catalog,
    pairs: Iterable[Pair] | None,
    fresh: Mapping[Triple, IndikatorDocument | None],
    now: datetime,
) -> set[Pair]:
    """Recompute the profiles `pairs` (None: every one); write and return those that changed.

    `fresh`: statuses computed in this projection and not readable yet (its writes are deferred
    to its end): a document, or None for a status deleted.
    """
    everyone = all_pairs(catalog)
    wanted = everyone if pairs is None else set(pairs) & everyone
    by_gender: dict[str, set[str]] = {}
    for area, gender in wanted:
        by_gender.setdefault(gender, set()).add(area)
    written: list[dict[str, Any]] = []
    changed: set[Pair] = set()
    for gender, areas in sorted(by_gender.items()):
        rows = _series_rows(conn, sorted(areas | {catalog.root}), gender)
        by_area, city = split_rows(rows, catalog.root)
        statuses = _statuses(conn, sorted(areas), gender)
        for (i, a, g), doc in fresh.items():
            if g == gender and a in areas:
                if doc is None:
                    statuses.get(a, {}).pop(i, None)
                else:
                    statuses.setdefault(a, {})[i] = doc
        stored = _stored(conn, sorted(areas), gender)
        for area in sorted(areas):
            made = profile_rows(
                catalog, area, gender, by_area.get(area, {}), city, statuses.get(area, {}), now
            )
            document = {"indikatorer": _json_native(made)}
            if stored.get(area) != document:
                written.append(
                    {"area": area, "gender": gender, "document": document, "computed_at": now}
                )
                changed.add((area, gender))
    upsert(conn, area_profiles, written)
    return changed


def _series_rows(conn: Connection, areas: list[str], gender: str) -> list[dict[str, Any]]:
    c = series.c
    query = select(*(c[name] for name in PROFILE_COLUMNS)).where(
        c.gender == gender, c.value.is_not(None)
    )
    found: list[dict[str, Any]] = []
    for part in chunks(areas):
        result = conn.execute(query.where(c.area.in_(part)))
        found.extend(dict(zip(PROFILE_COLUMNS, row, strict=True)) for row in result)
    return found


def _statuses(
    conn: Connection, areas: list[str], gender: str
) -> dict[str, dict[str, IndikatorDocument]]:
    t = indicator_status.c
    query = select(t.indicator, t.area, t.document).where(t.gender == gender)
    found: dict[str, dict[str, IndikatorDocument]] = {}
    for part in chunks(areas):
        for row in conn.execute(query.where(t.area.in_(part))):
            found.setdefault(row.area, {})[row.indicator] = row.document
    return found


def _stored(conn: Connection, areas: list[str], gender: str) -> dict[str, Any]:
    t = area_profiles.c
    query = select(t.area, t.document).where(t.gender == gender)
    found: dict[str, Any] = {}
    for part in chunks(areas):
        found.update(
            {row.area: row.document for row in conn.execute(query.where(t.area.in_(part)))}
        )
    return found
