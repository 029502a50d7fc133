"""PxWeb → connector → Kafka → aggregator → read model: a full pull of a v1 district table (the
14 stadsdelsområden before 2020) and a v2 city table, then a revised table with a withdrawn
cell, land in the read model equal to the oracle of every event on the canonical topic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from services.cli import app
from services.ingest.connectors.cursors import CursorStore
from services.ingest.connectors.metrics import ConnectorMetrics
from services.ingest.connectors.pxweb.connector import PxWebConnector
from services.ingest.connectors.pxweb.pacing import PxWebLimits
from services.ingest.connectors.runner import Runner, RunReport
from services.ingest.metrics import IngestMetrics
from services.ingest.service import IngestService
from shared.db.schema import series
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.settings import Settings
from tests.aggregator import env_of, wait_until_oracle
from tests.fakes import MemoryIdempotency
from tests.integration.ingest_helpers import kafka_publisher, read_topic
from tests.integration.test_pxweb_connector import (
    FOLDER,
    TABLE,
    pxweb_catalog,
    pxweb_catalog_text,
)
from tests.integration.test_pxweb_connector import server as server  # the fixture
from tests.pxweb_server import Fault, PxWebServer
from tests.services import ServiceProcess

pytestmark = pytest.mark.kafka


async def _runs(server: PxWebServer, settings: Settings, engine: Engine) -> list[RunReport]:
    catalog = pxweb_catalog(server.url)
    reports = []
    async with kafka_publisher(settings, "test-pxweb") as publisher:
        service = IngestService(settings, catalog, publisher, MemoryIdempotency(), IngestMetrics())
        async with httpx.AsyncClient(timeout=10) as client:
            limits = PxWebLimits(cells=150_000, requests=10, window_seconds=10.0)
            metrics = ConnectorMetrics(CollectorRegistry())
            runner = Runner(
                PxWebConnector("scb", catalog, client, limits),
                service,
                CursorStore(engine),
                metrics,
            )
            reports.append(await runner.run())
            server.serve("GET", FOLDER, "v1-folder-revised.json")
            server.table("POST", TABLE, "v1-data-revised.json")
            reports.append(await runner.run())
            reports.append(await runner.run())  # nothing new: the cursor says so
    return reports


@pytest.mark.timeout(300)
def test_a_full_and_a_revised_pull_reach_the_read_model_equal_to_the_oracle(
    settings: Settings, engine: Engine, server: PxWebServer, tmp_path: Path
) -> None:
    catalog: Catalog = pxweb_catalog(server.url)
    path = tmp_path / "catalog.yaml"
    path.write_text(pxweb_catalog_text(server.url), encoding="utf-8")
    env = env_of(settings) | {"STADSPULS_CATALOG_PATH": str(path)}
    worker = ServiceProcess("aggregate", env, tmp_path / "aggregate.log")
    try:
        worker.start()
        full, revised, idle = asyncio.run(_runs(server, settings, engine))
        assert [r.outcome for r in (full, revised, idle)] == ["succeeded"] * 3, (full, revised)
        assert full.report is not None
        assert revised.report is not None
        assert idle.report is not None
        assert full.report["rejected"] == revised.report["rejected"] == 0, full.report
        assert idle.report["received"] == 0
        messages = read_topic(settings.kafka_bootstrap or "", settings.topic("observations.v1"))
        assert len(messages) == full.report["accepted"] + revised.report["accepted"]
        events = [Observation.model_validate_json(m.value) for m in messages]
        # the revised table is sent whole again: its unchanged cells keep their ids
        ids = [str(e.observation_id) for e in events]
        assert len(set(ids)) == full.report["accepted"] + 2  # one revised cell, one withdrawn
        assert sum(e.retract for e in events) == 1
        wait_until_oracle(engine, catalog, events, timeout=120)
    finally:
        worker.stop()
    with engine.connect() as conn:
        shown = conn.execute(
            select(series.c.area, series.c.value).where(
                series.c.indicator == "forvarvsfrekvens-20-64",
                series.c.period == "2019",
                series.c.gender == "K",
                series.c.area.in_(["kungsholmen", "hagersten-liljeholmen", "alvsjo"]),
            )
        ).all()
    values = {area: value for area, value in shown}
    assert values["kungsholmen"] is None  # withdrawn by the revised table
    assert values["hagersten-liljeholmen"] is not None
    assert values["alvsjo"] is not None


def test_pull_runs_a_pxweb_source_from_the_catalog_dry(
    server: PxWebServer, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = yaml.safe_load(pxweb_catalog_text(server.url))
    for kalla in doc["kallor"]:
        if kalla["id"] == "scb":
            kalla["connector"] = {"kind": "pxweb", "schedule": "P1D"}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("STADSPULS_CATALOG_PATH", str(path))
    monkeypatch.setenv("STADSPULS_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("STADSPULS_KAFKA_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(app, ["pull", "scb", "--dry-run"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["rejected"] == 0, report["errors"]
    # 15 regions × 3 genders × 3 years less two dot cells, and the city table's three years
    assert report["accepted"] == report["received"] == 15 * 3 * 3 - 2 + 3
    assert report["skipped"] == 3
    server.fail("POST", TABLE, *[Fault(500)] * 4)
    failed = CliRunner().invoke(app, ["pull", "scb", "--dry-run"])
    assert failed.exit_code == 1
    assert server.url in failed.stderr
