"""`stadspuls serve connector kolada` as a process on real Kafka and PostgreSQL: it runs at once,
serves its health and metrics, counts a failed run by kind, and keeps its cursor in the database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from shared.db.schema import connector_cursors
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.aggregator import env_of
from tests.kolada_server import kolada_server, v3
from tests.services import ServiceProcess

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(300)
def test_the_service_runs_on_start_and_reports_its_runs(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    with kolada_server() as fake:
        env = env_of(settings) | {
            "STADSPULS_KOLADA_BASE_URL": v3(fake),
            "STADSPULS_CONNECTOR_BACKOFF_SECONDS": "0.05",
        }
        fake.fail_next(404)
        failing = ServiceProcess("connector", env, tmp_path / "connector-1.log", args=("kolada",))
        try:
            failing.start()
            wait_for(
                lambda: failing.metric("stadspuls_connector_runs_total", 'outcome="failed"') >= 1,
                timeout=60,
                what="a failed run counted",
            )
            assert failing.metric("stadspuls_connector_errors_total", 'kind="client_error"') == 1
            assert failing.metric("stadspuls_connector_last_success_timestamp_seconds") == 0
            assert failing.metric("stadspuls_connector_schedule_seconds") == 86400
            assert failing.metric("stadspuls_connector_rows_accepted_total") == 0
        finally:
            failing.stop()
        with engine.connect() as conn:
            assert conn.execute(select(connector_cursors)).all() == []

        service = ServiceProcess("connector", env, tmp_path / "connector-2.log", args=("kolada",))
        try:
            service.start()
            wait_for(
                lambda: (
                    service.metric("stadspuls_connector_runs_total", 'outcome="succeeded"') >= 1
                ),
                timeout=60,
                what="a successful run",
            )
            assert service.metric("stadspuls_connector_rows_accepted_total") > 0
            assert (
                service.metric("stadspuls_ingest_observations_accepted_total", 'source="kolada"')
                > 0
            )
            assert service.metric("stadspuls_connector_last_success_timestamp_seconds") > 0
            ready = httpx.get(f"{service.url}/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
        finally:
            service.stop()
        with engine.connect() as conn:
            (row,) = conn.execute(select(connector_cursors)).all()
        assert row.source == "kolada"
        assert set(row.cursor) == {"from_date"}
