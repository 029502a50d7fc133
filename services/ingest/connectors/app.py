"""A connector as a service: runs on its schedule, serves `/healthz`, `/readyz` and `/metrics`.

Run it with `stadspuls serve connector NAME`. The first run starts at once; the next one a
schedule later (after a failed run, after at most `RETRY_AFTER_FAILURE`, so a passing outage
costs minutes, not a day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from services.ingest.connectors.runner import Runner
from services.ingest.connectors.wiring import connector_config, open_runner
from services.ingest.publisher import KafkaPublisher
from shared.db.engine import ping
from shared.domain.catalog import Catalog
from shared.settings import Settings

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = timedelta(minutes=5)


def create_app(settings: Settings, catalog: Catalog, engine: Engine, name: str) -> FastAPI:
    """The service of connector `name` (a catalog source with a `connector:` block)."""
    config = connector_config(catalog, name)  # refuses a name that is no connector, at once
    registry = CollectorRegistry(auto_describe=True)
    publisher = KafkaPublisher(settings, client_id=f"stadspuls-connector-{name}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        stop = asyncio.Event()
        async with open_runner(settings, catalog, engine, name, publisher, registry) as runner:
            task = asyncio.create_task(_schedule(runner, config.schedule, stop))
            try:
                yield
            finally:
                stop.set()
                await asyncio.wait([task], timeout=15)
                task.cancel()
        await publisher.stop()

    app = FastAPI(title=f"Stadspuls connector {name}", version="1", lifespan=lifespan)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        """Ready when Kafka and the database both answer."""
        kafka, database = await asyncio.gather(publisher.ping(), asyncio.to_thread(_db_ok, engine))
        ok = kafka and database
        body = {"status": "ready" if ok else "unavailable", "kafka": kafka, "database": database}
        return Response(orjson.dumps(body), 200 if ok else 503, media_type="application/json")

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _db_ok(engine: Engine) -> bool:
    try:
        ping(engine)
    except Exception:
        return False
    return True


async def _schedule(runner: Runner, every: timedelta, stop: asyncio.Event) -> None:
    """Run now, then every `every` (sooner again after a failure) until `stop` is set."""
    with contextlib.suppress(Exception):  # from the durable record; 0 (never) alerts in time
        stored = await runner.cursors.load(runner.name)
        last = stored.last_success_at.timestamp() if stored is not None else 0.0
        runner.metrics.last_success.labels(runner.name).set(last)
    while not stop.is_set():
        try:
            result = await runner.run()
        except Exception:  # a bug must not end the schedule; the metrics show the failure
            log.exception("connector %s: run crashed", runner.name)
            runner.metrics.runs.labels(runner.name, "failed").inc()
            runner.metrics.errors.labels(runner.name, "crash").inc()
            ok = False
        else:
            ok = result.ok
            if result.report is not None:
                log.info(
                    "connector %s %s: %s", runner.name, result.outcome, _summary(result.report)
                )
        wait = every if ok else min(every, RETRY_AFTER_FAILURE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait.total_seconds())


def _summary(report: dict[str, object]) -> str:
    keys = ("fetched", "received", "accepted", "rejected", "skipped")
    return ", ".join(f"{k} {report.get(k)}" for k in keys)
