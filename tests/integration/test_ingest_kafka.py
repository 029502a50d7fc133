"""Ingest's Kafka paths on real brokers: the raw-topic validator, and the broker outage."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import orjson

from services.ingest.keys import create_key
from shared.infra.kafka import LocalKafka
from shared.infra.wait import wait_for
from tests.factories import SCHOOL, SHARE, json_body, share_row, share_rows
from tests.integration.ingest_helpers import (
    events,
    ingest_settings,
    prepare,
    produce,
    read_topic,
    running,
)

URL = "/v1/observations"


def test_raw_topic_valid_messages_reach_the_canonical_topic_and_bad_ones_the_dlq(
    kafka: Any, topic_prefix: str, sqlite_url: str
) -> None:
    settings = ingest_settings(kafka.bootstrap, topic_prefix, sqlite_url, ingest_raw_validator=True)
    engine = prepare(settings)
    school = [("source", SCHOOL.encode())]
    messages = [
        (b"k1", orjson.dumps(share_row()), school),
        (None, b"{not json", school),  # poison: not JSON
        (b"k3", orjson.dumps(share_row(area="kista")), []),  # no source header
        (b"k4", orjson.dumps(share_row(area="kista")), [("source", b"nobody")]),
        (b"k5", orjson.dumps(share_row(period="2024-Q9")), school),
        (b"k6", None, school),  # a tombstone
        (b"k7", orjson.dumps([1, 2, 3]), school),
        (b"k8", b"\xff\xfe", school),
        (b"k9", orjson.dumps(share_row(area="sodermalm", gender="M")), school),
    ]
    produce(kafka.bootstrap, settings.topic("observations.raw.v1"), messages)
    with running(settings, engine):
        dlq = wait_for(
            lambda: _at_least(kafka.bootstrap, settings.topic("observations.dlq.v1"), 7),
            timeout=60,
            interval=0.5,
            what="7 messages on the DLQ",
        )
        forwarded = wait_for(
            lambda: _at_least(kafka.bootstrap, settings.topic("observations.v1"), 2),
            timeout=30,
            interval=0.5,
            what="2 forwarded observations",
        )
    assert {(e["area"], e["gender"], e["source"]) for e in events(forwarded)} == {
        ("rinkeby", "T", SCHOOL),
        ("sodermalm", "M", SCHOOL),
    }
    assert {m.key for m in forwarded} == {
        f"{SHARE}|rinkeby|2024|T".encode(),
        f"{SHARE}|sodermalm|2024|M".encode(),
    }
    by_key = {m.key: m for m in dlq}
    codes = {key: orjson.loads(dict(m.headers)["error"])[0]["code"] for key, m in by_key.items()}
    assert codes == {
        None: "malformed_message",
        b"k3": "missing_source",
        b"k4": "unknown_source",
        b"k5": "bad_period",
        b"k6": "malformed_message",
        b"k7": "not_an_object",
        b"k8": "malformed_message",
    }
    assert by_key[b"k5"].value == orjson.dumps(
        share_row(period="2024-Q9")
    )  # unchanged, as received
    assert dict(by_key[b"k5"].headers)["source"] == SCHOOL.encode()
    assert dict(by_key[b"k5"].headers)["origin"].startswith(
        settings.topic("observations.raw.v1").encode()
    )


def test_raw_validator_gives_a_redelivered_message_the_same_id(
    kafka: Any, topic_prefix: str, sqlite_url: str
) -> None:
    settings = ingest_settings(kafka.bootstrap, topic_prefix, sqlite_url, ingest_raw_validator=True)
    engine = prepare(settings)
    produce(
        kafka.bootstrap,
        settings.topic("observations.raw.v1"),
        [(None, orjson.dumps(share_row()), [("source", SCHOOL.encode())])],
    )
    first = settings.model_copy(update={"ingest_raw_group": "first"})
    second = settings.model_copy(
        update={"ingest_raw_group": "second"}
    )  # a fresh group re-reads everything
    topic = settings.topic("observations.v1")
    for expected, each in enumerate((first, second), start=1):
        with running(each, engine):
            wait_for(
                partial(_at_least, kafka.bootstrap, topic, expected),
                timeout=60,
                interval=0.5,
                what="the forwarded observation",
            )
    ids = [
        e["observation_id"]
        for e in events(read_topic(kafka.bootstrap, settings.topic("observations.v1")))
    ]
    assert len(ids) == 2
    assert ids[0] == ids[1]


def _at_least(bootstrap: str, topic: str, n: int) -> list[Any] | None:
    messages = read_topic(bootstrap, topic)
    return messages if len(messages) >= n else None


def test_broker_outage_answers_503_and_after_restart_the_value_arrives_once(
    kafka_private: LocalKafka, topic_prefix: str, sqlite_url: str
) -> None:
    broker = kafka_private
    settings = ingest_settings(
        broker.bootstrap, topic_prefix, sqlite_url, ingest_publish_timeout_seconds=3.0
    )
    engine = prepare(settings)
    _, key = create_key(engine, settings, SCHOOL)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    row = share_row(area="kista", gender="K", comment="outage")
    with running(settings, engine) as client:
        warm = client.post(URL, content=json_body(share_rows(2, period="2020")), headers=headers)
        assert warm.status_code == 202, warm.text
        broker.stop()
        started = time.monotonic()
        down = client.post(
            URL, content=json_body([row]), headers={**headers, "Idempotency-Key": "outage-1"}
        )
        assert down.status_code == 503, down.text
        # The connected producer took the row: whether the broker got it is not known.
        assert (down.json()["code"], down.json()["outcome"]) == ("kafka_outcome_unknown", "unknown")
        assert int(down.headers["Retry-After"]) > 0
        assert time.monotonic() - started < settings.ingest_publish_timeout_seconds + 5
        assert client.get("/readyz").status_code == 503
        again = client.post(URL, content=json_body([row]), headers=headers)
        assert again.status_code == 503  # fails fast while the broker is down
        assert (again.json()["code"], again.json()["outcome"]) == (
            "kafka_unavailable",
            "not_accepted",
        )
        broker.start()
        retry = wait_for(
            lambda: _accepted(client, row, headers),
            timeout=90,
            interval=1.0,
            what="a POST accepted after the broker restarted",
        )
        assert retry["accepted"] == 1
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30, what="ready again")
    published = events(read_topic(broker.bootstrap, settings.topic("observations.v1")))
    assert [e.get("comment") for e in published].count("outage") == 1
    assert len(published) == 3


def _accepted(client: Any, row: dict[str, Any], headers: dict[str, str]) -> dict[str, Any] | None:
    answer = client.post(
        URL, content=json_body([row]), headers={**headers, "Idempotency-Key": "outage-1"}
    )
    return answer.json() if answer.status_code == 202 else None
