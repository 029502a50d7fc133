"""`stadspuls rebuild`, the batch job, on real Kafka with SQLite and PostgreSQL: the read model it
builds equals the oracle and, table by table, the one the live aggregator builds from the same log
(corrections, retractions, duplicates, malformed and invalid events), and a report frozen before
it answers the same bytes after it; a live worker started after it continues with no gap and no
event twice; refused events reach the dead-letter topic once; a rebuild killed mid-way leaves the
old read model and the group's offsets as they were; one computed in several processes equals one
computed in one, and an event keyed as another group's makes it compute in one instead."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import Engine, func, select

from services.aggregate.bulk import rebuild_bulk
from services.aggregate.bulk_shards import group_shard, shard_of
from services.aggregate.rebuild import ActiveWorkersError
from services.aggregate.verify import verify
from services.api.rapporter import freeze
from shared.db.schema import read_model_state, series_versions
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, utcnow
from shared.infra.kafka import KafkaEndpoint
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.aggregator import env_of, wait_until_oracle, workers
from tests.integration.conftest import aggregator_settings
from tests.integration.read_model_tables import differences, tables
from tests.integration.report_answers import report_answers
from tests.services import produce
from tests.streams import StreamMaker

pytestmark = pytest.mark.kafka


@pytest.fixture
def settings(kafka: KafkaEndpoint, topic_prefix: str, db_url: str) -> Settings:
    """As the integration tier's, on SQLite and PostgreSQL (its `engine` follows these)."""
    return aggregator_settings(kafka, topic_prefix, db_url)


def send_refused(settings: Settings, catalog: Catalog, maker: StreamMaker) -> int:
    """A malformed event and one of an unknown area into the canonical topic; how many."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    topic = settings.topic("observations.v1")
    producer.send(topic, key=f"poison-{uuid.uuid4()}".encode(), value=b'{"indicator": 42')
    unknown = maker.observation(catalog.indikatorer[0], "stockholm", "2024", "T")
    producer.send(
        topic, key=b"unknown-area", value=unknown.model_copy(update={"area": "x"}).to_json()
    )
    producer.flush()
    producer.close()
    return 2


def publish(settings: Settings, events: list[Observation]) -> None:
    produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)


def end_offsets(settings: Settings, name: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        topic = settings.topic(name)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: n for tp, n in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def dead_letters(settings: Settings) -> int:
    return sum(end_offsets(settings, "observations.dlq.v1").values())


def committed(settings: Settings) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        group = settings.aggregate_app_id
        found = admin.list_group_offsets({group: None}).get(group, {})
        return {tp.partition: m.offset for tp, m in found.items() if m.offset >= 0}
    finally:
        admin.close()


def caught_up(settings: Settings) -> bool:
    ends = {p: n for p, n in end_offsets(settings, "observations.v1").items() if n}
    return {p: n for p, n in committed(settings).items() if n} == ends


def versions(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(series_versions)).scalar_one())


def revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(read_model_state.c.revision)).scalar_one())


def _server_now(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(func.now())).scalar_one()


def _analyzed_since(engine: Engine, since: Any) -> set[str]:
    """The tables analyzed (by hand, not autovacuum) at `since` or after (PostgreSQL)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze >= %(since)s",
            {"since": since},
        )
        return {r.relname for r in rows}


def assert_equals_the_log(settings: Settings, catalog: Catalog, engine: Engine) -> None:
    """`stadspuls verify`: every series and every delivery's version row as replayed."""
    report = verify(settings, catalog, engine)
    assert report.ok, (report.missing, report.extra, report.wrong, report.versions)[:20]


