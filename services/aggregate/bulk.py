"""`stadspuls rebuild`: recompute the read model from the canonical topic in one batch job.

The aggregator's workers must be stopped (the job refuses while its consumer group has members).
The job takes the topic's end offsets at its start and reads every partition up to them with a
plain consumer (no group). Each event is decoded and judged as the aggregator's writer judges it
and applied in memory by the same rollup engine in topic order, each version recorded with the
outcome it has on arrival (`shared.domain.history.Replay`). One transaction empties every
read-model table and bulk-loads the versions (with their topic positions), the series rows, the
applied offsets (the end offsets) and the projections; only after it commits is the consumer
group handed the end offsets, so a worker started after continues with the next event: no gap,
no event twice. Killed before the commit, the job leaves the old read model and offsets as they
were; killed after it, the group still holds its old offsets and a worker replays from them onto
a read model that already counts those events (each found recorded, nothing changes).

On PostgreSQL that transaction is opened before the topic is read, and the versions (final the
moment they are computed) are copied into it by a thread while the reading goes on, so the
server parses and indexes them on its own core meanwhile; its readers keep reading the old read
model (MVCC) and nothing else writes these tables while the workers are stopped. On SQLite a
write transaction holds the database's one write lock, which ingest needs too, so the versions
are kept in memory and the transaction opens only once the topic is read.

Dead letters keep the live path's meaning: an event the rules refuse is sent to the dead-letter
topic only at or beyond the group's committed offset, where no live worker has sent it yet (the
live worker sends before it commits), after the read model commits and before the offsets move.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaPartition
from sqlalchemy import Connection, Engine, delete

from services.aggregate.rebuild import (
    READ_MODEL_TABLES,
    commit_offsets,
    partitions_of,
    refuse_if_active,
)
from services.aggregate.writer import dlq_headers, judge
from shared.collector import collecting_rarely
from shared.db.engine import make_engine
from shared.db.schema import series_versions
from shared.db.upsert import RawTable
from shared.domain.catalog import Catalog
from shared.domain.history import Replay
from shared.domain.observation import utcnow
from shared.kafka_security import client_options
from shared.readmodel.projections import Projector
from shared.readmodel.revisions import reset_answers
from shared.readmodel.store import SeriesStore, bump_state, record_offsets
from shared.readmodel.versions import VERSION_COLUMNS, version_values
from shared.settings import Settings

FETCHED = 10_000  # records per fetch
CHUNK = 5_000  # version rows handed to the thread that copies them in at a time
QUEUED = 8  # chunks waiting for that thread before the reading waits for it
SQLITE_CACHE_KIB = 512 * 1024  # the SQLite page cache of the job's connection
READ_TIMEOUT = 600.0  # seconds without reaching the end offsets before the job gives up
Say = Callable[[str], None]


@dataclass
class Rebuilt:
    """What a batch rebuild read, computed and wrote."""

    ends: dict[int, int] = field(default_factory=dict)  # partition -> end offset handed over
    events: int = 0  # deliveries read
    versions: int = 0
    rows: int = 0  # series rows
    refused: Counter[str] = field(default_factory=Counter)  # malformed | invalid
    dead_lettered: int = 0  # refused events sent to the dead-letter topic now
    read_seconds: float = 0.0  # reading, decoding and computing
    write_seconds: float = 0.0  # the transaction that replaces the read model


class _Streamed:
    """Version rows copied into an open transaction by a thread of their own while they are
    computed (`append`); `close` waits until every row is in and raises what the copying raised."""

    def __init__(self, conn: Connection) -> None:
        self.count = 0
        self._chunk: list[tuple[object, ...]] = []
        self._queue: queue.Queue[list[tuple[object, ...]] | None] = queue.Queue(QUEUED)
        self._ended = False  # the copying has taken the end of the rows
        self._error: BaseException | None = None
        table = RawTable(series_versions, VERSION_COLUMNS, conn.dialect)
        self._thread = threading.Thread(
            target=self._copy, args=(conn, table), name="rebuild-versions", daemon=True
        )
        self._thread.start()

    def _rows(self) -> Iterator[tuple[object, ...]]:
        while (chunk := self._queue.get()) is not None:
            yield from chunk
        self._ended = True

    def _copy(self, conn: Connection, table: RawTable) -> None:
        try:
            table.load(conn, self._rows())
        except BaseException as exc:  # handed to the reading thread
            self._error = exc
            while not self._ended and self._queue.get() is not None:
                pass  # whatever is still handed over is dropped: the transaction rolls back

    def append(self, row: tuple[object, ...]) -> None:
        self._chunk.append(row)
        self.count += 1
        if len(self._chunk) >= CHUNK:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(self._chunk)
        self._chunk = []

    def close(self) -> None:
        if self._chunk:
            self._hand_over()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop copying (the transaction is rolled back); the connection is free after it."""
        self._queue.put(None)
        self._thread.join()


