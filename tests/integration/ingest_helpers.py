"""Helpers for the ingest integration tests: settings, a running app, keys, reading a topic, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bench.api.server import serving as serving  # the one way tests serve an app
from services.ingest.app import create_app
from services.ingest.keys import create_key
from services.ingest.publisher import KafkaPublisher
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.infra.kafka import LocalKafka
from shared.infra.kafka_admin import admin_options
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.factories import ingest_catalog


def ingest_settings(bootstrap: str, topic_prefix: str, db_url: str, **overrides: Any) -> Settings:
    """Settings for one test: its own topics and database, the raw validator off unless asked."""
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": topic_prefix,
        "database_url": db_url,
        "key_secret": SecretStr("test-secret-for-ingest-integration"),
        "ingest_raw_validator": False,
        "ingest_publish_timeout_seconds": 5.0,
        "environment": "test",
    }
    values.update(overrides)
    return Settings(**values)


def prepare(settings: Settings) -> Engine:
    """Create the database tables and the topics; return an engine."""
    upgrade(settings.database_url)
    ensure_topics(settings, partitions=3)
    return make_engine(settings.database_url)


@contextmanager
def running(
    settings: Settings, engine: Engine, catalog: Catalog | None = None
) -> Iterator[TestClient]:
    """The ingest app with its lifespan running (producer connected), as a test client."""
    app = create_app(settings, catalog=catalog or ingest_catalog(), engine=engine)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


def bearer(engine: Engine, settings: Settings, source: str) -> dict[str, str]:
    """Authorization header of a fresh key for `source`."""
    _, key = create_key(engine, settings, source)
    return {"Authorization": f"Bearer {key}"}


def read_topic(cluster: str | Mapping[str, Any], topic: str, *, timeout: float = 30) -> list[Any]:
    """Every message now in `topic` (up to its current end offsets), in partition order.

    `cluster` is a plaintext bootstrap address or a client's options (a secured broker)."""
    consumer = KafkaConsumer(
        **admin_options(cluster),
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1000,
    )
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        messages: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {len(messages)} messages of {topic}, expected {sum(end.values())}"
                )
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(batch)
        return messages
    finally:
        consumer.close()


def events(messages: list[Any]) -> list[dict[str, Any]]:
    """The JSON values of messages."""
    return [orjson.loads(m.value) for m in messages]


def produce(
    bootstrap: str,
    topic: str,
    items: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """Write raw messages (key, value, headers) and wait for the acknowledgements."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, value, headers in items:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(30)
    finally:
        producer.close()


@contextmanager
def paused(broker: LocalKafka) -> Iterator[None]:
    """The broker stalled (SIGSTOP), as a hung host looks to clients; continued (SIGCONT) on leaving."""
    process = broker._proc  # the fixture's own child: no public handle for signals
    if process is None or process.poll() is not None:
        raise RuntimeError("the broker is not running")
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


@contextmanager
def read_only(sqlite_url: str) -> Iterator[None]:
    """The SQLite database refuses every write while reads still work, also on open connections.

    Tests run as root, which file modes do not stop: the files (and their folder, so no new journal
    can be made) are marked immutable with `chattr +i`.
    """
    path = Path(str(make_url(sqlite_url).database))
    wal = path.with_name(path.name + "-wal")
    targets = [str(p) for p in (path, wal) if p.exists()] + [str(path.parent)]
    subprocess.run(["chattr", "+i", *targets], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *targets], check=True, timeout=30)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@asynccontextmanager
async def kafka_publisher(settings: Settings, client_id: str) -> AsyncIterator[KafkaPublisher]:
    """Ingest's Kafka publisher, started for the block and stopped after it."""
    publisher = KafkaPublisher(settings, client_id=client_id)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()
