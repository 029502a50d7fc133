"""A fetched dataset's cells as observation rows in the `POST /v1/observations` shape.

Pure: no I/O. One row per (region, time, gender): its contents give value, numerator and
denominator. A missing cell (`null`, or a PxWeb status of dots: `..` not available, `.` not
applicable) gives no observation, never a zero; it counts as skipped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.ingest.connectors.base import Refusal, derived_id
from services.ingest.connectors.pxweb.jsonstat import Dataset
from services.ingest.connectors.pxweb.plan import Plan
from services.ingest.connectors.pxweb.query import Query
from shared.domain.catalog import TOTAL

# PxWeb writes a table's `updated` in the server's local time when it gives no offset.
_SERVER_TIME = ZoneInfo("Europe/Stockholm")


@dataclass
class Mapped:
    """Rows of one or more queries, and what became of the other cells."""

    rows: list[dict[str, object]] = field(default_factory=list)
    series: dict[str, str] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    skipped: int = 0
    fetched: int = 0


def updated_at(stamp: str | None) -> str | None:
    """A table's `updated` as an ISO UTC timestamp (`…Z`), None if absent or unreadable."""
    if stamp is None:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=_SERVER_TIME)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def series_key(indicator: str, area: str, period: str, gender: str) -> str:
    """The cursor's name of a series."""
    return f"{indicator}|{area}|{period}|{gender}"


def map_rows(
    source: str,
    indicator: str,
    plan: Plan,
    query: Query,
    ds: Dataset,
    stamp: str | None,
    into: Mapped,
) -> None:
    """Add the rows of one query's answer to `into`, each `updated_at` the table's `stamp`."""
    m = plan.mapping
    chosen = dict(query.selection)
    genders = chosen.get(m.gender, ()) if m.gender else ("",)
    for region, time, gender in itertools.product(chosen[m.region], chosen[m.time], genders):
        into.fetched += 1
        where = f"{m.table} {m.region}={region} {m.time}={time}" + (
            f" {m.gender}={gender}" if m.gender else ""
        )
        at = {m.region: region, m.time: time, **m.fixed}
        if m.gender:
            at[m.gender] = gender
        numbers = _numbers(ds, plan, at)
        if isinstance(numbers, str):
            into.refused.append(Refusal(where, "bad_value", numbers))
            continue
        if numbers is None:
            into.skipped += 1
            continue
        if "value" in numbers:
            numbers["value"] *= m.scale
        row: dict[str, object] = {
            "indicator": indicator,
            "area": m.areas[region],
            "period": plan.periods[time],
            "gender": m.genders[gender] if m.gender else TOTAL,
            **numbers,
        }
        if stamp is not None:
            row["updated_at"] = stamp
        version = [numbers.get(name) for name in ("value", "numerator", "denominator")]
        row["observation_id"] = derived_id(source, m.key, region, time, gender, *version)
        key = series_key(indicator, str(row["area"]), str(row["period"]), str(row["gender"]))
        into.series[key] = str(row["observation_id"])
        into.rows.append(row)


def _numbers(ds: Dataset, plan: Plan, at: dict[str, str]) -> dict[str, float] | str | None:
    """The cell's numbers by role; None when one is missing; text saying why one is no number."""
    m = plan.mapping
    numbers: dict[str, float] = {}
    for name, code in (
        ("value", m.value),
        ("numerator", m.numerator),
        ("denominator", m.denominator),
    ):
        if code is None:
            continue
        value, status = ds.cell(**at, **{m.contents: code})
        if value is None or (status is not None and _dots(status)):
            return None
        if not isinstance(value, int | float):
            return f"{m.contents}={code} is {value!r}, not a number"
        numbers[name] = float(value)
    return numbers


def _dots(status: str) -> bool:
    """PxWeb's symbols for a missing value are one to six dots."""
    return bool(status) and set(status) == {"."}
