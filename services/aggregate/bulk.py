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
import os
import queue
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection as PipeEnd
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaPartition
from sqlalchemy import Connection, Dialect, Engine, delete
from sqlalchemy.engine import make_url

from services.aggregate.bulk_shards import (
    Dead,
    Helper,
    MisroutedError,
    ShardDone,
    group_shard,
    processes,
    shard_of,
)
from services.aggregate.rebuild import (
    READ_MODEL_TABLES,
    commit_offsets,
    partitions_of,
    refuse_if_active,
)
from services.aggregate.writer import dlq_headers, judge
from shared.collector import collecting_rarely
from shared.db.engine import make_engine
from shared.db.schema import series, series_versions
from shared.db.statistics import analyze
from shared.db.upsert import RawTable
from shared.domain.catalog import Catalog
from shared.domain.history import Replay
from shared.domain.observation import utcnow
from shared.domain.rollup import SeriesState
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
Encode = Callable[[tuple[object, ...]], Sequence[object]]


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
    computed (`append`, and a helper's chunks `take`n by the thread that receives them); `close`
    waits until every row is in and raises what the copying raised."""

    def __init__(self, conn: Connection) -> None:
        self._appended = self._taken = 0
        self._chunk: list[Sequence[object]] = []
        self._queue: queue.Queue[list[Sequence[object]] | None] = queue.Queue(QUEUED)
        self._ended = False  # the copying has taken the end of the rows
        self._abandoned = False
        self._error: BaseException | None = None
        table = RawTable(series_versions, VERSION_COLUMNS, conn.dialect)
        self._thread = threading.Thread(
            target=self._copy, args=(conn, table), name="rebuild-versions", daemon=True
        )
        self._thread.start()

    def _rows(self) -> Iterator[Sequence[object]]:
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

    @property
    def count(self) -> int:
        return self._appended + self._taken

    def append(self, row: tuple[object, ...]) -> None:
        self._chunk.append(row)
        self._appended += 1
        if len(self._chunk) >= CHUNK:
            self._hand_over()

    def take(self, chunk: list[Sequence[object]]) -> None:
        """A helper's chunk of rows, from the thread that receives them (dropped once the copy
        failed or was abandoned: the transaction rolls back)."""
        while self._error is None and not self._abandoned:
            try:
                self._queue.put(chunk, timeout=0.2)
            except queue.Full:
                continue
            self._taken += len(chunk)
            return

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
        self._abandoned = True
        self._queue.put(None)
        self._thread.join()


class _Kept:
    """Version rows kept in memory until the transaction opens, as the driver is handed them
    (`encode`d while they are computed: in each shard's process, and cheaper to send)."""

    def __init__(self, encode: Encode = tuple) -> None:
        self.rows: list[Sequence[object]] = []
        self.encode = encode

    def append(self, row: tuple[object, ...]) -> None:
        self.rows.append(self.encode(row))

    def take(self, chunk: list[Sequence[object]]) -> None:
        """A helper's chunk of rows (from the thread that receives them)."""
        self.rows.extend(chunk)

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
    shard: int = 0  # this process's share of the groups (`bulk_shards`), of `shards`
    shards: int = 1
    replay: Replay = field(init=False)
    versions: _Kept | _Streamed | _Piped = field(default_factory=_Kept)
    dead: list[Dead] = field(default_factory=list)
    newest: datetime | None = None  # the newest received_at of a valid event
    report: Rebuilt = field(default_factory=Rebuilt)

    def __post_init__(self) -> None:
        self.replay = Replay(self.catalog)

    def take(self, partition: int, record: ConsumerRecord[bytes, bytes]) -> None:
        """Judge and apply one event as the aggregator's writer does (if it is this shard's)."""
        sharded = self.shards > 1
        if sharded and shard_of(record.key, self.shards) != self.shard:
            return
        self.report.events += 1
        value = record.value or b""
        obs = judge(self.replay.engine, value)
        if isinstance(obs, tuple):
            reason, error = obs
            self.report.refused[reason] += 1
            if record.offset >= self.handled.get(partition, 0):
                headers = dlq_headers(record.headers, error)
                self.dead.append((partition, record.offset, record.key, value, headers))
            return
        if (
            sharded
            and group_shard(obs.indicator, obs.period, obs.gender.value, self.shards) != self.shard
        ):
            raise MisroutedError(
                f"the event at offset {record.offset} of partition {partition} is keyed "
                f"{record.key!r} but is of {obs.series_key}"
            )
        outcome = self.replay.apply(obs, checked=True)  # `judge` ran the rules
        delivery = (self.topic, partition, record.offset)
        self.versions.append(version_values(obs, outcome, delivery, self.started_at))
        if self.newest is None or obs.received_at > self.newest:
            self.newest = obs.received_at

    def merge(self, done: ShardDone) -> None:
        """Add what a helper computed of the other groups (its versions are in already)."""
        for values in done.rows:
            row = SeriesState(*values)  # type: ignore[arg-type]
            self.replay.rows[row.id] = row
        self.report.events += done.events
        self.report.refused.update(done.refused)
        self.dead = sorted([*self.dead, *done.dead], key=lambda d: (d[0], d[1]))
        if done.newest is not None and (self.newest is None or done.newest > self.newest):
            self.newest = done.newest


class _Piped:
    """A helper's version rows, sent to the main process in chunks while they are computed
    (`encode`d as the main process keeps them)."""

    def __init__(self, pipe: PipeEnd, encode: Encode) -> None:
        self.pipe, self.encode, self.count = pipe, encode, 0
        self._chunk: list[Sequence[object]] = []

    def append(self, row: tuple[object, ...]) -> None:
        self._chunk.append(self.encode(row))
        self.count += 1
        if len(self._chunk) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._chunk:
            self.pipe.send(("versions", self._chunk))
            self._chunk = []


def rebuild_bulk(settings: Settings, catalog: Catalog, say: Say = lambda _: None) -> Rebuilt:
    """Replace the read model with one computed from the canonical topic up to its end offsets
    now, then hand the aggregator's consumer group those offsets; `say` hears of progress."""
    if not settings.kafka_bootstrap:
        raise ValueError("STADSPULS_KAFKA_BOOTSTRAP must be set to rebuild the read model")
    postgres = make_url(settings.database_url).get_backend_name() == "postgresql"
    shards = processes(settings.rebuild_processes, os.cpu_count(), postgres)
    if shards > 1:
        try:
            return _rebuild(settings, catalog, say, shards)
        except MisroutedError as exc:
            say(f"{exc}: computing every group in one process instead")
    return _rebuild(settings, catalog, say, 1)


def _rebuild(settings: Settings, catalog: Catalog, say: Say, shards: int) -> Rebuilt:
    group, topic = settings.aggregate_app_id, settings.topic("observations.v1")
    helpers: list[Helper] = []
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
        job = _Job(catalog, topic, handled, utcnow(), shards=shards)
        if engine.dialect.name != "postgresql":  # kept until the transaction opens, encoded
            job.versions = _Kept(_encoder(engine.dialect))
        where = [(tp.topic, tp.partition) for tp in partitions]
        for shard in range(1, shards):
            args = (settings, catalog, topic, handled, job.started_at, shard, shards, where)
            helpers.append(Helper(_serve_shard, args, name=f"stadspuls-rebuild-{shard}"))
        if helpers:
            say(f"computing the groups in {shards} processes")
        before_commit = lambda: refuse_if_active(admin, group, after=True)  # noqa: E731
        with collecting_rarely():  # the job keeps what it computes: collections rescanned it all
            if engine.dialect.name == "postgresql":
                _rebuild_streaming(settings, engine, partitions, job, helpers, before_commit, say)
            else:
                started = time.monotonic()
                _read_all(settings, partitions, job, helpers, say)
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
        for helper in helpers:
            helper.stop()
        engine.dispose()
        admin.close()


def _read_all(
    settings: Settings, partitions: list[TopicPartition], job: _Job, helpers: list[Helper], say: Say
) -> None:
    """Read the topic into `job`, the helpers each computing their own groups meanwhile (their
    versions handed to `job.versions` as they come), then add what they computed."""
    versions = job.versions
    assert not isinstance(versions, _Piped)

    def begin(ends: dict[int, int]) -> None:
        for helper in helpers:
            helper.begin(ends, versions.take)

    asyncio.run(_read(settings, partitions, job, say, on_ends=begin))
    for helper in helpers:
        job.merge(helper.finish())


def _serve_shard(
    pipe: PipeEnd,
    settings: Settings,
    catalog: Catalog,
    topic: str,
    handled: dict[int, int],
    started_at: datetime,
    shard: int,
    shards: int,
    partitions: list[tuple[str, int]],
) -> None:
    """A helper process (`bulk_shards.Helper`): compute one shard of the job once the main
    process sends the end offsets, sending back its versions, then its series rows and refusals."""
    try:
        ends: dict[int, int] = pipe.recv()
        job = _Job(catalog, topic, handled, started_at, shard=shard, shards=shards)
        dialect = make_url(settings.database_url).get_dialect()()
        encode = _encoder(dialect) if dialect.name != "postgresql" else tuple
        job.versions = piped = _Piped(pipe, encode)
        where = [TopicPartition(t, p) for t, p in partitions]
        with collecting_rarely():
            asyncio.run(_read(settings, where, job, lambda _: None, ends=ends))
            piped.flush()
            rows = [tuple(vars(row).values()) for row in job.replay.rows.values()]
        for at in range(0, len(rows), CHUNK):
            pipe.send(("rows", rows[at : at + CHUNK]))
        pipe.send(("done", (job.report.events, job.report.refused, job.dead, job.newest)))
    except (EOFError, BrokenPipeError):
        return  # the main process has ended: nobody waits for this shard
    except MisroutedError as exc:
        pipe.send(("misrouted", str(exc)))
    except BaseException:
        pipe.send(("failed", traceback.format_exc()))
    finally:
        pipe.close()


def _encoder(dialect: Dialect) -> Encode:
    """How a version row is handed to the driver (SQLite's storage formats)."""
    return RawTable(series_versions, VERSION_COLUMNS, dialect).encode


def _said_read(job: _Job, say: Say) -> None:
    say(f"read {job.report.events} events up to the end offsets in {job.report.read_seconds:.1f}s")


def _rebuild_streaming(
    settings: Settings,
    engine: Engine,
    partitions: list[TopicPartition],
    job: _Job,
    helpers: list[Helper],
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
            _read_all(settings, partitions, job, helpers, say)
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


async def _read(
    settings: Settings,
    partitions: list[TopicPartition],
    job: _Job,
    say: Say,
    ends: dict[int, int] | None = None,
    on_ends: Callable[[dict[int, int]], None] = lambda _: None,
) -> None:
    """Read every partition from its start up to its end offset into `job`: `ends` (partition ->
    offset), else those as of now, which `on_ends` hears of before the reading starts."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        client_id="stadspuls-rebuild",
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        if ends is None:
            ends = {tp.partition: n for tp, n in (await consumer.end_offsets(partitions)).items()}
            on_ends(ends)
        job.report.ends = {tp.partition: ends[tp.partition] for tp in partitions}
        ends_at = {tp: ends[tp.partition] for tp in partitions}
        starts = await consumer.beginning_offsets(partitions)
        consumer.assign(partitions)
        remaining = {tp for tp in partitions if ends_at[tp] > starts[tp]}
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        deadline, reported = time.monotonic() + READ_TIMEOUT, time.monotonic()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=FETCHED)
            for tp, records in fetched.items():
                end, partition = ends_at[tp], tp.partition
                for record in records:
                    if record.offset < end:
                        job.take(partition, record)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends_at[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            if fetched:
                deadline = time.monotonic() + READ_TIMEOUT
            elif time.monotonic() > deadline:
                raise TimeoutError(f"reading {job.topic} did not reach its end offsets {ends}")
            if time.monotonic() - reported > 5:
                reported = time.monotonic()
                say(f"read {job.report.events} of {sum(ends.values())} events (of this process)")
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
        # the secondary indexes built once over the loaded rows, not row by row (a random
        # observation_id per row made each insert a walk of a large index)
        for index in series_versions.indexes:
            index.drop(conn)
        versions = RawTable(series_versions, VERSION_COLUMNS, conn.dialect)
        versions.load(conn, job.versions.rows, encoded=True)
        step = _took(say, "versions loaded", step)
        for index in series_versions.indexes:
            index.create(conn)
        step = _took(say, "their indexes built", step)
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
    if conn.dialect.name == "postgresql":  # the projections' plans, and the live worker's after
        analyze(conn, [series.name, series_versions.name])  # (else none until autovacuum)
        step = _took(say, "planner statistics gathered", step)
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


async def _dead_letter(settings: Settings, dead: list[Dead]) -> None:
    """Send refused events to the dead-letter topic as the aggregator does, and wait for it."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        sent: list[Any] = [
            await producer.send(
                settings.topic("observations.dlq.v1"), value=v, key=k, headers=headers
            )
            for _, _, k, v, headers in dead
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