class _Kept:
    """Version rows kept in memory until the transaction opens."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def append(self, row: tuple[object, ...]) -> None:
        self.rows.append(row)

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass
class _Job:
    """The read model being computed from the log, in memory."""

    catalog: Catalog
    topic: str
    handled: dict[int, int]  # partition -> the group's committed offset (refusals sent below)
    started_at: datetime
    replay: Replay = field(init=False)
    versions: _Kept | _Streamed = field(default_factory=_Kept)
    dead: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    newest: datetime | None = None  # the newest received_at of a valid event
    report: Rebuilt = field(default_factory=Rebuilt)

    def __post_init__(self) -> None:
        self.replay = Replay(self.catalog)

    def take(self, partition: int, record: ConsumerRecord[bytes, bytes]) -> None:
        """Judge and apply one event as the aggregator's writer does."""
        self.report.events += 1
        value = record.value or b""
        obs = judge(self.replay.engine, value)
        if isinstance(obs, tuple):
            reason, error = obs
            self.report.refused[reason] += 1
            if record.offset >= self.handled.get(partition, 0):
                self.dead.append((record.key, value, dlq_headers(record.headers, error)))
            return
        outcome = self.replay.apply(obs, checked=True)  # `judge` ran the rules
        delivery = (self.topic, partition, record.offset)
        self.versions.append(version_values(obs, outcome, delivery, self.started_at))
        if self.newest is None or obs.received_at > self.newest:
            self.newest = obs.received_at


def rebuild_bulk(settings: Settings, catalog: Catalog, say: Say = lambda _: None) -> Rebuilt:
    """Replace the read model with one computed from the canonical topic up to its end offsets
    now, then hand the aggregator's consumer group those offsets; `say` hears of progress."""
    if not settings.kafka_bootstrap:
        raise ValueError("STADSPULS_KAFKA_BOOTSTRAP must be set to rebuild the read model")
    group, topic = settings.aggregate_app_id, settings.topic("observations.v1")
    admin = KafkaAdminClient(**client_options(settings), client_id="stadspuls-rebuild")
    # SQLite: a page cache that holds the versions' indexes while a million rows go in (its
    # default of 2 MiB made each index insert a read of the file); an upper bound, not allocated
    engine = make_engine(settings.database_url, pragmas=(f"cache_size=-{SQLITE_CACHE_KIB}",))
    try:
        refuse_if_active(admin, group)
        partitions = [TopicPartition(tp.topic, tp.partition) for tp in partitions_of(admin, topic)]
        done = admin.list_group_offsets({group: None}).get(group, {})
        handled = {
            tp.partition: m.offset for tp, m in done.items() if tp.topic == topic and m.offset >= 0
        }
        job = _Job(catalog, topic, handled, utcnow())
        before_commit = lambda: refuse_if_active(admin, group, after=True)  # noqa: E731
        with collecting_rarely():  # the job keeps what it computes: collections rescanned it all
            if engine.dialect.name == "postgresql":
                _rebuild_streaming(settings, engine, partitions, job, before_commit, say)
            else:
                started = time.monotonic()
                asyncio.run(_read(settings, partitions, job, say))
                job.report.read_seconds = time.monotonic() - started
                _said_read(job, say)
                started = time.monotonic()
                replace_read_model(engine, job, before_commit, say)
                job.report.write_seconds = time.monotonic() - started
        if job.dead:
            asyncio.run(_dead_letter(settings, job.dead))
            job.report.dead_lettered = len(job.dead)
        ends = {KafkaPartition(topic, p): n for p, n in job.report.ends.items()}
        commit_offsets(admin, group, ends)
        return job.report
    finally:
        engine.dispose()
        admin.close()


def _said_read(job: _Job, say: Say) -> None:
    say(f"read {job.report.events} events up to the end offsets in {job.report.read_seconds:.1f}s")


