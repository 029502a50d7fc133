"""The ingest service's composition root. Run it with `stadspuls serve ingest`.

It wires the real adapters — aiokafka publisher, SQL key and idempotency stores, Prometheus
registry — and, unless `STADSPULS_INGEST_RAW_VALIDATOR=false`, runs the raw-topic validator in the
same process. Topics are created at startup when missing (retried in the background until Kafka
answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from kafka.errors import TopicAuthorizationFailedError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect

from services.ingest.answers import problem, rate_limited, unavailable
from services.ingest.auth import KeyVerifier
from services.ingest.dependencies import IngestState, RateLimitedError, UnauthorizedError
from services.ingest.idempotency import IdempotencyStore
from services.ingest.idempotency_ledger import IdempotencyLedger
from services.ingest.metrics import IngestMetrics, multiprocess_folder
from services.ingest.publisher import KafkaPublisher
from services.ingest.raw_validator import RawValidator
from services.ingest.routes import router
from services.ingest.schemas import ObservationBatch
from services.ingest.service import IngestService
from services.ingest.throttle import source_throttle
from shared.domain.catalog import Catalog
from shared.domain.observation import utcnow
from shared.http_head import HeadAsGet
from shared.http_metrics import HttpMetricsMiddleware
from shared.settings import Settings

log = logging.getLogger(__name__)

#: By default a pending Idempotency-Key claim lapses this long after the publish timeout: its request
#: has been answered by then, or died without releasing it (a takeover repeats the same ids).
LEASE_MARGIN_SECONDS = 5.0

#: Until the topics exist, ingest tries to create them this often, each try bounded by it.
TOPICS_EVERY = 5.0

DESCRIPTION = """Source systems push observations here, as JSON, CSV or .xlsx batches of up to 10 000 rows.

