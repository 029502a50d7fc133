"""The aggregator: a faust-streaming worker. Run with `stadspuls serve aggregate`.

One agent reads the canonical observation topic in batches; the writer process (`writer.py`)
decodes each batch and applies it to the read model in one SQL transaction (see `store.py`); only
then does the agent let faust commit the offsets. Messages that cannot be decoded or placed go to
the dead-letter topic with the reason; the stream never stalls on them. Projections run at most
once per PROJECTION_INTERVAL inside a batch's transaction, and once more as soon as the stream is
idle for IDLE_SECONDS (see `projections.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

from services.aggregate.lag import consumer_lag
from services.aggregate.metrics import AggregateMetrics, update_gauges
from services.aggregate.writer import Writer
from shared.domain.catalog import Catalog
from shared.domain.rollup import Outcome
from shared.settings import Settings

log = logging.getLogger("stadspuls.aggregate")
PROJECTION_INTERVAL = 1.0  # seconds: the longest a status lags its series under a steady load
IDLE_SECONDS = 0.2  # no batch for this long: project what is pending now


def consumer_config(settings: Settings) -> dict[str, Any]:
    """The faust consumer settings of the aggregator (the benchmark's ceiling worker uses them too)."""
    return {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "store": "memory://",
        "processing_guarantee": "at_least_once",
        "value_serializer": "raw",
        "key_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": False,
        "broker_max_poll_records": settings.aggregate_batch_size,
        "topic_disable_leader": True,
    }


def create_app(settings: Settings, catalog: Catalog, engine: Engine) -> faust.App:
    """Wire the faust app: topics, the agent, the writer process, the web pages."""
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
    writer = Writer(settings.database_url, settings.catalog_path, PROJECTION_INTERVAL)
    writing = asyncio.Lock()  # one request to the writer at a time: batch, flush or refresh
    # last batch done; projections may be pending; an assignment asks for all to be projected
    state = {"last_batch": time.monotonic(), "dirty": False, "assigned": False}
    observations = app.topic(settings.topic("observations.v1"), value_type=bytes, key_type=bytes)
    dlq = app.topic(settings.topic("observations.dlq.v1"), value_type=bytes, key_type=bytes)
    rollups = app.topic(settings.topic("rollups.v1"), value_type=bytes, key_type=bytes)

    async def to_dlq(event: Any, reason: str, error: str) -> None:
        metrics.dlq.labels(reason).inc()
        metrics.events.labels(Outcome.INVALID.value).inc()
        headers = list(_headers(event.message.headers))
        headers.append(("error", error.encode()[:1000]))
        await dlq.send(key=event.key, value=event.value, headers=headers)

    async def after_assignment() -> None:
        if state["assigned"]:
            state["assigned"] = False
            await writer.mark_all()

    @app.agent(observations, concurrency=1)
    async def apply_observations(stream: Any) -> None:
        """Apply batches of observations to the read model; send what cannot be used to the DLQ."""
        async for events in stream.take_events(
            settings.aggregate_batch_size, settings.aggregate_batch_seconds
        ):
            async with writing:
                await after_assignment()
                with metrics.batch_seconds.time():
                    applied = await writer.apply([event.value for event in events])
                state["last_batch"], state["dirty"] = time.monotonic(), True
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
            await publish(applied.documents)

    async def publish(documents: list[tuple[str, dict[str, Any]]]) -> None:
        for rollup_id, document in documents:
            await rollups.send(key=rollup_id.encode(), value=orjson.dumps(document))
        update_gauges(catalog, metrics, [d for _, d in documents])

    @app.on_partitions_assigned.connect
    def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Project everything once: a worker that held these partitions may have died mid-way."""
        state["assigned"] = state["dirty"] = True

    @app.timer(interval=IDLE_SECONDS / 2)
    async def flush_projections() -> None:
        """Project what the last batches left pending once the stream has gone idle."""
        if not state["dirty"] or time.monotonic() - state["last_batch"] < IDLE_SECONDS:
            return
        try:
            async with writing:
                await after_assignment()
                documents = await writer.flush()
                state["dirty"] = False
            await publish(documents)
        except Exception:  # a timer that raises would crash the worker; try again next time
            log.exception("projecting the pending summaries failed")

    @app.timer(interval=settings.aggregate_refresh_seconds)
    async def refresh_summaries() -> None:
        """Recompute every summary now and then: an indicator turns stale as time passes."""
        try:
            async with writing:
                documents = await writer.refresh()
            await publish(documents)
        except Exception:  # a timer that raises would crash the worker; try again next time
            log.exception("refreshing the summaries failed")

    @app.timer(interval=settings.aggregate_lag_seconds)
    async def measure_lag() -> None:
        """Export the consumer group's lag per partition."""
        try:
            lag = await asyncio.to_thread(consumer_lag, settings, observations.get_topic_name())
        except Exception as exc:  # a timer that raises would crash the worker; try again next time
            log.warning("measuring consumer lag failed: %s", exc)
            return
        for (topic, partition), value in lag.items():
            metrics.lag.labels(topic, str(partition)).set(value)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(
            generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        try:
            await asyncio.to_thread(_ping, engine)
        except Exception as exc:
            return web.json({"status": "unavailable", "database": str(exc)[:200]}, status=503)
        return web.json({"status": "ok"})

    app.stadspuls_metrics = metrics  # type: ignore[attr-defined]
    app.stadspuls_writer = writer  # type: ignore[attr-defined]
    return app


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    if not raw:
        return []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(k, v) for k, v in items if k != "error"]


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
