"""A read model of a past knowledge time, built from the versions known then.

An `as_of` answer is served by the same routes and queries as the current one, against a private
SQLite read model: of the versions with `received_at ≤ as_of` (and, for a report, recorded by the
time it was frozen) each series' winner is chosen on one scan and applied, in the order of the
canonical topic (partition and offset, which a rebuild keeps; version order without one), by
the aggregator's own rollup engine in memory with the catalog in force then; the rows are written
in one transaction by the aggregator's store and projected by its projector, every summary judged
at `as_of`. Nothing in it depends on when it was built, so a report's answers are the same bytes
whenever they are asked. The versions themselves stay where they are (`historik` reads them there).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, Select, and_, func, or_, select

from services.api.caching import ReadState
from shared.db.engine import make_engine
from shared.db.schema import metadata, read_model_state, series_versions
from shared.db.upsert import chunks, upsert
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, as_utc
from shared.domain.rollup import (
    InvalidObservationError,
    Outcome,
    RollupEngine,
    SeriesId,
    SeriesState,
    Version,
    arrival,
)
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore

FETCHED = 5000  # versions per fetch from the source
REFUSED = 200  # series per query of the versions of refused winners
WRITTEN = 5000  # rows per write
# a throwaway database: nothing in it needs to survive a crash
THROWAWAY = ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY")
SERIES = ("indicator", "area", "period", "gender")
FIELDS = (
    *("observation_id", "source", "received_at", "value", "numerator", "denominator"),
    *("status", "updated_at", "comment", "retract"),
)


POSITION = ("kafka_topic", "kafka_partition", "kafka_offset")
# (topic, partition, offset): the newest position of a partition a moment counts
Position = tuple[str, int, int]


@dataclass(frozen=True)
class Moment:
    """What a past read model counts: versions received by `as_of`, up to `last_version_id` —
    or, for a report, up to its `positions` in the canonical topic (kept by a rebuild)."""

    as_of: datetime
    last_version_id: int
    positions: tuple[Position, ...] | None = None


@dataclass
class PastModel:
    """A built read model of one moment: its read-only engine and its fixed read state."""

    engine: Engine
    state: ReadState
    folder: Path

    def close(self) -> None:
        """Dispose of the engine and delete the files."""
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


def last_version_id(engine: Engine, received_by: datetime | None = None) -> int:
    """The newest version recorded (received by `received_by`, if given); 0 when none."""
    t = series_versions.c
    query = select(func.max(t.version_id))
    if received_by is not None:
        query = query.where(t.received_at <= received_by)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def newest_known(engine: Engine, moment: Moment) -> datetime | None:
    """The newest `received_at` of the versions counted at `moment` (the answers' data time)."""
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(series_versions.c.received_at)).where(*known(moment)))
        found = newest.scalar()
    return as_utc(found) if found is not None else None


def known(moment: Moment) -> list[ColumnElement[bool]]:
    """The conditions on `series_versions` of the versions counted at `moment`."""
    t = series_versions.c
    numbered = t.version_id <= moment.last_version_id
    if moment.positions is None:
        return [t.received_at <= moment.as_of, numbered]
    placed = [
        and_(t.kafka_topic == topic, t.kafka_partition == partition, t.kafka_offset <= offset)
        for topic, partition, offset in moment.positions
    ]
    return [t.received_at <= moment.as_of, or_(and_(t.kafka_topic.is_(None), numbered), *placed)]


def positions(engine: Engine, up_to: int) -> tuple[Position, ...]:
    """The newest position of every partition among versions `up_to` a version id (a
    partition's recorded versions are a prefix of it: one worker writes it, in order)."""
    t = series_versions.c
    query = (
        select(t.kafka_topic, t.kafka_partition, func.max(t.kafka_offset))
        .where(t.kafka_topic.is_not(None), t.version_id <= up_to)
        .group_by(t.kafka_topic, t.kafka_partition)
        .order_by(t.kafka_topic, t.kafka_partition)
    )
    with engine.connect() as conn:
        return tuple((str(a), int(b), int(c)) for a, b, c in conn.execute(query))


