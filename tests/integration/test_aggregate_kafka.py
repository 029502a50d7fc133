"""The aggregator on real Kafka: a kill -9 loses and doubles nothing, malformed messages go to the
dead-letter topic — each time the read model equals the oracle (two workers in one group:
test_two_workers.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import Engine

from shared.domain.catalog import Catalog
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.aggregator import wait_until_oracle, workers
from tests.services import produce
from tests.streams import StreamMaker

pytestmark = pytest.mark.kafka


@pytest.mark.slow  # CI's subset: tests/faults kills a worker under load, test_two_workers one of two
@pytest.mark.timeout(900)
def test_kill_9_mid_load_loses_nothing_and_counts_nothing_twice(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    events = StreamMaker(catalog, seed=11).stream(50_000)
    produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
    (worker,) = workers(settings, tmp_path, 1)
    try:
        worker.start()
        wait_for(
            lambda: worker.metric("stadspuls_aggregate_events_total") >= 10_000,
            timeout=180,
            interval=0.2,
            what="a fifth of the load applied",
        )
        assert worker.metric("stadspuls_aggregate_events_total") < len(events), "killed too late"
        worker.kill()
        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=300)
    finally:
        worker.stop()


def test_malformed_message_goes_to_dlq_and_processing_goes_on(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    bootstrap = settings.kafka_bootstrap or ""
    maker = StreamMaker(catalog, seed=3)
    before, after = maker.stream(50), maker.stream(50)
    (worker,) = workers(settings, tmp_path, 1)
    try:
        worker.start()
        produce(bootstrap, settings.topic("observations.v1"), before)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        poison_key = f"poison-{uuid.uuid4()}".encode()
        producer.send(
            settings.topic("observations.v1"),
            key=poison_key,
            value=b'{"indicator": 42',
            headers=[("source", b"test-source")],
        )
        unknown = maker.observation(catalog.indikatorer[0], "stockholm", "2024", "T").model_copy(
            update={"area": "atlantis"}
        )
        producer.send(
            settings.topic("observations.v1"), key=b"unknown-area", value=unknown.to_json()
        )
        producer.flush()
        produce(bootstrap, settings.topic("observations.v1"), after)
        wait_until_oracle(engine, catalog, before + after, timeout=120)

        consumer = KafkaConsumer(
            settings.topic("observations.dlq.v1"),
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=20_000,
        )
        dead = {}
        for message in consumer:
            dead[message.key] = dict(message.headers)
            if len(dead) == 2:
                break
        consumer.close()
        assert set(dead) == {poison_key, b"unknown-area"}
        assert dead[poison_key]["source"] == b"test-source"
        assert dead[poison_key]["error"]
        assert b"atlantis" in dead[b"unknown-area"]["error"]
        assert worker.metric("stadspuls_aggregate_events_total", 'outcome="invalid"') == 2
    finally:
        worker.stop()
