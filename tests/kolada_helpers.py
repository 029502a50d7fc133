"""What the Kolada tests share: the bundled catalog with an older backfill, the expected values
of the recorded answers, and a runner wired to a given publisher."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from services.ingest.connectors.cursors import CursorStore
from services.ingest.connectors.http import RetryPolicy
from services.ingest.connectors.kolada.connector import KoladaConnector
from services.ingest.connectors.metrics import ConnectorMetrics
from services.ingest.connectors.runner import Runner
from services.ingest.metrics import IngestMetrics
from services.ingest.ports import Publisher
from services.ingest.service import IngestService
from shared.catalog.loader import CATALOG_PATH, load_catalog_text
from shared.domain.catalog import Catalog
from shared.settings import Settings
from tests.fakes import MemoryIdempotency
from tests.kolada_server import RECORDED, FakeKolada, v3

#: The bundled catalog, asking for the years from 2000: 27 years, more than 25 to a segment.
CATALOG = load_catalog_text(
    CATALOG_PATH.read_text(encoding="utf-8").replace("backfill_from: 2015", "backfill_from: 2000")
)
FIRST_RUN = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)  # the connector's clock on its first run
LATER_RUN = datetime(2025, 6, 15, 6, 0, tzinfo=UTC)  # after Kolada's revisions of 2025-06-10

Series = tuple[str, str, str]  # indicator, period, gender (all at the city)


def expected_values(catalog: Catalog, files: list[str]) -> dict[Series, float | None]:
    """What the recorded answers say the city's series are, later files over earlier ones
    (None: withdrawn); null values and unmapped genders are no series."""
    by_kpi = {i.kolada.kpi: i for i in catalog.indikatorer if i.kolada is not None}
    out: dict[Series, float | None] = {}
    for name in files:
        for item in json.loads((RECORDED / name).read_text())["values"]:
            ind = by_kpi[item["kpi"]]
            for value in item["values"]:
                key = (ind.id, str(item["period"]), value["gender"])
                if value["gender"] not in ind.genders:
                    continue
                if item.get("isdeleted") or value.get("isdeleted"):
                    out[key] = None
                elif value["value"] is not None:
                    out[key] = value["value"]
    return out


@contextlib.asynccontextmanager
async def kolada_runner(
    fake: FakeKolada,
    settings: Settings,
    engine: Engine,
    publisher: Publisher,
    now: Callable[[], datetime],
    catalog: Catalog = CATALOG,
) -> AsyncIterator[Runner]:
    """A runner of the `kolada` source on `fake`, publishing with `publisher`, quick retries."""
    metrics = IngestMetrics()
    service = IngestService(settings, catalog, publisher, MemoryIdempotency(), metrics)
    async with httpx.AsyncClient(timeout=10) as client:
        connector = KoladaConnector(catalog, "kolada", v3(fake), client, RetryPolicy(2, 0.05), now)
        registry = CollectorRegistry()
        yield Runner(connector, service, CursorStore(engine), ConnectorMetrics(registry))


def sample(runner: Runner, name: str, **labels: str) -> float:
    """A connector metric's value (0 when absent)."""
    found = runner.metrics.registry.get_sample_value(name, {"connector": "kolada", **labels})
    return found or 0.0
