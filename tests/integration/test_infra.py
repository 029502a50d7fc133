"""The local servers behind every integration test: a real Kafka broker and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from shared.infra.kafka import KafkaEndpoint, LocalKafka, create_topics, ensure_kafka_jars
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for, wait_for_async


def _produce(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, value=value, key=b"k").get(timeout=30)
    finally:
        producer.close()


def _consume(bootstrap: str, topic: str, count: int, timeout: float = 90) -> list[bytes]:
    """Every record of `topic` from its start, read by partition (no group to join: under a busy
    shared broker a new group's first join can take longer than the read itself)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    received: list[bytes] = []
    try:
        partitions = wait_for(
            lambda: consumer.partitions_for_topic(topic),
            timeout=timeout,
            what=f"{topic}'s partitions",
        )
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()

        def enough() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                received.extend(record.value for record in records)
            return len(received) >= count

        wait_for(enough, timeout=timeout, interval=0, what=f"{count} records on {topic}")
    finally:
        consumer.close()
    return received


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_broker_creates_topics_idempotently(kafka: KafkaEndpoint, topic_prefix: str) -> None:
    topic = f"{topic_prefix}created"
    create_topics(kafka.bootstrap, [topic], partitions=3)
    create_topics(kafka.bootstrap, [topic], partitions=3)  # already there: fine
    with KafkaAdminClient(bootstrap_servers=kafka.bootstrap) as admin:
        [described] = admin.describe_topics([topic])
    assert described["error_code"] == 0
    assert len(described["partitions"]) == 3


def test_produce_consume_round_trip(kafka: KafkaEndpoint, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    create_topics(kafka.bootstrap, [topic])
    _produce(kafka.bootstrap, topic, b"hello", b"stockholm")
    assert sorted(_consume(kafka.bootstrap, topic, 2)) == [b"hello", b"stockholm"]


def test_tests_using_servers_are_marked(
    kafka: KafkaEndpoint, postgres: LocalPostgres, request: pytest.FixtureRequest
) -> None:
    assert request.node.get_closest_marker("kafka") is not None
    assert request.node.get_closest_marker("postgres") is not None


@pytest.mark.parametrize("halt", [LocalKafka.stop, LocalKafka.kill], ids=["stop", "kill"])
def test_restart_keeps_port_topics_and_messages(
    kafka_private: LocalKafka, halt: Callable[[LocalKafka], None]
) -> None:
    broker, topic = kafka_private, "outage.survivor"
    broker.create_topics([topic], partitions=2)
    _produce(broker.bootstrap, topic, b"before-outage")
    bootstrap = broker.bootstrap

    halt(broker)
    assert not broker.is_running()
    assert not _port_open(broker.port)

    broker.start()
    assert broker.bootstrap == bootstrap
    assert broker.is_running()
    _produce(broker.bootstrap, topic, b"after-outage")
    assert sorted(_consume(broker.bootstrap, topic, 2)) == [b"after-outage", b"before-outage"]


def test_kafka_jars_are_cached_and_need_no_maven(monkeypatch: pytest.MonkeyPatch) -> None:
    first = ensure_kafka_jars()
    monkeypatch.setenv("PATH", "")  # no `mvn` to run: only the cache can answer
    assert ensure_kafka_jars() == first
    assert any(first.glob("kafka_2.13-*.jar"))


def test_postgres_answers_sql(postgres: LocalPostgres) -> None:
    engine = sa.create_engine(postgres.url())
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar() == "stadspuls"
            version = conn.execute(sa.text("SHOW server_version_num")).scalar()
    finally:
        engine.dispose()
    assert int(str(version)) >= 130000


def test_fresh_databases_are_isolated(postgres: LocalPostgres, pg_url: str) -> None:
    other_url = postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")
    first, other = sa.create_engine(pg_url), sa.create_engine(other_url)
    try:
        with first.begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_here (id int)"))
        with other.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
    finally:
        first.dispose()
        other.dispose()
    assert tables == []


def test_db_url_gives_a_working_empty_database(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE t (v int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (41), (1)"))
            assert conn.execute(sa.text("SELECT sum(v) FROM t")).scalar() == 42
    finally:
        engine.dispose()


def test_wait_for_names_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="the impossible"):
        wait_for(lambda: None, timeout=0.2, what="the impossible")
    assert time.monotonic() - started < 2
    assert wait_for(lambda: "ready", timeout=1, what="a value") == "ready"


def test_wait_for_async_accepts_sync_and_async_predicates() -> None:
    calls = 0

    async def third_time_lucky() -> int | None:
        nonlocal calls
        calls += 1
        return calls if calls >= 3 else None

    async def both() -> tuple[int, str]:
        counted = await wait_for_async(third_time_lucky, timeout=5, interval=0, what="three calls")
        plain = await wait_for_async(lambda: "sync", timeout=1, what="a sync predicate")
        return counted, plain

    assert asyncio.run(both()) == (3, "sync")


def test_a_server_left_running_is_stopped_when_the_interpreter_exits() -> None:
    code = (
        "from shared.infra.postgres import LocalPostgres\n"
        "server = LocalPostgres().start()\n"
        "print(server.port, server.workdir, flush=True)\n"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert out.returncode == 0, out.stderr
    port, workdir = out.stdout.split()
    assert not Path(workdir).exists(), "the cluster is closed and deleted"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
