"""The whole system as processes: aggregate, ingest and api on real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.db.engine import upgrade
from shared.infra.kafka import KafkaEndpoint
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.e2e.client import SEEDED_SECRET
from tests.services import three_services


@pytest.fixture
def stack(
    kafka: KafkaEndpoint, topic_prefix: str, pg_url: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    env = {
        "STADSPULS_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "STADSPULS_TOPIC_PREFIX": topic_prefix,
        "STADSPULS_DATABASE_URL": pg_url,
        "STADSPULS_AGGREGATE_APP_ID": f"{topic_prefix}aggregate",
        "STADSPULS_KEY_SECRET": SEEDED_SECRET,
    }
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap, topic_prefix=topic_prefix, database_url=pg_url
    )
    ensure_topics(settings)
    upgrade(pg_url)
    with three_services(env, tmp_path) as procs:
        yield {**env, "aggregate": procs[0].url, "ingest": procs[1].url, "api": procs[2].url}