def versions_query(moment: Moment, keys: Sequence[SeriesId] = ()) -> Select[Any]:
    """The versions known at `moment` (of the series `keys`, if given), in version order."""
    t = series_versions.c
    where = [t[k].in_(sorted({key[i] for key in keys})) for i, k in enumerate(SERIES) if keys]
    columns = [t[k] for k in SERIES + FIELDS + POSITION]
    return select(*columns).where(*known(moment), *where).order_by(t.version_id)


def winners(source: Engine, query: Select[Any]) -> list[Row[Any]]:
    """Each series' winning version of those a query selects, in version order.

    Versions arrive as the engine saw them (`arrival`, on the version alone), so that only the
    winners need to become observations; on SQLite one scan in primary-key order costs less than
    a window function's sort.
    """
    best: dict[tuple[Any, ...], tuple[Version, int, Row[Any]]] = {}
    with source.connect() as conn:
        result = conn.execution_options(yield_per=FETCHED).execute(query)
        for order, row in enumerate(result):
            key, version = row[:4], (row.updated_at, row.observation_id)
            found = best.get(key)
            if arrival(found[0] if found else None, version) is Outcome.APPLIED:
                best[key] = (version, order, row)
    return [row for _, _, row in sorted(best.values(), key=_placed)]


def _placed(found: tuple[Version, int, Row[Any]]) -> tuple[Any, ...]:
    """Topic order, the same after a rebuild (float sums depend on the order they are added)."""
    _, order, row = found
    if row.kafka_topic is None:
        return (0, "", 0, 0, order)
    return (1, row.kafka_topic, row.kafka_partition, row.kafka_offset, order)


def _observation(row: Row[Any]) -> Observation:
    """A recorded version as the observation it was (SQLite hands back naive UTC times)."""
    fields = dict(zip(SERIES + FIELDS, row[: len(SERIES + FIELDS)], strict=True))
    for name in ("received_at", "updated_at"):
        fields[name] = as_utc(fields[name])
    return Observation.model_validate(fields)


def replay(source: Engine, moment: Moment, catalog: Catalog) -> dict[SeriesId, SeriesState]:
    """The series rows at `moment`: each winner applied in version order, in memory.

    A winner the catalog in force cannot place is skipped, so its series is replayed version by
    version instead: the best version it can place counts, as in a replay of every version.
    """
    engine, rows = RollupEngine(catalog), dict[SeriesId, SeriesState]()
    refused: list[SeriesId] = []
    for row in winners(source, versions_query(moment)):
        try:
            engine.apply(rows, _observation(row))
        except InvalidObservationError:
            refused.append(tuple(row[:4]))
    wanted = set(refused)
    for start in range(0, len(refused), REFUSED):
        for row in source_versions(
            source, versions_query(moment, refused[start : start + REFUSED])
        ):
            if tuple(row[:4]) in wanted:
                with suppress(InvalidObservationError):
                    engine.apply(rows, _observation(row))
    return rows


def source_versions(source: Engine, query: Select[Any]) -> list[Row[Any]]:
    """Every version a query selects."""
    with source.connect() as conn:
        return list(conn.execute(query))


def build(source: Engine, moment: Moment, catalog: Catalog) -> PastModel:
    """Compute what was known at `moment` into a new SQLite read model and return it."""
    rows = replay(source, moment, catalog)
    newest = newest_known(source, moment)
    folder = Path(tempfile.mkdtemp(prefix="stadspuls-as-of-"))
    url = f"sqlite:///{folder / 'read-model.db'}"
    writer = make_engine(url, pragmas=THROWAWAY)
    as_of = moment.as_of
    try:
        metadata.create_all(writer)
        with writer.begin() as conn:
            store = SeriesStore(writer, catalog)
            for part in chunks(list(rows.values()), WRITTEN):  # the encoded rows a part at a time
                store.write(conn, part, as_of)
            Projector(catalog).refresh(conn, catalog.indicator, as_of)
            stamps = dict(committed_at=as_of, refreshed_at=as_of, data_as_of=newest)
            upsert(
                conn, read_model_state, [{"id": 1, "revision": moment.last_version_id, **stamps}]
            )
    finally:
        writer.dispose()
    # the revision names what was counted, so ETags differ when a late version joins `as_of`
    state = ReadState(moment.last_version_id, newest, as_of, as_of)
    return PastModel(make_engine(url, read_only=True), state, folder)
