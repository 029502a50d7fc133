"""The aggregator: a faust-streaming worker. Run with `stadspuls serve aggregate`.

One agent reads the canonical observation topic in batches, applies each batch to the read model in
one SQL transaction (see `store.py`) and only then lets faust commit the offsets. Messages it cannot
decode or place go to the dead-letter topic with the reason; the stream never stalls on them.
Projections run at most once per PROJECTION_INTERVAL inside a batch's transaction, and once more as
soon as the stream is idle for IDLE_SECONDS (see `projections.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from sqlalchemy import Engine, text

from services.aggregate.lag import consumer_lag
from services.aggregate.metrics import AggregateMetrics, update_gauges
from services.aggregate.projections import Projector
from services.aggregate.store import SeriesStore
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, utcnow
from shared.domain.rollup import InvalidObservationError, Outcome
from shared.settings import Settings

log = logging.getLogger("stadspuls.aggregate")
PROJECTION_INTERVAL = 1.0  # seconds: the longest a status lags its series under a steady load
IDLE_SECONDS = 0.2  # no batch for this long: project what is pending now


def create_app(settings: Settings, catalog: Catalog, engine: Engine) -> faust.App:
    """Wire the faust app: topics, the agent, the web pages for metrics and health."""
    app = faust.App(
        settings.aggregate_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        value_serializer="raw",
        key_serializer="raw",
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        broker_max_poll_records=settings.aggregate_batch_size,
        web_enabled=True,
        web_bind=settings.host,
        web_port=settings.aggregate_port,
        web_in_thread=False,
        topic_allow_declare=True,
        topic_disable_leader=True,
    )
    metrics = AggregateMetrics()
    store = SeriesStore(engine, catalog)
    projector = Projector(catalog, interval=PROJECTION_INTERVAL)
    writing = asyncio.Lock()  # one transaction of this worker at a time: batch, flush or refresh
    last_batch = {"at": time.monotonic()}
    observations = app.topic(settings.topic("observations.v1"), value_type=bytes, key_type=bytes)
    dlq = app.topic(settings.topic("observations.dlq.v1"), value_type=bytes, key_type=bytes)
    rollups = app.topic(settings.topic("rollups.v1"), value_type=bytes, key_type=bytes)

    async def to_dlq(event: Any, reason: str, error: str) -> None:
        metrics.dlq.labels(reason).inc()
        metrics.events.labels(Outcome.INVALID.value).inc()
        headers = list(_headers(event.message.headers))
        headers.append(("error", error.encode()[:1000]))
        await dlq.send(key=event.key, value=event.value, headers=headers)

    @app.agent(observations, concurrency=1)
    async def apply_observations(stream: Any) -> None:
        """Apply batches of observations to the read model; send what cannot be used to the DLQ."""
        async for events in stream.take_events(
            settings.aggregate_batch_size, settings.aggregate_batch_seconds
        ):
            batch: list[Observation] = []
            for event in events:
                try:
                    obs = Observation.model_validate_json(event.value)
                    store.rollup.check(obs)
                    batch.append(obs)
                except ValidationError as exc:
                    await to_dlq(event, "malformed", _first_error(exc))
                except InvalidObservationError as exc:
                    await to_dlq(event, "invalid", str(exc))
            if not batch:
                continue
            async with writing:
                with metrics.batch_seconds.time():
                    result = await asyncio.to_thread(store.apply, batch, projector)
                projector.done(result.projected)
                last_batch["at"] = time.monotonic()
            for outcome in result.outcomes:
                metrics.events.labels(outcome.value).inc()
            committed = result.committed_at
            assert committed is not None
            for obs, outcome in zip(batch, result.outcomes, strict=True):
                if outcome is Outcome.APPLIED:
                    metrics.freshness.observe(
                        max(0.0, (committed - obs.received_at).total_seconds())
                    )
            await publish(result.documents)

    async def publish(documents: list[tuple[str, dict[str, Any]]]) -> None:
        for rollup_id, document in documents:
            await rollups.send(key=rollup_id.encode(), value=orjson.dumps(document))
        update_gauges(catalog, metrics, [d for _, d in documents])

    @app.on_partitions_assigned.connect
    def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Project everything once: a worker that held these partitions may have died mid-way."""
        projector.mark_all()

    @app.timer(interval=IDLE_SECONDS / 2)
    async def flush_projections() -> None:
        """Project what the last batches left pending once the stream has gone idle."""
        if not projector.pending or time.monotonic() - last_batch["at"] < IDLE_SECONDS:
            return
        try:
            async with writing:
                projected, documents = await asyncio.to_thread(_flush, engine, projector)
                projector.done(projected)
            await publish(documents)
        except Exception:  # a timer that raises would crash the worker; try again next time
            log.exception("projecting the pending summaries failed")

    @app.timer(interval=settings.aggregate_refresh_seconds)
    async def refresh_summaries() -> None:
        """Recompute every summary now and then: an indicator turns stale as time passes."""
        try:
            async with writing:
                documents = await asyncio.to_thread(_refresh_all, engine, projector, catalog)
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
    app.stadspuls_store = store  # type: ignore[attr-defined]
    return app


def _refresh_all(
    engine: Engine, projector: Projector, catalog: Catalog
) -> list[tuple[str, dict[str, Any]]]:
    with engine.begin() as conn:
        return projector.refresh(conn, catalog.indicator, utcnow())


def _flush(
    engine: Engine, projector: Projector
) -> tuple[set[str], list[tuple[str, dict[str, Any]]]]:
    with engine.begin() as conn:
        return projector.flush(conn)


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    if not raw:
        return []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(k, v) for k, v in items if k != "error"]


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{where}: {err['msg']}"
