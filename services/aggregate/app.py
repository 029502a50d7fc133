"""The aggregator: a faust-streaming worker. Run with `stadspuls serve aggregate`.

One agent reads the canonical observation topic in batches; the writer process (`writer.py`)
decodes each batch and applies it to the read model in one SQL transaction (see `store.py`); only
then does the agent let faust commit the offsets. Messages that cannot be decoded or placed go to
the dead-letter topic with the reason; the stream never stalls on them. What each batch changed
goes to the projector process (`projecting.py`), which projects it beside the writer's next
batches, at most once per `aggregate_projection_seconds`, and once more as soon as the stream is
idle for IDLE_SECONDS (see `projections.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import faust
import orjson
from sqlalchemy import Engine

from services.aggregate.catalog_start import CatalogStart
from services.aggregate.health import Health
from services.aggregate.lag import OffsetReader, snapshot
from services.aggregate.lifecycle import run_writer
from services.aggregate.metrics import AggregateMetrics, update_gauges
from services.aggregate.pipeline import Pipeline
from services.aggregate.retry import until_done
from services.aggregate.web import add_pages
from services.aggregate.writer import (
    PROJECT,
    Applied,
    Writer,
    WriterDiedError,
    WriterError,
    dlq_headers,
)
from shared.domain.catalog import Catalog
from shared.domain.rollup import Outcome
from shared.kafka_security import faust_credentials
from shared.readmodel.store import Offsets
from shared.readmodel.versions import Delivery
from shared.settings import Settings

log = logging.getLogger("stadspuls.aggregate")
IDLE_SECONDS = 0.2  # no batch for this long: project what is pending now
HANDOVER_SECONDS = 0.02  # how often what batches changed is handed to the projector process
PIPELINE_DEPTH = 1  # batches handed to the writer while faust gathers the next
SESSION_SECONDS = 15.0  # heartbeats every 3 s; five missed ones end a dead worker's membership


def consumer_config(settings: Settings) -> dict[str, Any]:
    """The faust consumer settings of the aggregator (the benchmark's ceiling worker uses them too)."""
    return {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "broker_credentials": faust_credentials(settings),  # TLS and SASL of every client
        "store": "memory://",
        "processing_guarantee": "at_least_once",
        "value_serializer": "raw",
        "key_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": False,
        "broker_max_poll_records": settings.aggregate_batch_size,
        "topic_disable_leader": True,
        # A worker killed without leaving keeps its partitions until its session expires: faust's
        # 60 s default made a restarted worker wait about a minute to rejoin.
        "broker_session_timeout": SESSION_SECONDS,
    }


def create_app(
    settings: Settings, catalog: Catalog, engine: Engine, start: CatalogStart | None = None
) -> faust.App:
    """Wire the faust app: topics, the agent, the writer process, the web pages (spawns nothing);
    `start` says what the catalog taking effect re-projected (for the metrics)."""
    settings.aggregate_data_dir.mkdir(parents=True, exist_ok=True)  # faust makes only the last part
    app = faust.App(
        settings.aggregate_app_id,
        **consumer_config(settings),
        web_enabled=True,
        web_bind=settings.host,
        web_port=settings.aggregate_port,
        web_in_thread=False,
        topic_allow_declare=True,
        datadir=str(settings.aggregate_data_dir / "{conf.name}-data"),
    )
    metrics = AggregateMetrics()
    for source in catalog.source:  # at 0 from the start: an alert's increase() sees the first
        metrics.reused_ids.labels(source)
    if start is not None:
        metrics.catalog_taken(start)
    health = Health()
    metrics.ready.set_function(lambda: 0.0 if health.reasons() else 1.0)
    # last batch done; projections may be pending; an assignment asks for all to be projected;
    # what batches changed, not yet handed to the projector, and when the oldest of them committed
    state: dict[str, Any] = {
        "last_batch": time.monotonic(),
        "dirty": False,
        "assigned": False,
        "pipeline": None,
        "changed": set(),
        "changed_at": None,
    }

    def writer_restarted() -> None:
        # a batch it committed without answering comes again as a duplicate that changes
        # nothing: project everything once, as after an assignment
        metrics.writer_restarts.inc()
        state["assigned"] = True

    writer = Writer(
        settings.database_url,
        settings.catalog_path,
        settings.aggregate_projection_seconds,
        on_restart=writer_restarted,
    )
    projections = Writer(
        settings.database_url,
        settings.catalog_path,
        settings.aggregate_projection_seconds,
        on_restart=metrics.projector_restarts.inc,  # the new one projects everything
        role=PROJECT,
    )
    run_writer(app, writer)  # started before the agent, ended after it
    run_writer(app, projections)
    writing = asyncio.Lock()  # one batch at a time to the writer
    projecting = asyncio.Lock()  # one request at a time to the projector: changes, flush, refresh
    observations = app.topic(settings.topic("observations.v1"), value_type=bytes, key_type=bytes)
    dlq = app.topic(settings.topic("observations.dlq.v1"), value_type=bytes, key_type=bytes)
    rollups = app.topic(settings.topic("rollups.v1"), value_type=bytes, key_type=bytes)
    topic_name = observations.get_topic_name()
    tasks: set[asyncio.Future[None]] = set()
    offsets = OffsetReader(settings, topic_name)

    def batch_failed(attempt: int, exc: Exception) -> None:
        reason = (
            "writer_died"
            if isinstance(exc, WriterDiedError)
            else "database"
            if isinstance(exc, WriterError)
            else "other"
        )
        metrics.batch_failures.labels(reason).inc()
        metrics.batch_failing.set(1)
        health.failed(str(exc)[:300])
        state["failing_since"] = state.get("failing_since") or time.monotonic()
        log.error(
            "applying a batch failed (attempt %d; it is kept and retried, offsets are not "
            "committed): %s",
            attempt,
            exc,
        )

    async def after_assignment() -> None:
        if state["assigned"]:
            state["assigned"] = False
            await projections.mark_all()

    async def apply_batch(
        values: list[bytes], positions: Offsets, deliveries: list[Delivery]
    ) -> Applied:
        """Apply one batch, retrying until the read model takes it."""

        async def attempt() -> Applied:
            async with writing:
                with metrics.batch_seconds.time():
                    return await writer.apply(values, positions, deliveries)

        health.started()
        applied = await until_done(attempt, batch_failed)
        health.succeeded(positions)
        metrics.batch_failing.set(0)
        if failing_since := state.pop("failing_since", None):  # the operator's "it is back"
            log.warning(
                "applying batches again: the read model took a batch after %.0fs of failures",
                time.monotonic() - failing_since,
            )
        state["last_batch"], state["dirty"] = time.monotonic(), True
        return applied

    async def to_dlq(event: Any, reason: str, error: str) -> None:
        headers = dlq_headers(event.message.headers, error)  # whole: it may be a JSON list

        async def send() -> None:  # delivered before the batch's offsets may be committed
            await (await dlq.send(key=event.key, value=event.value, headers=headers))

        await until_done(send, lambda n, exc: log.error("DLQ send failed (attempt %d): %s", n, exc))
        metrics.dlq.labels(reason).inc()
        metrics.events.labels(Outcome.INVALID.value).inc()

    async def handle(events: Sequence[Any]) -> None:
        deliveries = [(e.message.topic, e.message.partition, e.message.offset) for e in events]
        applied = await apply_batch([e.value for e in events], _positions(events), deliveries)
        counts: Counter[str] = Counter()
        for event, (outcome, error) in zip(events, applied.outcomes, strict=True):
            if error is None:
                counts[outcome] += 1
            else:
                await to_dlq(event, outcome, error)
        for outcome, n in counts.items():
            metrics.events.labels(outcome).inc(n)
        for seconds in applied.freshness:
            metrics.freshness.observe(seconds)
        reused: dict[str, list[str]] = {}
        for source, observation_id, series_id in applied.conflicts:
            reused.setdefault(source, []).append(f"{observation_id} ({series_id})")
        for source, which in reused.items():  # one line per source and batch, however many
            metrics.reused_ids.labels(source).inc(len(which))
            log.warning(
                "source %s reused %d observation_id(s) for other numbers, e.g. reused"
                " observation_id %s: recorded as duplicates and not shown; each version needs an"
                " observation_id of its own",
                source,
                len(which),
                ", ".join(which[:5]),
            )
        if applied.changed:  # handed to the projector by `hand_over`
            state["changed"].update(applied.changed)
            if state["changed_at"] is None:
                state["changed_at"] = applied.committed_at

    def release(events: Sequence[Any]) -> None:
        """Let faust commit a batch's offsets: its transaction and dead letters are done."""
        consumer = app.consumer
        assigned = consumer.assignment()
        generation = app.consumer_generation_id
        for event in events:
            message = event.message
            # a batch taken before a rebalance is not acked in the next generation: the
            # partition's new owner has it delivered again (and finds it applied)
            if message.tp in assigned and message.generation_id == generation:
                message.acked = False  # held back when it was taken
                consumer.ack(message)

    @app.agent(observations, concurrency=1)
    async def apply_observations(stream: Any) -> None:
        """Apply batches of observations to the read model; send what cannot be used to the DLQ.

        faust gathers the next batch while the writer applies this one (`pipeline.py`).
        """
        pipeline = Pipeline(handle, release, depth=PIPELINE_DEPTH)
        metrics.batches_pending.set_function(lambda: pipeline.pending)
        state["pipeline"] = pipeline
        try:
            async for events in stream.take_events(
                settings.aggregate_batch_size, settings.aggregate_batch_seconds
            ):
                _hold_back(events)  # faust's ack after this iteration is a no-op; `release` acks
                await pipeline.submit(events)
        finally:
            state["pipeline"] = None
            await pipeline.cancel()

    async def publish(documents: list[tuple[str, dict[str, Any]]]) -> None:
        try:  # derived documents: the next projection sends them again, never hold the stream
            for rollup_id, document in documents:
                await rollups.send(key=rollup_id.encode(), value=orjson.dumps(document))
        except Exception:
            log.exception("publishing rollup documents failed")
        update_gauges(catalog, metrics, [d for _, d in documents])

    async def find_targets(generation: int) -> None:
        """Read the assigned partitions' end offsets and how far the read model already is."""
        while health.generation == generation:
            try:
                group, applied = await asyncio.to_thread(snapshot, offsets, engine)
            except Exception as exc:
                log.warning("reading offsets after an assignment failed, retrying: %s", exc)
                await asyncio.sleep(1.0)
                continue
            start = {p: max(applied.get(p, 0), group.committed.get(p, 0)) for p in group.ends}
            health.set_targets(generation, group.ends, start)
            return

    @app.on_partitions_assigned.connect
    def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Project everything once, and catch up before saying ready."""
        state["assigned"] = state["dirty"] = True  # a worker that held them may have died mid-way
        mine = [
            (tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic == topic_name
        ]
        task = asyncio.ensure_future(find_targets(health.assign(mine)))
        tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(tasks.discard)

    async def to_projector(request: Any) -> None:
        """One request to the projector process: publish its documents, observe its lag."""
        async with projecting:
            if projections.closed:  # the worker is stopping; the next one projects everything
                return
            await after_assignment()
            with metrics.projection_seconds.time():
                answer = await request()
        if isinstance(answer, Applied):
            _observe_lag(metrics, answer.status_lag)
            state["dirty"] = state["dirty"] or answer.more
            answer = answer.documents
        await publish(answer)

    @app.timer(interval=HANDOVER_SECONDS)
    async def hand_over() -> None:
        """Hand what batches changed to the projector (it projects when due), and project what
        the last batches left pending once the stream has gone idle."""
        if health.failing:
            return  # the database refuses the batch; projecting would fail the same way
        changed, at = state["changed"], state["changed_at"]
        try:
            if changed or state["assigned"]:
                state["changed"], state["changed_at"] = set(), None
                await to_projector(lambda: projections.project(sorted(changed), at))
                return
            if not state["dirty"] or time.monotonic() - state["last_batch"] < IDLE_SECONDS:
                return
            pipeline = state["pipeline"]
            if pipeline is not None and pipeline.pending:
                return  # not idle: a batch is on its way to the writer
            state["dirty"] = False  # set again by a flush that leaves more, or by a batch
            await to_projector(projections.flush)
        except Exception:  # a timer that raises would crash the worker; try again next time
            state["dirty"] = True
            log.exception("projecting the pending summaries failed")

    @app.timer(interval=settings.aggregate_refresh_seconds)
    async def refresh_summaries() -> None:
        """Recompute every summary now and then: an indicator turns stale as time passes."""
        if health.failing:
            return
        try:
            await to_projector(projections.refresh)
        except Exception:  # a timer that raises would crash the worker; try again next time
            log.exception("refreshing the summaries failed")

    @app.timer(interval=settings.aggregate_lag_seconds)
    async def measure_offsets() -> None:
        """Export lag, committed and applied offsets per partition."""
        try:
            group, applied = await asyncio.to_thread(snapshot, offsets, engine)
        except Exception as exc:  # a timer that raises would crash the worker; try again next time
            log.warning("measuring offsets failed: %s", exc)
            return
        health.advance(applied)
        for (topic, partition), value in group.lag().items():
            metrics.lag.labels(topic, str(partition)).set(value)
        for (topic, partition), value in group.committed.items():
            metrics.committed_offset.labels(topic, str(partition)).set(value)
        for (topic, partition), value in applied.items():
            metrics.applied_offset.labels(topic, str(partition)).set(value)

    add_pages(app, metrics, health, engine)
    return app


def _observe_lag(metrics: AggregateMetrics, seconds: float | None) -> None:
    if seconds is not None:
        metrics.status_lag.observe(seconds)


def _positions(events: Sequence[Any]) -> dict[tuple[str, int], int]:
    """The offset after the newest event of each partition in a batch."""
    positions: dict[tuple[str, int], int] = {}
    for event in events:
        message = event.message
        key = (message.topic, message.partition)
        positions[key] = max(positions.get(key, 0), message.offset + 1)
    return positions


def _hold_back(events: Sequence[Any]) -> None:
    """Keep the offsets of a batch from being committed until it is applied.

    faust acks a `take_events` batch in a `finally` as soon as the agent's iteration ends (even
    when the agent raised), and the next commit would then include it. Marking the messages acked
    ourselves makes faust's ack a no-op, so they never enter its acked offsets: commits stop below
    them until `release` acks them after their transaction, and a batch never released (failed,
    worker stopped) is delivered again after the next assignment.
    """
    for event in events:
        event.message.acked = True
