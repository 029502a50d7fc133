"""Applies batches of observations to the SQL read model in one transaction each.

The read model is also the aggregator's state: the winning version of every series and the sums of
every parent live in the `series` table, so a batch is all-or-nothing and a replay after a crash
finds each event already applied (duplicate) or outranked (superseded) and changes nothing. Kafka
offsets are committed only after the transaction, which makes at-least-once delivery exact.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text, tuple_, update

from shared.db.schema import read_model_state, series
from shared.db.upsert import chunks, upsert
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, utcnow
from shared.domain.rollup import Outcome, RollupEngine, SeriesId, SeriesRow, visible

ROW_FIELDS = [f.name for f in fields(SeriesRow)]


@dataclass
class BatchResult:
    """What one batch did: outcome per event (in order) and the rows it changed."""

    outcomes: list[Outcome] = field(default_factory=list)
    changed: dict[SeriesId, SeriesRow] = field(default_factory=dict)
    touched_indicators: set[str] = field(default_factory=set)
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    committed_at: datetime | None = None


# A projection run inside the batch's transaction, after the series rows are written.
AfterCommit = Callable[[Connection, "BatchResult"], None]


class SeriesStore:
    """The `series` table seen as the engine's row mapping, batch by batch."""

    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self.engine = engine
        self.catalog = catalog
        self.rollup = RollupEngine(catalog)

    def apply(
        self, observations: Sequence[Observation], after: AfterCommit | None = None
    ) -> BatchResult:
        """Apply a batch in one transaction; `after` derives projections inside it."""
        result = BatchResult()
        keys = sorted({k for o in observations for k in self._keys(o)})
        with self.engine.begin() as conn:
            _lock_groups(conn, keys)
            rows = self._load(conn, keys)
            before = {k: vars(r).copy() for k, r in rows.items()}
            for obs in observations:
                result.outcomes.append(self.rollup.apply(rows, obs))
                result.touched_indicators.add(obs.indicator)
            now = utcnow()
            result.changed = {k: r for k, r in rows.items() if before.get(k) != vars(r)}
            upsert(conn, series, [self._db_row(r, now) for r in result.changed.values()])
            newest = max((o.received_at for o in observations), default=None)
            _bump_state(conn, newest, now)
            if after is not None:
                after(conn, result)
            result.committed_at = now
        return result

    def _keys(self, obs: Observation) -> list[SeriesId]:
        if obs.indicator not in self.catalog.indicator or obs.area not in self.catalog.area:
            return []  # the engine reports it invalid; nothing to load
        return self.rollup.keys_for(obs.indicator, obs.area, obs.period, obs.gender.value)

    def _load(self, conn: Connection, keys: list[SeriesId]) -> dict[SeriesId, SeriesRow]:
        rows: dict[SeriesId, SeriesRow] = {}
        pk = tuple_(series.c.indicator, series.c.area, series.c.period, series.c.gender)
        for part in chunks(keys):
            query = select(*(series.c[name] for name in ROW_FIELDS)).where(pk.in_(part))
            for record in conn.execute(query):
                values = record._asdict()
                for name in ("updated_at", "received_at"):
                    if values[name] is not None:
                        values[name] = _aware(values[name])
                row = SeriesRow(**values)
                rows[row.id] = row
        return rows

    def _db_row(self, row: SeriesRow, now: datetime) -> dict[str, object]:
        seen = visible(self.catalog.indicator[row.indicator], row)
        return {
            **vars(row),
            "computed_value": seen.computed_value,
            "coverage": seen.coverage,
            "value": seen.value,
            "numerator": seen.numerator,
            "denominator": seen.denominator,
            "origin": seen.origin.value if seen.origin else None,
            "status": row.reported_status
            if seen.origin and seen.origin.value == "reported"
            else None,
            "data_as_of": row.received_at,
            "committed_at": now,
        }


def _lock_groups(conn: Connection, keys: Iterable[SeriesId]) -> None:
    """Serialise writers of one (indicator, period, gender) group across workers (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return  # SQLite's BEGIN IMMEDIATE already holds the one write lock
    groups = sorted({zlib.crc32(f"{i}|{p}|{g}".encode()) for i, _, p, g in keys})
    for group in groups:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": group})


def _bump_state(conn: Connection, newest: datetime | None, now: datetime) -> None:
    """Advance the read model's revision and its newest reflected `received_at`."""
    state = conn.execute(select(read_model_state).where(read_model_state.c.id == 1)).first()
    if state is None:
        conn.execute(
            read_model_state.insert().values(id=1, data_as_of=newest, revision=1, committed_at=now)
        )
        return
    as_of = state.data_as_of
    if newest is not None and (as_of is None or newest > _aware(as_of)):
        as_of = newest
    conn.execute(
        update(read_model_state)
        .where(read_model_state.c.id == 1)
        .values(data_as_of=as_of, revision=read_model_state.c.revision + 1, committed_at=now)
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
