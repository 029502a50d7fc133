"""`stadspuls verify` on real Kafka and PostgreSQL: clean after a normal run; missing, wrong and
skipped events are found and make it exit 1; the aggregator exports applied and committed offsets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update

from shared.db.schema import applied_offsets, series, series_versions
from shared.domain.catalog import Catalog
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.aggregator import env_of, wait_until_oracle
from tests.services import ServiceProcess, produce
from tests.streams import StreamMaker

pytestmark = pytest.mark.kafka


def cli_verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_of(settings)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def offsets(worker: ServiceProcess, name: str) -> float:
    return worker.metric(name, 'partition="0"')


def test_verify_finds_what_the_read_model_lost_or_got_wrong(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    events = StreamMaker(catalog, seed=31).stream(3_000)
    produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
    worker = ServiceProcess(
        "aggregate",
        {**env_of(settings), "STADSPULS_AGGREGATE_LAG_SECONDS": "1"},
        tmp_path / "aggregate.log",
    )
    try:
        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=180)
        wait_for(
            lambda: worker.metric("stadspuls_aggregate_ready") == 1,
            timeout=60,
            what="the worker ready",
        )
        wait_for(
            lambda: (
                offsets(worker, "stadspuls_aggregate_committed_offset") > 0
                and offsets(worker, "stadspuls_aggregate_committed_offset")
                == offsets(worker, "stadspuls_aggregate_applied_offset")
            ),
            timeout=60,
            what="committed offsets exported and equal to the applied ones",
        )
    finally:
        worker.stop()

    clean = cli_verify(settings)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"replayed {len(events)} events" in clean.stdout
    assert "the read model equals the log" in clean.stdout

    with engine.begin() as conn:
        reported = conn.execute(
            select(series.c.indicator, series.c.area, series.c.period, series.c.gender)
            .where(series.c.origin == "reported")
            .order_by(*series.primary_key.columns)
            .limit(2)
        ).all()
        (gone, changed) = reported
        conn.execute(
            delete(series).where(
                *(c == v for c, v in zip(series.primary_key.columns, gone, strict=True))
            )
        )
        conn.execute(
            update(series)
            .where(*(c == v for c, v in zip(series.primary_key.columns, changed, strict=True)))
            .values(value=series.c.value + 1)
        )
        v = series_versions.c
        lost, relabelled = conn.execute(
            select(v.version_id).where(v.outcome == "applied").order_by(v.version_id).limit(2)
        ).scalars()
        conn.execute(delete(series_versions).where(v.version_id == lost))
        conn.execute(
            update(series_versions).where(v.version_id == relabelled).values(outcome="duplicate")
        )
        conn.execute(
            update(applied_offsets)
            .where(applied_offsets.c.partition == 0)
            .values(next_offset=applied_offsets.c.next_offset - 5)
        )
    found = cli_verify(settings)
    assert found.returncode == 1, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    assert "missing: 1" in lines
    assert f"  {'|'.join(gone)}: expected" in found.stdout
    assert "wrong: 1" in lines
    assert f"  {'|'.join(changed)}: expected" in found.stdout
    assert "versions: 3" in lines  # one lost, one recorded otherwise (missing and extra)
    assert "applied: replayed, not recorded" in found.stdout
    assert "duplicate: recorded, not replayed" in found.stdout
    assert "skipped: 1" in lines
    assert "committed offset" in found.stdout
    assert "beyond the applied offset" in found.stdout
    assert "stadspuls rebuild" in found.stderr
