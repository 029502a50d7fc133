"""The connectors' composition root: a `Runner` for a catalog source, wired to real adapters.

`stadspuls pull NAME` and `stadspuls serve connector NAME` both build it here. A connector kind
is one factory in `FACTORIES`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from services.ingest.connectors.base import Connector
from services.ingest.connectors.cursors import CursorStore
from services.ingest.connectors.http import RetryPolicy
from services.ingest.connectors.kolada.connector import KoladaConnector
from services.ingest.connectors.metrics import ConnectorMetrics
from services.ingest.connectors.pxweb.connector import PxWebConnector
from services.ingest.connectors.pxweb.pacing import PxWebLimits
from services.ingest.connectors.runner import Runner
from services.ingest.idempotency import IdempotencyStore
from services.ingest.idempotency_ledger import IdempotencyLedger
from services.ingest.metrics import IngestMetrics
from services.ingest.ports import Publisher
from services.ingest.service import IngestService
from shared.domain.catalog import Catalog
from shared.domain.mappings.connector import ConnectorConfig, ConnectorKind
from shared.settings import Settings

Factory = Callable[[Settings, Catalog, str, httpx.AsyncClient, RetryPolicy], Connector]


def _kolada(
    settings: Settings, catalog: Catalog, name: str, client: httpx.AsyncClient, policy: RetryPolicy
) -> Connector:
    return KoladaConnector(catalog, name, settings.kolada_base_url, client, policy)


def _pxweb(
    settings: Settings, catalog: Catalog, name: str, client: httpx.AsyncClient, policy: RetryPolicy
) -> Connector:
    # each table's base URL is in its mapping; PxWeb's own limits pace and retry its requests
    return PxWebConnector(name, catalog, client, PxWebLimits.of(settings))


FACTORIES: dict[ConnectorKind, Factory] = {
    ConnectorKind.KOLADA: _kolada,
    ConnectorKind.PXWEB: _pxweb,
}


class NotAConnectorError(ValueError):
    """The name is no catalog source with a connector block this build can run."""


def connector_config(catalog: Catalog, name: str) -> ConnectorConfig:
    """The connector block of source `name`; NotAConnectorError says why there is none."""
    kalla = catalog.source.get(name)
    pulled = sorted(s.id for s in catalog.kallor if s.connector is not None)
    if kalla is None or kalla.connector is None:
        raise NotAConnectorError(
            f"{name!r} is no pulled source of the catalog; pulled sources: {', '.join(pulled) or 'none'}"
        )
    if kalla.connector.kind not in FACTORIES:
        raise NotAConnectorError(f"no {kalla.connector.kind.value} connector in this build")
    return kalla.connector


@contextlib.asynccontextmanager
async def open_runner(
    settings: Settings,
    catalog: Catalog,
    engine: Engine,
    name: str,
    publisher: Publisher,
    registry: CollectorRegistry,
) -> AsyncIterator[Runner]:
    """A runner of source `name` that publishes with `publisher`; its HTTP client closes after."""
    config = connector_config(catalog, name)
    ingest_metrics = IngestMetrics(registry)
    ttl = timedelta(hours=settings.ingest_idempotency_ttl_hours)
    lease = timedelta(seconds=settings.ingest_publish_timeout_seconds)
    keys = IdempotencyLedger(  # never asked: connectors send no Idempotency-Key
        IdempotencyStore(engine, ttl=ttl, lease=lease), ingest_metrics.idempotency_failures
    )
    service = IngestService(settings, catalog, publisher, keys, ingest_metrics)
    policy = RetryPolicy(settings.connector_retries, settings.connector_backoff_seconds)
    timeout = httpx.Timeout(settings.connector_http_timeout_seconds)
    headers = {"User-Agent": "stadspuls-connector", "Accept": "application/json"}
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
        connector = FACTORIES[config.kind](settings, catalog, name, client, policy)
        metrics = ConnectorMetrics(registry)
        metrics.schedule.labels(name).set(config.schedule.total_seconds())
        yield Runner(connector, service, CursorStore(engine), metrics)
