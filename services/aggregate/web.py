"""The aggregator's web pages: `/metrics`, `/healthz` (alive) and `/readyz` (ready, or why not)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine

from services.aggregate.health import Health
from services.aggregate.metrics import AggregateMetrics
from shared.db.engine import ping

PING_SECONDS = 2.0  # /readyz: the longest wait for the database to answer


def add_pages(app: faust.App, metrics: AggregateMetrics, health: Health, engine: Engine) -> None:
    """Serve the worker's metrics, liveness and readiness on faust's web server."""

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
        reasons = health.reasons()
        body: dict[str, Any] = {}
        try:
            await asyncio.wait_for(asyncio.to_thread(ping, engine), PING_SECONDS)
        except Exception as exc:
            body["database"] = (str(exc) or f"no answer within {PING_SECONDS:g}s")[:200]
            reasons.append(f"database: {body['database']}")
        if reasons:
            return web.json({"status": "unavailable", "reasons": reasons, **body}, status=503)
        return web.json({"status": "ok"})