def _rebuild_streaming(
    settings: Settings,
    engine: Engine,
    partitions: list[TopicPartition],
    job: _Job,
    before_commit: Callable[[], None],
    say: Say,
) -> None:
    """Read the topic into a transaction opened first, the versions copied in meanwhile."""
    started = time.monotonic()
    with engine.begin() as conn:
        _empty(conn)
        say("writing the read model in one transaction while the topic is read")
        job.versions = streamed = _Streamed(conn)
        try:
            asyncio.run(_read(settings, partitions, job, say))
            job.report.read_seconds = time.monotonic() - started
            _said_read(job, say)
            step = time.monotonic()
            streamed.close()
        except BaseException:
            streamed.abandon()
            raise
        step = _took(say, f"the last of {streamed.count} versions copied in", step)
        _finish(conn, job, before_commit, say, step)
        step = time.monotonic()
    _took(say, "committed", step)
    job.report.write_seconds = time.monotonic() - started - job.report.read_seconds


async def _read(settings: Settings, partitions: list[TopicPartition], job: _Job, say: Say) -> None:
    """Read every partition from its start up to its end offset as of now into `job`."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        client_id="stadspuls-rebuild",
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        job.report.ends = {tp.partition: ends[tp] for tp in partitions}
        starts = await consumer.beginning_offsets(partitions)
        consumer.assign(partitions)
        remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        deadline, reported = time.monotonic() + READ_TIMEOUT, time.monotonic()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=FETCHED)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset < ends[tp]:
                        job.take(tp.partition, record)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            if fetched:
                deadline = time.monotonic() + READ_TIMEOUT
            elif time.monotonic() > deadline:
                raise TimeoutError(f"reading {job.topic} did not reach its end offsets {ends}")
            if time.monotonic() - reported > 5:
                reported = time.monotonic()
                say(f"read {job.report.events} of {sum(ends.values())} events")
    finally:
        await consumer.stop()


def replace_read_model(
    engine: Engine, job: _Job, before_commit: Callable[[], None], say: Say
) -> None:
    """Empty every read-model table and load the computed one, in one transaction;
    `before_commit` may still refuse (and so roll everything back)."""
    assert isinstance(job.versions, _Kept)
    with engine.begin() as conn:
        _empty(conn)
        say(
            f"writing the read model in one transaction: {job.versions.count} versions, "
            f"{len(job.replay.rows)} series rows"
        )
        step = time.monotonic()
        RawTable(series_versions, VERSION_COLUMNS, conn.dialect).load(conn, job.versions.rows)
        step = _took(say, "versions loaded", step)
        _finish(conn, job, before_commit, say, step)
        step = time.monotonic()
    _took(say, "committed", step)


def _empty(conn: Connection) -> None:
    for table in READ_MODEL_TABLES:
        conn.execute(delete(table))


def _finish(
    conn: Connection, job: _Job, before_commit: Callable[[], None], say: Say, step: float
) -> None:
    """Everything after the versions, in their transaction: the series rows, the offsets, the
    projections, the state; then `before_commit`, which may still refuse."""
    store = SeriesStore(conn.engine, job.catalog)
    offsets = {(job.topic, p): n for p, n in job.report.ends.items() if n > 0}
    now = utcnow()
    store.load(conn, job.replay.rows.values(), now)
    if offsets:
        record_offsets(conn, offsets)
    step = _took(say, "series rows loaded", step)
    projector = Projector(job.catalog)
    projector.refresh(conn, job.catalog.indicator, now)
    step = _took(say, "the city's statuses projected", step)
    projector.refresh_areas(conn, None, now)  # every other area's and gender's statuses
    _took(say, "every area's and gender's statuses projected", step)
    bump_state(conn, data_as_of=job.newest, committed_at=now)
    reset_answers(conn, now)  # answer revisions start again, under a new generation
    before_commit()
    job.report.versions, job.report.rows = job.versions.count, len(job.replay.rows)


def _took(say: Say, what: str, since: float) -> float:
    """Say how long a step of the write took; the time it ended."""
    now = time.monotonic()
    say(f"  {what} in {now - since:.1f}s")
    return now


async def _dead_letter(
    settings: Settings, dead: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Send refused events to the dead-letter topic as the aggregator does, and wait for it."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        sent: list[Any] = [
            await producer.send(
                settings.topic("observations.dlq.v1"), value=v, key=k, headers=headers
            )
            for k, v, headers in dead
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
