"""`stadspuls rebuild --replay` on real Kafka and PostgreSQL: refused while a worker runs; otherwise
the read model is emptied, the aggregator replays the canonical topic and the read model equals the
oracle (the batch rebuild, the default: test_bulk_rebuild.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import Engine, func, select

from services.aggregate.rebuild import ActiveWorkersError, rebuild
from services.api.rapporter import freeze
from shared.db.schema import (
    indicator_status,
    namnd_rollup,
    read_model_state,
    series,
    series_versions,
)
from shared.domain.catalog import Catalog
from shared.domain.observation import utcnow
from shared.settings import Settings
from tests.aggregator import env_of, wait_until_oracle
from tests.integration.report_answers import report_answers
from tests.services import ServiceProcess, produce
from tests.streams import StreamMaker

pytestmark = pytest.mark.kafka


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(read_model_state.c.revision)).scalar_one())


def max_version_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(series_versions.c.version_id))).scalar_one())


def min_version_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.min(series_versions.c.version_id))).scalar_one())


def cli_rebuild(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_of(settings)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "rebuild", "--replay", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rebuild_replays_the_topic_into_an_empty_read_model(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    events = StreamMaker(catalog, seed=21).stream(4_000)
    produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
    worker = ServiceProcess("aggregate", env_of(settings), tmp_path / "aggregate.log")
    try:
        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=180)
        rows, status_rows = count(engine, series), count(engine, indicator_status)
        # a report frozen before the rebuild counts the same versions after it, numbered anew
        freeze(engine, "R", utcnow(), None, utcnow())
        frozen = report_answers(settings, engine, catalog)
        first_ids = max_version_id(engine)

        refused = cli_rebuild(settings)
        assert refused.returncode == 1, refused
        assert "stop every aggregator worker" in refused.stderr
        with pytest.raises(ActiveWorkersError):
            rebuild(settings)
        assert (count(engine, series), count(engine, indicator_status)) == (rows, status_rows)

        worker.stop()
        before = revision(engine)
        done = cli_rebuild(settings)
        assert done.returncode == 0, done
        assert count(engine, series) == count(engine, indicator_status) == 0
        assert count(engine, namnd_rollup) == 0
        assert revision(engine) > before, "a rebuild must not let old ETags come back"
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        committed = admin.list_group_offsets({settings.aggregate_app_id: None})
        admin.close()
        offsets = committed[settings.aggregate_app_id]
        assert offsets, "the group's offsets must be set, to the start"
        assert all(o.offset == 0 for o in offsets.values()), offsets

        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=180)
        assert count(engine, indicator_status) == status_rows
        assert min_version_id(engine) > first_ids, "the rebuild numbers versions anew"
        assert report_answers(settings, engine, catalog) == frozen
    finally:
        worker.stop()
