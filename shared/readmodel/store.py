"""Applies batches of observations to the SQL read model in one transaction each.

The read model is also the aggregator's state: the winning version of every series and the sums of
every parent live in the `series` table, so a batch is all-or-nothing and a replay after a crash
finds each event already applied (duplicate) or outranked (superseded) and changes nothing. Kafka
offsets are committed only after the transaction, which makes at-least-once delivery exact. Every
version received is appended to `series_versions` in the same transaction (`versions.py`).

Each changed row carries the batch's `committed_at`, which `changed_since` readers compare with.
The batch writes it before the transaction's end, so a batch that commits late could hide rows
older than a newer batch's: the state row's `committed_at` is therefore taken under that row's
lock, held to the commit (batches commit in its order), and rows whose time lags it by more than
ROW_TIME_SLACK are stamped again. Every row not yet visible when a reader saw the state row's
time C thus carries a time of at least C − ROW_TIME_SLACK (see `ReadState.changes_as_of`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, select, text

from shared.db.schema import ROW_TIME_SLACK, applied_offsets, read_model_state, series
from shared.db.upsert import RawTable, insert
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, as_utc, utcnow
from shared.domain.rollup import Origin, Outcome, RollupEngine, SeriesId, SeriesState, visible
from shared.readmodel.area_status import Projected
from shared.readmodel.revisions import bump_answers, rows_key, series_key
from shared.readmodel.versions import Delivery, history_of, record_versions

ROW_FIELDS = [f.name for f in fields(SeriesState)]
# What the read model shows beside the engine's state, in the order `_db_row` yields it.
SHOWN = [
    "computed_value",
    "coverage",
    "value",
    "numerator",
    "denominator",
    "origin",
    "status",
    "preliminary",
    "data_as_of",
    "committed_at",
]


@dataclass
class BatchResult:
    """What one batch did: outcome per event (in order) and the rows it changed."""

    outcomes: list[Outcome] = field(default_factory=list)
    changed: dict[SeriesId, SeriesState] = field(default_factory=dict)
    projected: set[Projected] = field(default_factory=set)  # what was projected with it
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    committed_at: datetime | None = None  # just after the commit: freshness is measured to here
    # versions whose observation_id the series had received before with other numbers
    conflicts: list[Observation] = field(default_factory=list)


# A projection run inside the batch's transaction, after the series rows are written.
AfterCommit = Callable[[Connection, "BatchResult"], None]
# (topic, partition) -> the offset after the newest event of the batch in that partition
Offsets = Mapping[tuple[str, int], int]


class SeriesStore:
    """The `series` table seen as the engine's row mapping, batch by batch."""

    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self.engine = engine
        self.catalog = catalog
        self.rollup = RollupEngine(catalog)
        self._raw: RawTable | None = None

    def _table(self, conn: Connection) -> RawTable:
        if self._raw is None:
            self._raw = RawTable(series, ROW_FIELDS + SHOWN, conn.dialect, read=len(ROW_FIELDS))
        return self._raw

    def apply(
        self,
        observations: Sequence[Observation],
        after: AfterCommit | None = None,
        offsets: Offsets | None = None,
        deliveries: Sequence[Delivery | None] | None = None,
        checked: bool = False,
    ) -> BatchResult:
        """Apply a batch in one transaction; `after` derives projections inside it.

        `offsets` (the batch's position in the canonical topic) is recorded in the same
        transaction, so the read model always knows exactly which events it reflects;
        `deliveries` names each event's own place there (for its version row); `checked`: every
        observation passed the engine's `check` already.
        """
        result = BatchResult()
        keys = sorted({k for o in observations for k in self._keys(o)})
        with self.engine.begin() as conn:
            if offsets:
                record_offsets(conn, offsets)
            if not observations:
                result.committed_at = utcnow()
                return result
            _lock_groups(conn, keys)
            rows = self._load(conn, keys)
            before = {k: vars(r).copy() for k, r in rows.items()}
            history = history_of(conn, observations)
            versions = []
            for obs in observations:
                outcome = self.rollup.apply(rows, obs, checked)
                result.outcomes.append(outcome)
                versions.append(history.record(obs, outcome))
            result.conflicts = history.conflicts
            now = utcnow()
            record_versions(
                conn, observations, versions, deliveries or [None] * len(observations), now
            )
            result.changed = {k: r for k, r in rows.items() if before.get(k) != vars(r)}
            self._write(conn, result, now)
            if after is not None:
                after(conn, result)
            # Last, as projections on their own do: every transaction takes the projection lock
            # (PostgreSQL) before the state row's lock, so two of them never wait on each other.
            stored = _lock_state(conn)
            committed = utcnow()
            if committed - now > ROW_TIME_SLACK:  # a slow batch: its rows must not look older
                self._write(conn, result, committed)
            newest = max((o.received_at for o in observations), default=None)
            as_of = max((as_utc(m) for m in (stored, newest) if m is not None), default=None)
            bump_state(conn, data_as_of=as_of, committed_at=committed)
            bumped = {rows_key(k[1]) for k in result.changed} | {
                series_key(k[0]) for k in result.changed
            }
            bump_answers(conn, bumped, committed)
        result.committed_at = utcnow()
        return result

    def _write(self, conn: Connection, result: BatchResult, now: datetime) -> None:
        self.write(conn, result.changed.values(), now)

    def write(self, conn: Connection, rows: Iterable[SeriesState], now: datetime) -> None:
        """Write rows the engine computed as they are shown, stamped `now` (no version kept)."""
        self._table(conn).upsert(conn, [self._db_row(r, now) for r in rows])

    def load(self, conn: Connection, rows: Iterable[SeriesState], now: datetime) -> None:
        """Insert rows the engine computed into an emptied table in bulk, stamped `now`."""
        self._table(conn).load(conn, (self._db_row(r, now) for r in rows))

    def _keys(self, obs: Observation) -> list[SeriesId]:
        if obs.indicator not in self.catalog.indicator or obs.area not in self.catalog.area:
            return []  # the engine reports it invalid; nothing to load
        return self.rollup.keys_for(obs.indicator, obs.area, obs.period, obs.gender.value)

    def _load(self, conn: Connection, keys: list[SeriesId]) -> dict[SeriesId, SeriesState]:
        rows: dict[SeriesId, SeriesState] = {}
        for record in self._table(conn).fetch(conn, keys):
            row = SeriesState(*record)
            if row.updated_at is not None:
                row.updated_at = as_utc(row.updated_at)
            if row.received_at is not None:
                row.received_at = as_utc(row.received_at)
            rows[row.id] = row
        return rows

    def _db_row(self, row: SeriesState, now: datetime) -> tuple[object, ...]:
        seen = visible(self.catalog.indicator[row.indicator], row)
        reported = seen.origin is Origin.REPORTED
        return (
            *vars(row).values(),  # a dataclass's __dict__ keeps its fields' order
            seen.computed_value,
            seen.coverage,
            seen.value,
            seen.numerator,
            seen.denominator,
            seen.origin.value if seen.origin else None,
            row.reported_status if reported else None,
            seen.preliminary,
            row.received_at,
            now,
        )


