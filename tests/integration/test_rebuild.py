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
    answer_revisions,
    indicator_status,
    namnd_rollup,
    read_model_state,
    series,
    series_versions,
)
from shared.domain.catalog import Catalog
from shared.domain.observation import utcnow
from shared.infra.wait import wait_for
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


def statuses_projected(engine: Engine, catalog: Catalog) -> int | None:
    """The number of status rows once every area's are projected (they lag the city's), else None."""
    c, t = series.c, indicator_status.c
    with engine.connect() as conn:
        triples = (
            select(c.indicator, c.area, c.gender)
            .where(c.value.is_not(None), (c.area != catalog.root) | (c.gender != "T"))
            .distinct()
            .subquery()
        )
        wanted = conn.execute(select(func.count()).select_from(triples)).scalar_one()
        other = (t.area != catalog.root) | (t.gender != "T")
        stored = conn.execute(select(func.count()).where(other)).scalar_one()
        total = conn.execute(select(func.count()).select_from(indicator_status)).scalar_one()
    return int(total) if stored == wanted else None


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


@pytest.mark.slow  # CI's subset: test_bulk_rebuild rebuilds; the replay is the live path, under test
def test_rebuild_replays_the_topic_into_an_empty_read_model(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    events = StreamMaker(catalog, seed=21).stream(4_000)
    produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
    worker = ServiceProcess("aggregate", env_of(settings), tmp_path / "aggregate.log")
    try:
        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=180)
        status_rows = wait_for(
            lambda: statuses_projected(engine, catalog), timeout=30, what="every area's statuses"
        )
        rows = count(engine, series)
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
        with engine.connect() as conn:
            keys = conn.execute(select(answer_revisions.c.key)).scalars().all()
        assert keys == ["generation"], "answer revisions start again, under a new generation"
        assert revision(engine) > before, "a rebuild must not let old ETags come back"
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        committed = admin.list_group_offsets({settings.aggregate_app_id: None})
        admin.close()
        offsets = committed[settings.aggregate_app_id]
        assert offsets, "the group's offsets must be set, to the start"
        assert all(o.offset == 0 for o in offsets.values()), offsets

        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=180)
        again = wait_for(
            lambda: statuses_projected(engine, catalog), timeout=30, what="every area's statuses"
        )
        assert again == status_rows
        assert min_version_id(engine) > first_ids, "the rebuild numbers versions anew"
        assert report_answers(settings, engine, catalog) == frozen
    finally:
        worker.stop()
