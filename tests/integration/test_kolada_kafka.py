"""Kolada → connector → Kafka → aggregator → read model: a full and an incremental pull of the
recorded answers land equal to the oracle, and a failed run adds nothing to the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select

from services.ingest.connectors.runner import RunReport
from shared.db.schema import series
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.settings import Settings
from tests.aggregator import wait_until_oracle, workers
from tests.integration.ingest_helpers import kafka_publisher, read_topic
from tests.kolada_helpers import CATALOG, FIRST_RUN, LATER_RUN, expected_values, kolada_runner
from tests.kolada_server import FakeKolada, kolada_server

pytestmark = pytest.mark.kafka


async def _runs(fake: FakeKolada, settings: Settings, engine: Engine) -> list[RunReport]:
    reports = []
    async with kafka_publisher(settings, "test-kolada") as publisher:
        for when, fault in ((FIRST_RUN, "429"), (LATER_RUN, "500"), (LATER_RUN, "truncated")):
            if fault == "429":
                fake.fail_next(429, retry_after=1)
            elif fault == "500":
                fake.fail_next(500)
            else:
                fake.truncate_next()
            async with kolada_runner(fake, settings, engine, publisher, lambda w=when: w) as runner:
                reports.append(await runner.run())
    return reports


@pytest.mark.timeout(300)
def test_full_and_incremental_pulls_reach_the_read_model_equal_to_the_oracle(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    topic = settings.topic("observations.v1")
    (worker,) = workers(settings, tmp_path, 1)
    try:
        worker.start()
        with kolada_server() as fake:
            full, incremental, failed = asyncio.run(_runs(fake, settings, engine))
        assert (full.outcome, incremental.outcome, failed.outcome) == (
            "succeeded",
            "succeeded",
            "failed",
        ), (full, incremental, failed)
        assert failed.error is not None
        assert failed.error.kind == "malformed_body"
        messages = read_topic(settings.kafka_bootstrap or "", topic)
        assert full.report is not None
        assert incremental.report is not None
        # the failed run published nothing: the log holds the two good runs' rows alone
        assert len(messages) == full.report["accepted"] + incremental.report["accepted"]
        events = [Observation.model_validate_json(m.value) for m in messages]
        wait_until_oracle(engine, catalog, events, timeout=120)
    finally:
        worker.stop()
    want = expected_values(CATALOG, ["data.json", "updates/2025-06-10.json"])
    with engine.connect() as conn:
        rows = conn.execute(
            select(series.c.indicator, series.c.period, series.c.gender, series.c.value)
            .where(series.c.area == "stockholm")
            .where(series.c.source == "kolada")
        ).all()
    assert {(r.indicator, r.period, r.gender): r.value for r in rows} == want


@pytest.mark.timeout(300)
def test_stadspuls_pull_publishes_and_a_second_pull_is_incremental(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from services.cli import app
    from tests.aggregator import env_of

    topic = settings.topic("observations.v1")
    with kolada_server() as fake:
        for name, value in env_of(settings).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("STADSPULS_KOLADA_BASE_URL", f"{fake.base}/v3")
        first = CliRunner().invoke(app, ["pull", "kolada"])
        assert first.exit_code == 0, first.output
        report = orjson.loads(first.stdout)
        assert report["dry_run"] is False
        assert report["accepted"] > 0
        assert len(read_topic(settings.kafka_bootstrap or "", topic)) == report["accepted"]
        second = CliRunner().invoke(app, ["pull", "kolada"])
        assert second.exit_code == 0, second.output
    incremental = [r for r in fake.requests if "from_date=" in r]
    assert len(incremental) == 1  # the second run asked for changes since the first
    assert "/year/" not in incremental[0]
    # the recorded updates are dated 2025-06-10, before the first run: nothing new arrives
    assert orjson.loads(second.stdout)["received"] == 0