def test_batch_rebuild_equals_the_live_read_model_and_a_worker_after_it_continues(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    maker = StreamMaker(catalog, seed=31)
    first, second = maker.stream(2_500), maker.stream(500)
    refused = send_refused(settings, catalog, maker)
    publish(settings, first)
    (worker,) = workers(settings, tmp_path, 1)
    try:
        worker.start()
        wait_until_oracle(engine, catalog, first, timeout=240)
        wait_for(lambda: caught_up(settings), timeout=60, interval=0.5, what="offsets committed")
        assert dead_letters(settings) == refused
        with pytest.raises(ActiveWorkersError, match="stop every aggregator worker"):
            rebuild_bulk(settings, catalog)
        worker.stop()
        live, live_revision = tables(engine), revision(engine)
        freeze(engine, "R", utcnow(), None, utcnow())  # a report counts its versions by position
        frozen = report_answers(settings, engine, catalog)

        started = _server_now(engine)
        done = rebuild_bulk(settings, catalog)
        assert done.events == len(first) + refused
        if engine.dialect.name == "postgresql":  # the loaded tables planned from statistics
            assert _analyzed_since(engine, started) >= {"series", "series_versions"}
        assert sum(done.refused.values()) == refused
        assert done.dead_lettered == 0, "the live worker sent them already"
        assert dead_letters(settings) == refused
        assert differences(live, tables(engine)) == []
        assert revision(engine) > live_revision, "a rebuild must not let old ETags come back"
        wait_until_oracle(engine, catalog, first, timeout=5)
        assert_equals_the_log(settings, catalog, engine)
        assert committed(settings) == done.ends
        assert report_answers(settings, engine, catalog) == frozen

        more_refused = send_refused(settings, catalog, maker)
        publish(settings, second)
        worker.start()
        wait_until_oracle(engine, catalog, first + second, timeout=240)
        wait_for(lambda: caught_up(settings), timeout=60, interval=0.5, what="offsets committed")
        assert versions(engine) == len(first) + len(second), "a delivery lost or counted twice"
        assert dead_letters(settings) == refused + more_refused
        assert_equals_the_log(settings, catalog, engine)
    finally:
        worker.stop()


def cli_rebuild(settings: Settings) -> subprocess.Popen[str]:
    env = {**os.environ, **env_of(settings)}
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "rebuild", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow_on("sqlite")  # CI: the first test rebuilds on both
def test_a_log_no_worker_has_read_is_rebuilt_and_its_refused_events_dead_lettered_once(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    maker = StreamMaker(catalog, seed=32)
    events = maker.stream(1_500)
    publish(settings, events[:700])
    refused = send_refused(settings, catalog, maker)
    publish(settings, events[700:])

    run = cli_rebuild(settings)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert f"from {len(events) + refused} events" in out
    assert dead_letters(settings) == refused, "no worker sent them: the rebuild does"
    wait_until_oracle(engine, catalog, events, timeout=5)
    assert_equals_the_log(settings, catalog, engine)

    again = rebuild_bulk(settings, catalog)
    assert again.dead_lettered == 0
    assert dead_letters(settings) == refused

    later = maker.stream(50)
    publish(settings, later)
    (worker,) = workers(settings, tmp_path, 1)
    try:
        worker.start()
        wait_until_oracle(engine, catalog, events + later, timeout=240)
        wait_for(lambda: caught_up(settings), timeout=60, interval=0.5, what="offsets committed")
        assert versions(engine) == len(events) + len(later), "a delivery lost or counted twice"
        assert dead_letters(settings) == refused
    finally:
        worker.stop()


@pytest.mark.slow_on("sqlite")
def test_a_rebuild_killed_mid_way_leaves_the_old_read_model(
    settings: Settings, engine: Engine, catalog: Catalog
) -> None:
    maker = StreamMaker(catalog, seed=33)
    old, new = maker.stream(2_000), maker.stream(20_000)
    publish(settings, old)
    rebuild_bulk(settings, catalog)
    before, old_revision, old_offsets = tables(engine), revision(engine), committed(settings)
    publish(settings, new)

    run = cli_rebuild(settings)
    assert run.stderr is not None
    for line in run.stderr:  # the transaction is open once this is said
        if "writing the read model" in line:
            run.kill()
            break
    run.wait(60)
    assert run.returncode == -9, "the rebuild ended before it could be killed mid-way"
    assert revision(engine) == old_revision
    assert differences(before, tables(engine)) == []
    assert committed(settings) == old_offsets

    rebuild_bulk(settings, catalog)
    wait_until_oracle(engine, catalog, old + new, timeout=5)


def test_a_rebuild_in_several_processes_equals_one_in_one_and_a_misrouted_key_falls_back(
    settings: Settings, engine: Engine, catalog: Catalog
) -> None:
    maker = StreamMaker(catalog, seed=34)
    events = maker.stream(2_000)
    refused = send_refused(settings, catalog, maker)
    publish(settings, events)
    one = rebuild_bulk(settings.model_copy(update={"rebuild_processes": 1}), catalog)
    single = tables(engine)

    said: list[str] = []
    three = rebuild_bulk(
        settings.model_copy(update={"rebuild_processes": 3}), catalog, say=said.append
    )
    assert "computing the groups in 3 processes" in said
    assert differences(single, tables(engine)) == []
    assert (three.events, three.versions, three.rows) == (one.events, one.versions, one.rows)
    assert three.refused == one.refused
    assert sum(three.refused.values()) == refused
    assert_equals_the_log(settings, catalog, engine)

    # an event keyed by hand as another group's series: the shard of its group never sees it
    stray = maker.stream(1)[0]
    own = group_shard(stray.indicator, stray.period, stray.gender.value, 3)
    key = next(
        k
        for obs in events
        if shard_of(k := obs.series_key.encode(), 3) not in (0, own)  # a helper's shard
    )
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(settings.topic("observations.v1"), key=key, value=stray.to_json())
    producer.flush()
    producer.close()
    said.clear()
    again = rebuild_bulk(
        settings.model_copy(update={"rebuild_processes": 3}), catalog, say=said.append
    )
    assert any("computing every group in one process instead" in line for line in said), said
    assert again.events == one.events + 1
    wait_until_oracle(engine, catalog, [*events, stray], timeout=5)
    assert_equals_the_log(settings, catalog, engine)
