"""The `series_versions` table: every version a batch received, appended in its transaction.

A delivery is named by its place in the canonical topic (topic, partition, offset), unique in the
table: a batch that comes again after a crash (its transaction committed, its consumer offsets
not) adds no row, and a producer's retry of an observation_id, a new delivery, adds one row
`duplicate`. So the table grows by exactly the deliveries the topic holds, like the topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from shared.db.schema import series_versions
from shared.db.upsert import chunks, insert
from shared.domain.history import History, VersionKey, version_key
from shared.domain.observation import Observation
from shared.domain.rollup import Outcome

# (topic, partition, offset) of one event in the canonical topic
Delivery = tuple[str, int, int]
_KEY = ("indicator", "area", "period", "gender", "observation_id")


def history_of(conn: Connection, observations: Sequence[Observation]) -> History:
    """A history that knows which of the batch's versions were received before."""
    wanted = sorted({version_key(o) for o in observations})
    t = series_versions.c
    seen: set[VersionKey] = set()
    for part in chunks(wanted):
        ids = sorted({k[4] for k in part})
        query = select(*(t[k] for k in _KEY)).where(t.observation_id.in_(ids))
        seen.update(tuple(r) for r in conn.execute(query))
    return History(seen)


# The columns of a version row, in the order `version_values` gives them.
VERSION_COLUMNS = (
    *("indicator", "area", "period", "gender", "observation_id", "source"),
    *("value", "numerator", "denominator", "retract", "status", "comment"),
    *("updated_at", "received_at", "kafka_topic", "kafka_partition", "kafka_offset"),
    *("outcome", "recorded_at"),
)


def version_values(
    o: Observation, outcome: Outcome, d: Delivery | None, now: datetime
) -> tuple[object, ...]:
    """One delivered version's row, in `VERSION_COLUMNS` order."""
    return (
        *(o.indicator, o.area, o.period, o.gender.value, str(o.observation_id), o.source),
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
        dict(zip(VERSION_COLUMNS, version_values(o, outcome, d, now), strict=True))
        for o, outcome, d in zip(observations, outcomes, deliveries, strict=True)
    ]
    for part in chunks(rows):
        conn.execute(insert(conn, series_versions).on_conflict_do_nothing(), list(part))
