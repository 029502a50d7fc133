"""Aggregator workers as processes, and waiting until the read model equals the oracle."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.oracle import oracle_rows
from tests.services import ServiceProcess, read_model_mismatches, status_mismatches


def env_of(settings: Settings) -> dict[str, str]:
    """The STADSPULS_* variables that point a worker (or the CLI) at these settings' broker and
    database, with summaries refreshed only hourly (tests and benchmarks compare them)."""
    return {
        "STADSPULS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "STADSPULS_TOPIC_PREFIX": settings.topic_prefix,
        "STADSPULS_DATABASE_URL": settings.database_url,
        "STADSPULS_AGGREGATE_APP_ID": settings.aggregate_app_id,
        "STADSPULS_AGGREGATE_BATCH_SIZE": str(settings.aggregate_batch_size),
        "STADSPULS_AGGREGATE_BATCH_SECONDS": str(settings.aggregate_batch_seconds),
        "STADSPULS_AGGREGATE_REFRESH_SECONDS": "3600",
    }


def workers(settings: Settings, tmp_path: Path, n: int) -> list[ServiceProcess]:
    return [
        ServiceProcess("aggregate", env_of(settings), tmp_path / f"aggregate-{i}.log")
        for i in range(n)
    ]


def wait_until_oracle(
    engine: Engine, catalog: Catalog, events: list[Observation], timeout: float
) -> None:
    last: list[str] = []
    expected = oracle_rows(catalog, events)  # once: the batch computation is the slow part

    def matches() -> bool:
        nonlocal last
        last = read_model_mismatches(engine, catalog, events, expected) or status_mismatches(
            engine, catalog, events, expected
        )
        return not last

    try:
        wait_for(matches, timeout=timeout, interval=1.0, what="read model equal to the oracle")
    except TimeoutError:
        pytest.fail(f"{len(last)} rows differ from the oracle, e.g.:\n" + "\n".join(last[:10]))
