"""The `series_versions` table: every version a batch received, appended in its transaction.

A delivery is named by its place in the canonical topic (topic, partition, offset), unique in the
table: a batch that comes again after a crash (its transaction committed, its consumer offsets
not) adds no row, and a producer's retry of an observation_id, a new delivery, adds one row
`duplicate`. So the table grows by exactly the deliveries the topic holds, like the topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from shared.db.schema import series_versions
from shared.db.upsert import RawTable, chunks
from shared.domain.history import Content, History, VersionKey, content
from shared.domain.observation import Observation
from shared.domain.rollup import Outcome

# (topic, partition, offset) of one event in the canonical topic
Delivery = tuple[str, int, int]
_KEY = ("indicator", "area", "period", "gender", "observation_id")
_CONTENT = ("value", "numerator", "denominator", "retract", "status")  # `history.content_of`
# The columns of a version row, in the order `version_values` gives them.
VERSION_COLUMNS = (
    *(*_KEY, "source", "value", "numerator", "denominator", "retract", "status", "comment"),
    *("updated_at", "received_at", "kafka_topic", "kafka_partition", "kafka_offset"),
    *("outcome", "recorded_at"),
)
_TABLES: dict[str, RawTable] = {}


def history_of(conn: Connection, observations: Sequence[Observation]) -> History:
    """A history that knows which of the batch's versions were received before."""
    ids = sorted({str(o.observation_id) for o in observations})
    names = ", ".join(("version_id", *_KEY, *_CONTENT))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    found: list[tuple[Any, ...]] = []
    try:  # on the driver: SQLAlchemy's statement and row handling cost more than the lookup
        if conn.dialect.name == "postgresql":
            cursor.execute(
                f"SELECT {names} FROM series_versions WHERE observation_id = ANY(%s)", [ids]
            )
            found.extend(cursor.fetchall())
        else:
            for part in chunks(ids):
                marks = ", ".join("?" for _ in part)
                query = f"SELECT {names} FROM series_versions WHERE observation_id IN ({marks})"
                found.extend(cursor.execute(query, list(part)).fetchall())
    finally:
        cursor.close()
    seen: dict[VersionKey, Content] = {}
    # sorted here, not by the query: the planner must keep using the observation_id index
    for row in sorted(found, key=lambda r: r[0]):  # the first received says what the id holds
        key: VersionKey = tuple(row[1 : 1 + len(_KEY)])
        value, numerator, denominator, retract, status = row[1 + len(_KEY) :]
        seen.setdefault(key, content(value, numerator, denominator, bool(retract), status))
    return History(seen)


def version_values(
    o: Observation, outcome: Outcome, d: Delivery | None, now: datetime
) -> tuple[object, ...]:
    """One delivered version's row, in `VERSION_COLUMNS` order."""
    return (
        *(o.indicator, o.area, o.period, o.gender.value, o.id_text, o.source),
        *(o.value, o.numerator, o.denominator, o.retract, o.status.value, o.comment),
        *(o.updated_at, o.received_at, *(d if d else (None, None, None))),
        *(outcome.value, now),
    )


def record_versions(
    conn: Connection,
    observations: Sequence[Observation],
    outcomes: Sequence[Outcome],
    deliveries: Sequence[Delivery | None],
    now: datetime,
) -> None:
    """Append one row per delivered version; a delivery recorded before is skipped."""
    rows = [
        version_values(o, outcome, d, now)
        for o, outcome, d in zip(observations, outcomes, deliveries, strict=True)
    ]
    _table(conn).insert_new(conn, rows)


def _table(conn: Connection) -> RawTable:
    """The versions table on the driver, for the connection's dialect (made once per dialect)."""
    table = _TABLES.get(conn.dialect.name)
    if table is None:
        table = _TABLES[conn.dialect.name] = RawTable(
            series_versions, VERSION_COLUMNS, conn.dialect
        )
    return table
