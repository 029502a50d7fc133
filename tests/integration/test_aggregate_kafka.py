"""The aggregator on real Kafka: a kill -9 loses and doubles nothing, a stalled writer never lets an
offset be committed beyond what the read model applied, malformed messages go to the dead-letter
topic — each time the read model equals the oracle (two workers in one group:
test_two_workers.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import Engine, text

from services.aggregate.lag import OffsetReader
from shared.domain.catalog import Catalog
from shared.domain.observation import ObservationStatus
from shared.infra.wait import wait_for
from shared.readmodel.store import read_offsets
from shared.settings import Settings
from tests.aggregator import wait_until_oracle, workers
from tests.services import produce
from tests.streams import StreamMaker

pytestmark = pytest.mark.kafka


def _other_status(status: ObservationStatus) -> ObservationStatus:
    final = ObservationStatus.FINAL
    return ObservationStatus.PRELIMINARY if status is final else final


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


def test_a_stalled_writer_holds_back_the_offsets_of_the_batches_taken_meanwhile(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    """faust takes the next batch while the writer applies one: while the read model takes no
    commit, no offset beyond what it applied may be committed; a kill -9 then loses nothing."""
    events = StreamMaker(catalog, seed=12).stream(10_000)
    produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
    topic = settings.topic("observations.v1")
    (worker,) = workers(settings, tmp_path, 1)
    reader = OffsetReader(settings, topic)
    try:
        worker.start()
        wait_for(
            lambda: worker.metric("stadspuls_aggregate_events_total") >= 2_000,
            timeout=180,
            interval=0.2,
            what="some batches applied",
        )
        with engine.connect() as conn:
            # every batch's transaction locks this row before it commits: holding it stalls them
            conn.execute(text("SELECT revision FROM read_model_state WHERE id = 1 FOR UPDATE"))
            applied = read_offsets(conn, topic)  # nothing can commit past these now
            wait_for(
                lambda: worker.metric("stadspuls_aggregate_batches_pending") >= 1,
                timeout=30,
                interval=0.1,
                what="a batch handed to the stalled writer",
            )
            samples = 0

            def committed_stays_behind() -> bool:
                nonlocal samples
                committed = reader.read().committed
                for position, offset in committed.items():
                    assert offset <= applied.get(position, 0), (
                        f"{position}: offset {offset} committed, the read model applied only "
                        f"{applied.get(position, 0)}"
                    )
                samples += 1
                return samples >= 20  # faust commits every 2.8 s: about three chances to err

            wait_for(committed_stays_behind, timeout=60, interval=0.25, what="commit samples")
            assert worker.metric("stadspuls_aggregate_events_total") < len(events), "too late"
            worker.kill()
            conn.rollback()
        worker.start()
        wait_until_oracle(engine, catalog, events, timeout=300)
    finally:
        reader.close()
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
        # counted from 0 for every source of the catalog, so an alert's increase() sees the first
        exposed = httpx.get(f"{worker.url}/metrics", timeout=10).text
        for source in catalog.source:
            assert f'stadspuls_aggregate_reused_ids_total{{source="{source}"}} 0.0' in exposed
        # an observation_id the series received before, sent again with other numbers: a
        # duplicate that changes nothing (the oracle keeps the first), reported, not silent
        first = before[0]
        reused = first.model_copy(update={"status": _other_status(first.status)})
        produce(bootstrap, settings.topic("observations.v1"), [*after, reused])
        wait_until_oracle(engine, catalog, before + after + [reused], timeout=120)
        wait_for(
            lambda: worker.metric("stadspuls_aggregate_reused_ids_total") == 1,
            timeout=30,
            what="the reused observation_id counted",
        )
        logged = (tmp_path / "aggregate-0.log").read_text()
        assert f"reused observation_id {first.observation_id}" in logged

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
