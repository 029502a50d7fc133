"""`stadspuls rebuild`: recompute the read model from the canonical topic in one batch job.

The aggregator's workers must be stopped (the job refuses while its consumer group has members).
The job takes the topic's end offsets at its start and reads every partition up to them with a
plain consumer (no group). Each event is decoded and judged as the aggregator's writer judges it
and applied in memory by the same rollup engine in topic order, each version recorded with the
outcome it has on arrival (`shared.domain.history.Replay`). Then one transaction empties every
read-model table and bulk-loads the series rows, the versions (with their topic positions), the
applied offsets (the end offsets) and the projections; only after it commits is the consumer
group handed the end offsets, so a worker started after continues with the next event: no gap,
no event twice. Killed before the commit, the job leaves the old read model and offsets as they
were; killed after it, the group still holds its old offsets and a worker replays from them onto
a read model that already counts those events (each found recorded, nothing changes).

Dead letters keep the live path's meaning: an event the rules refuse is sent to the dead-letter
topic only at or beyond the group's committed offset, where no live worker has sent it yet (the
live worker sends before it commits), after the read model commits and before the offsets move.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaPartition
from sqlalchemy import Engine, delete

from services.aggregate.rebuild import (
    READ_MODEL_TABLES,
    commit_offsets,
    partitions_of,
    refuse_if_active,
)
from services.aggregate.writer import dlq_headers, judge
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


@dataclass
class _Job:
    """The read model being computed from the log, in memory."""

    catalog: Catalog
    topic: str
    handled: dict[int, int]  # partition -> the group's committed offset (refusals sent below)
    started_at: datetime
    replay: Replay = field(init=False)
    versions: list[tuple[object, ...]] = field(default_factory=list)
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
    engine = make_engine(settings.database_url)
    try:
        refuse_if_active(admin, group)
        partitions = [TopicPartition(tp.topic, tp.partition) for tp in partitions_of(admin, topic)]
        done = admin.list_group_offsets({group: None}).get(group, {})
        handled = {
            tp.partition: m.offset for tp, m in done.items() if tp.topic == topic and m.offset >= 0
        }
        job = _Job(catalog, topic, handled, utcnow())
        started = time.monotonic()
        asyncio.run(_read(settings, partitions, job, say))
        job.report.read_seconds = time.monotonic() - started
        say(
            f"read {job.report.events} events up to the end offsets in {job.report.read_seconds:.1f}s"
        )
        started = time.monotonic()
        replace_read_model(engine, job, lambda: refuse_if_active(admin, group, after=True), say)
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
    store = SeriesStore(engine, job.catalog)
    offsets = {(job.topic, p): n for p, n in job.report.ends.items() if n > 0}
    with engine.begin() as conn:
        for table in READ_MODEL_TABLES:
            conn.execute(delete(table))
        say(
            f"writing the read model in one transaction: {len(job.versions)} versions, "
            f"{len(job.replay.rows)} series rows"
        )
        now, step = utcnow(), time.monotonic()
        RawTable(series_versions, VERSION_COLUMNS, conn.dialect).load(conn, job.versions)
        step = _took(say, "versions loaded", step)
        store.load(conn, job.replay.rows.values(), now)
        if offsets:
            record_offsets(conn, offsets)
        step = _took(say, "series rows loaded", step)
        projector = Projector(job.catalog)
        projector.refresh(conn, job.catalog.indicator, now)
        step = _took(say, "the city's statuses projected", step)
        projector.refresh_areas(conn, None, now)  # every other area's and gender's statuses
        step = _took(say, "every area's and gender's statuses projected", step)
        bump_state(conn, data_as_of=job.newest, committed_at=now)
        reset_answers(conn, now)  # answer revisions start again, under a new generation
        before_commit()
        step = time.monotonic()
    _took(say, "committed", step)
    job.report.versions, job.report.rows = len(job.versions), len(job.replay.rows)


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
