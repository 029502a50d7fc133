"""Fixtures of the integration tier's aggregator tests: the catalog, settings on real Kafka and
PostgreSQL with a unique topic prefix and consumer group, and an engine on that database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.infra.kafka import KafkaEndpoint
from shared.settings import Settings
from shared.topics import ensure_topics


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()


def aggregator_settings(kafka: KafkaEndpoint, topic_prefix: str, database_url: str) -> Settings:
    """Settings on the broker with this test's topics, consumer group and database (migrated)."""
    s = Settings(
        kafka_bootstrap=kafka.bootstrap,
        topic_prefix=topic_prefix,
        database_url=database_url,
        aggregate_app_id=f"{topic_prefix}aggregate",
        aggregate_refresh_seconds=3600,
    )
    ensure_topics(s)
    upgrade(s.database_url)
    return s


@pytest.fixture
def settings(kafka: KafkaEndpoint, topic_prefix: str, pg_url: str) -> Settings:
    return aggregator_settings(kafka, topic_prefix, pg_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()