Every row is validated against the catalog; the answer lists every error of every rejected row as
`{row, field, code, message}`. `202` (`200` for dry runs) comes only after Kafka acknowledged every
accepted row; else, within the publish timeout, `503` with `Retry-After` whose `outcome` says
whether nothing was accepted (`not_accepted`) or some rows may have been (`unknown`: retrying with
the same `Idempotency-Key` is safe).
Authenticate with `Authorization: Bearer <source key>` (`stadspuls keys create SOURCE`).
"""


def create_app(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    engine: Engine | None = None,
    throttle_file: Path | None = None,
) -> FastAPI:
    """Build the ingest app from settings, with real adapters unless given (the source budgets
    in `throttle_file`, shared with the replica's other workers, if given)."""
    if catalog is None:
        from shared.catalog.loader import load_catalog

        catalog = load_catalog(settings.catalog_path)
    if engine is None:
        from shared.db.engine import make_engine

        engine = make_engine(settings.database_url)
    metrics = IngestMetrics()
    publisher = KafkaPublisher(settings)
    lease = timedelta(
        seconds=settings.ingest_idempotency_lease_seconds
        or settings.ingest_publish_timeout_seconds + LEASE_MARGIN_SECONDS
    )
    store = IdempotencyStore(
        engine, ttl=timedelta(hours=settings.ingest_idempotency_ttl_hours), lease=lease
    )
    keys = IdempotencyLedger(store, metrics.idempotency_failures)
    shared_metrics = multiprocess_folder() is not None
    if not shared_metrics:  # a worker's own count, else its file's, set on every flush
        metrics.idempotency_deferred.set_function(lambda: keys.deferred)
    throttle = source_throttle(settings, catalog, shared=throttle_file)
    service = IngestService(settings, catalog, publisher, keys, metrics, throttle=throttle)
    verifier = KeyVerifier(engine, settings)
    state = IngestState(settings, catalog, engine, publisher, metrics, service, verifier, throttle)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_ensure_topics(settings, catalog, stop)),
            asyncio.create_task(_purge_idempotency(store, metrics, stop)),
            asyncio.create_task(_repeat(stop, 1.0, _flushing(keys, metrics, shared_metrics))),
        ]
        if settings.ingest_raw_validator:
            validator = RawValidator(settings, catalog, publisher, metrics)
            tasks.append(asyncio.create_task(validator.run(stop)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait(tasks, timeout=15)
            for task in tasks:
                task.cancel()
            await publisher.stop()

    app = FastAPI(title="Stadspuls ingest", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.ingest = state
    app.include_router(router)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.http)
    app.add_middleware(HeadAsGet)  # outermost: a HEAD is its GET everywhere inside
    app.add_exception_handler(UnauthorizedError, _unauthorized)
    app.add_exception_handler(RateLimitedError, _rate_limited)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(SQLAlchemyError, _database_unavailable(settings))
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.openapi = _openapi_with_batch_schema(app)  # type: ignore[method-assign]
    return app


async def _unauthorized(request: Request, exc: Exception) -> Response:
    return problem(
        401,
        "unauthorized",
        "a valid source key is required: Authorization: Bearer <key>",
        headers={"WWW-Authenticate": 'Bearer realm="stadspuls-ingest"'},
    )


async def _rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitedError)
    return rate_limited(exc.throttled)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The body stopped (the client left, or the server's body timeout answered 408): nobody reads
    # this answer; 499 is what the request metrics count it as.
    return Response(status_code=499)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    where = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors
    )
    return problem(400, "invalid_request", where or "invalid request")


def _database_unavailable(
    settings: Settings,
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        # the driver's own first line (the server refusing, a lock): not SQLAlchemy's text,
        # which quotes the statement's parameters (key hashes, a request's values)
        cause = getattr(exc, "orig", None) or exc
        said = (str(cause).strip().splitlines() or [""])[0][:200]
        log.warning("database error: %s: %s", type(cause).__name__, said)
        return unavailable(
            "database_unavailable",
            "The key store is unreachable, so the request was not processed: nothing was"
            " published. Retry after Retry-After seconds.",
            settings.ingest_retry_after_seconds,
        )

    return handler


def _openapi_with_batch_schema(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The request body is read by hand (for speed and row-level errors); its schema is added here."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            batch = ObservationBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(batch.pop("$defs", {}))
            components["ObservationBatch"] = batch
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


async def _repeat(stop: asyncio.Event, every: float, step: Callable[[], Awaitable[bool]]) -> None:
    """Run `step` now and then every `every` seconds until it returns True or `stop` is set."""
    while not stop.is_set():
        if await step():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _ensure_topics(settings: Settings, catalog: Catalog, stop: asyncio.Event) -> None:
    async def step() -> bool:
        from shared.topics import ensure_topics

        try:
            # Each try gives up within its period, so a stop never waits on a thread that is
            # still trying to reach an absent cluster (that held a shutdown for 30 s).
            await asyncio.to_thread(ensure_topics, settings, None, catalog, TOPICS_EVERY)
        except TopicAuthorizationFailedError as exc:
            # Least privilege: where ACLs keep ingest from creating topics, an operator does.
            log.info("%s: topics are left to `stadspuls topics`", exc)
            return True
        except Exception as exc:
            log.warning("could not create topics yet: %s", exc)
            return False
        return True

    if settings.kafka_bootstrap:
        await _repeat(stop, TOPICS_EVERY, step)


async def _purge_idempotency(
    store: IdempotencyStore, metrics: IngestMetrics, stop: asyncio.Event
) -> None:
    async def step() -> bool:
        try:
            await asyncio.to_thread(store.purge, utcnow())
        except Exception as exc:
            metrics.idempotency_failures.labels("purge").inc()
            log.warning("could not purge idempotency records: %s", exc)
        return False

    await _repeat(stop, 3600.0, step)


def _flushing(
    keys: IdempotencyLedger, metrics: IngestMetrics, count: bool
) -> Callable[[], Awaitable[bool]]:
    async def step() -> bool:
        await keys.flush()
        if count:
            metrics.idempotency_deferred.set(keys.deferred)
        return False

    return step
