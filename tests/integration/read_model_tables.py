"""Every read-model table as comparable data: what a batch rebuild and the live path must agree on.

Columns that say when a row was written (and version numbers, which a rebuild gives anew) are left
out; numbers are compared within float rounding (sums added in another order), documents key by
key (the age of the newest period moves with the clock).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine, Table, select

from services.aggregate.rebuild import READ_MODEL_TABLES
from shared.db.schema import series_versions

WHEN = {"committed_at", "applied_at", "computed_at", "recorded_at", "version_id"}
MOVING = {"newest_period_age_seconds"}  # in documents: measured from the time of projecting
Tables = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _key(table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
    if table is series_versions:  # one row per delivery
        return (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"])
    return tuple(row[c.name] for c in table.primary_key.columns)


def tables(engine: Engine) -> Tables:
    """Every row of every read-model table, keyed, without the columns in WHEN."""
    out: Tables = {}
    with engine.connect() as conn:
        for table in READ_MODEL_TABLES:
            rows = [r._asdict() for r in conn.execute(select(table))]
            out[table.name] = {
                _key(table, r): {k: v for k, v in r.items() if k not in WHEN} for r in rows
            }
    return out


def differences(want: Tables, got: Tables, show: int = 10) -> list[str]:
    """Rows missing, extra or different, table by table (at most `show` of each table)."""
    found: list[str] = []
    for name in want.keys() | got.keys():
        a, b = want.get(name, {}), got.get(name, {})
        lines = [f"{name} {k}: only in the first" for k in a.keys() - b.keys()]
        lines += [f"{name} {k}: only in the second" for k in b.keys() - a.keys()]
        lines += [
            f"{name} {k}: {a[k]} != {b[k]}" for k in a.keys() & b.keys() if not same(a[k], b[k])
        ]
        found += sorted(lines)[:show]
    return found


def same(a: Any, b: Any) -> bool:
    """Equal, floats within rounding, dicts and lists element by element."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (a.keys() | b.keys()) - MOVING
        return all(same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