def _lock_groups(conn: Connection, keys: Iterable[SeriesId]) -> None:
    """Serialise writers of one (indicator, period, gender) group across workers (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return  # SQLite's BEGIN IMMEDIATE already holds the one write lock
    groups = sorted({zlib.crc32(f"{i}|{p}|{g}".encode()) for i, _, p, g in keys})
    # One round trip for all of them; unnest yields the sorted array in order, so every worker
    # takes its locks in the same order and two batches never wait on each other in a cycle.
    conn.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ks AS bigint[])) AS k"),
        {"ks": groups},
    )


def record_offsets(conn: Connection, offsets: Offsets) -> None:
    """Advance each partition's applied offset (never backwards: batches may be replayed)."""
    now = utcnow()
    rows = [
        {"topic": t, "partition": p, "next_offset": n, "applied_at": now}
        for (t, p), n in sorted(offsets.items())
    ]
    if not rows:
        return
    stmt = insert(conn, applied_offsets)  # run over the rows: compiled once, whatever their count
    current, new = applied_offsets.c.next_offset, stmt.excluded.next_offset
    stmt = stmt.on_conflict_do_update(
        index_elements=["topic", "partition"],
        set_={
            "next_offset": case((new > current, new), else_=current),
            "applied_at": stmt.excluded.applied_at,
        },
    )
    conn.execute(stmt, rows)


def read_offsets(conn: Connection, topic: str | None = None) -> dict[tuple[str, int], int]:
    """Each partition's applied offset (the offset after the newest event reflected), of `topic`
    or of every topic."""
    query = select(
        applied_offsets.c.topic, applied_offsets.c.partition, applied_offsets.c.next_offset
    )
    if topic is not None:
        query = query.where(applied_offsets.c.topic == topic)
    return {(t, p): n for t, p, n in conn.execute(query)}


def _lock_state(conn: Connection) -> datetime | None:
    """Lock the state row until the commit (creating it if need be); its newest `received_at`."""
    conn.execute(insert(conn, read_model_state).values(id=1, revision=0).on_conflict_do_nothing())
    query = select(read_model_state.c.data_as_of).where(read_model_state.c.id == 1)
    return conn.execute(query.with_for_update()).scalar()


def bump_state(conn: Connection, **values: datetime | None) -> None:
    """Advance the read model's revision (ETags follow it) and set `values` in its one row."""
    stmt = insert(conn, read_model_state).values(id=1, revision=1, **values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["id"], set_={"revision": read_model_state.c.revision + 1, **values}
        )
    )
