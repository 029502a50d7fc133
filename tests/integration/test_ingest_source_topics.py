"""Per-source raw topics on a real broker: the topic names the source, a header that disagrees and
a topic of no catalog source go to the DLQ, and production leaves the shared raw topic alone."""

from __future__ import annotations

from typing import Any

import orjson
from kafka import KafkaAdminClient
from typer.testing import CliRunner

from services.cli import app
from shared.infra.kafka import create_topics
from shared.infra.wait import wait_for
from shared.topics import source_topic
from tests.factories import JOBS, LABOUR, SCHOOL, SHARE, count_row, share_row
from tests.integration.ingest_helpers import (
    events,
    ingest_settings,
    prepare,
    produce,
    read_topic,
    running,
)


def _at_least(bootstrap: str, topic: str, n: int) -> list[Any] | None:
    messages = read_topic(bootstrap, topic)
    return messages if len(messages) >= n else None


def _codes(dlq: list[Any]) -> dict[bytes | None, tuple[str, str | None, bytes]]:
    """Per DLQ key: the first error's code and field, and the `source` header."""
    found = {}
    for m in dlq:
        headers = dict(m.headers)
        first = orjson.loads(headers["error"])[0]
        found[m.key] = (first["code"], first["field"], headers["source"])
    return found


def test_the_topic_names_the_source_and_a_disagreeing_header_is_dead_lettered(
    kafka: Any, topic_prefix: str, sqlite_url: str
) -> None:
    settings = ingest_settings(kafka.bootstrap, topic_prefix, sqlite_url, ingest_raw_validator=True)
    engine = prepare(settings)
    stray = settings.topic("observations.raw.v1.nobody")  # made by hand, no source of the catalog
    create_topics(kafka.bootstrap, [stray], 1)
    school, labour = source_topic(settings, SCHOOL), source_topic(settings, LABOUR)
    produce(
        kafka.bootstrap,
        school,
        [
            (b"own", orjson.dumps(share_row()), []),
            (b"same", orjson.dumps(share_row(area="kista")), [("source", SCHOOL.encode())]),
            # LABOUR may report JOBS, but this was written to SCHOOL's topic
            (b"impersonated", orjson.dumps(count_row()), [("source", LABOUR.encode())]),
            (b"forbidden", orjson.dumps(count_row(period="2023")), []),
        ],
    )
    produce(kafka.bootstrap, labour, [(b"labour", orjson.dumps(count_row()), [])])
    produce(kafka.bootstrap, stray, [(b"stray", orjson.dumps(share_row()), [])])
    with running(settings, engine):
        dlq = wait_for(
            lambda: _at_least(kafka.bootstrap, settings.topic("observations.dlq.v1"), 3),
            timeout=60,
            interval=0.5,
            what="3 messages on the DLQ",
        )
        forwarded = wait_for(
            lambda: _at_least(kafka.bootstrap, settings.topic("observations.v1"), 3),
            timeout=30,
            interval=0.5,
            what="3 forwarded observations",
        )
    assert sorted((e["indicator"], e["area"], e["source"]) for e in events(forwarded)) == [
        (JOBS, "rinkeby-kista", LABOUR),
        (SHARE, "kista", SCHOOL),
        (SHARE, "rinkeby", SCHOOL),
    ]
    assert _codes(dlq) == {
        b"impersonated": ("source_mismatch", "source", SCHOOL.encode()),
        b"forbidden": ("forbidden_indicator", "indicator", SCHOOL.encode()),
        b"stray": ("unknown_source", None, b"nobody"),
    }
    impersonated = next(m for m in dlq if m.key == b"impersonated")
    assert impersonated.value == orjson.dumps(count_row())  # as received
    assert dict(impersonated.headers)["origin"].startswith(school.encode())


def test_production_neither_creates_nor_reads_the_shared_raw_topic(
    kafka: Any, topic_prefix: str, sqlite_url: str
) -> None:
    settings = ingest_settings(
        kafka.bootstrap,
        topic_prefix,
        sqlite_url,
        ingest_raw_validator=True,
        environment="production",
        kafka_allow_plaintext=True,
    )
    done = CliRunner().invoke(
        app,
        ["topics"],
        env={
            "STADSPULS_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "STADSPULS_TOPIC_PREFIX": topic_prefix,
            "STADSPULS_ENVIRONMENT": "production",
            "STADSPULS_KAFKA_ALLOW_PLAINTEXT": "true",
            "STADSPULS_KEY_SECRET": "test-secret-for-ingest-integration",
            "STADSPULS_API_ANONYMOUS": "final",
            "STADSPULS_DATABASE_URL": sqlite_url,
        },
    )
    assert done.exit_code == 0, done.output
    shared = settings.topic("observations.raw.v1")
    assert f"not created: {shared} (local development only)" in done.output
    engine = prepare(settings)
    with KafkaAdminClient(bootstrap_servers=kafka.bootstrap) as admin:
        ours = {t for t in admin.list_topics() if t.startswith(topic_prefix)}
    assert shared not in ours
    assert source_topic(settings, SCHOOL) in ours
    create_topics(kafka.bootstrap, [shared], 1)  # as an old producer's auto-creation would
    produce(kafka.bootstrap, shared, [(b"shared", orjson.dumps(share_row()), [("source", b"scb")])])
    produce(
        kafka.bootstrap,
        source_topic(settings, SCHOOL),
        [(b"own", orjson.dumps(share_row(area="kista")), [])],
    )
    with running(settings, engine):
        forwarded = wait_for(
            lambda: _at_least(kafka.bootstrap, settings.topic("observations.v1"), 1),
            timeout=60,
            interval=0.5,
            what="the own topic's observation",
        )
        group = f"{topic_prefix}{settings.ingest_raw_group}"
        with KafkaAdminClient(bootstrap_servers=kafka.bootstrap) as admin:
            committed = wait_for(
                lambda: admin.list_group_offsets({group: None}).get(group) or None,
                timeout=30,
                what="the raw validator's committed offsets",
            )
    assert [(e["area"], e["source"]) for e in events(forwarded)] == [("kista", SCHOOL)]
    assert {tp.topic for tp in committed} == {source_topic(settings, SCHOOL)}
    assert read_topic(kafka.bootstrap, settings.topic("observations.dlq.v1")) == []
