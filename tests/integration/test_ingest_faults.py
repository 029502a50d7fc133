"""Ingest's answers under faults, on real parts: a stalled broker, a database that refuses writes."""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from services.ingest.app import create_app
from shared.db.schema import idempotency_records
from shared.infra.kafka import KafkaEndpoint, LocalKafka
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.factories import SCHOOL, ingest_catalog, json_body, share_rows
from tests.integration.ingest_helpers import (
    bearer,
    events,
    ingest_settings,
    metric,
    paused,
    prepare,
    read_only,
    read_topic,
    running,
    serving,
)

URL = "/v1/observations"
ROWS = 25
#: Allowance over the publish timeout: the documented margin is 1 s, the rest absorbs a busy machine.
SLACK = 3.0
pytestmark = pytest.mark.timeout(300)


def _settings(
    bootstrap: str, topic_prefix: str, sqlite_url: str, timeout: float, **overrides: Any
) -> Settings:
    return ingest_settings(
        bootstrap,
        topic_prefix,
        sqlite_url,
        ingest_publish_timeout_seconds=timeout,
        ingest_retry_after_seconds=2,
        **overrides,
    )


def _post(
    base: str, tag: str, auth: dict[str, str], key: str | None = None, *, rows: int = ROWS
) -> tuple[httpx.Response, float]:
    """POST a batch whose rows carry `tag` as their comment; the answer and how long it took."""
    headers = {
        "Content-Type": "application/json",
        **auth,
        **({"Idempotency-Key": key} if key else {}),
    }
    started = time.monotonic()
    answer = httpx.post(
        base + URL, content=json_body(share_rows(rows, comment=tag)), headers=headers, timeout=120
    )
    return answer, time.monotonic() - started


def _accepted(base: str, tag: str, auth: dict[str, str], key: str) -> httpx.Response | None:
    answer, _ = _post(base, tag, auth, key)
    return answer if answer.status_code == 202 else None


def _assert_503(answer: httpx.Response, elapsed: float, settings: Settings, code: str) -> None:
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["code"] == code
    assert body["outcome"] == ("unknown" if code == "kafka_outcome_unknown" else "not_accepted")
    assert int(answer.headers["Retry-After"]) == settings.ingest_retry_after_seconds
    assert elapsed < settings.ingest_publish_timeout_seconds + SLACK


def _copies(bootstrap: str, settings: Settings, tag: str) -> dict[str, list[str]]:
    """Series key → the version (id, updated_at, received_at) of every copy of a row tagged `tag`.

    A retry with the same Idempotency-Key must repeat the first attempt's version exactly, or a
    late copy could outrank a newer version of its series."""
    copies: dict[str, list[str]] = defaultdict(list)
    for event in events(read_topic(bootstrap, settings.topic("observations.v1"))):
        if event.get("comment") == tag:
            series = "|".join(event[f] for f in ("indicator", "area", "period", "gender"))
            copies[series].append(
                f"{event['observation_id']} {event['updated_at']} {event['received_at']}"
            )
    return copies


def _assert_every_row_once_or_repeated(copies: dict[str, list[str]], most: int) -> None:
    """All rows of the batch are there; a row's copies (at most `most`) are one version."""
    assert len(copies) == ROWS
    assert all(len(set(ids)) == 1 and len(ids) <= most for ids in copies.values()), copies
    assert len({ids[0] for ids in copies.values()}) == ROWS


def _wait_claimed(engine: Engine, key: str) -> None:
    """Until the request with `key` holds its claim (then it is publishing)."""
    query = select(idempotency_records.c.status_code).where(
        idempotency_records.c.idempotency_key == key
    )

    def pending() -> bool:
        with engine.connect() as conn:
            return conn.execute(query).scalar() == 0

    wait_for(pending, timeout=30, interval=0.05, what=f"the claim of {key}")


def test_a_stalled_broker_is_answered_within_the_timeout_saying_whether_rows_may_be_in(
    kafka_private: LocalKafka, topic_prefix: str, sqlite_url: str
) -> None:
    settings = _settings(kafka_private.bootstrap, topic_prefix, sqlite_url, timeout=4.0)
    engine = prepare(settings)
    auth = bearer(engine, settings, SCHOOL)
    keys = [f"stall-{i}" for i in range(4)]
    with serving(create_app(settings, catalog=ingest_catalog(), engine=engine)) as base:
        assert _post(base, "warm", auth)[0].status_code == 202  # connected, partitions known
        with paused(kafka_private):
            sent, elapsed = _post(base, "unkeyed", auth)  # handed to the connected producer
            _assert_503(sent, elapsed, settings, "kafka_outcome_unknown")
            assert "no Idempotency-Key" in sent.json()["message"]
            # The stalled producer was dropped; a new one cannot connect: nothing is sent.
            late, elapsed = _post(base, "late", auth, "late")
            _assert_503(late, elapsed, settings, "kafka_unavailable")
        wait_for(
            lambda: _accepted(base, "late", auth, "late"),
            timeout=90,
            interval=1.0,
            what="the late batch accepted after SIGCONT",
        )
        with paused(kafka_private), ThreadPoolExecutor(len(keys)) as pool:
            answers = list(pool.map(lambda key: _post(base, key, auth, key), keys))
        codes = {}
        for key, (answer, elapsed) in zip(keys, answers, strict=True):
            codes[key] = answer.json().get("code")
            _assert_503(answer, elapsed, settings, codes[key])
        assert "kafka_outcome_unknown" in codes.values(), codes
        for key in keys:  # a retry with the same key is safe, whatever the first answer was
            wait_for(
                lambda key=key: _accepted(base, key, auth, key),
                timeout=90,
                interval=1.0,
                what=f"the retry of {key} accepted",
            )
    assert all(
        len(ids) <= 1 for ids in _copies(kafka_private.bootstrap, settings, "unkeyed").values()
    )
    _assert_every_row_once_or_repeated(_copies(kafka_private.bootstrap, settings, "late"), most=1)
    for key in keys:
        most = 2 if codes[key] == "kafka_outcome_unknown" else 1  # "nothing was accepted" is true
        _assert_every_row_once_or_repeated(_copies(kafka_private.bootstrap, settings, key), most)


def test_a_keyed_request_whose_key_cannot_be_recorded_is_503_and_publishes_nothing(
    kafka: KafkaEndpoint, topic_prefix: str, sqlite_url: str
) -> None:
    settings = _settings(kafka.bootstrap, topic_prefix, sqlite_url, timeout=5.0)
    engine = prepare(settings)
    auth = {"Content-Type": "application/json", **bearer(engine, settings, SCHOOL)}
    keyed = {**auth, "Idempotency-Key": "claim"}
    body = json_body(share_rows(ROWS, comment="claim"))
    with running(settings, engine) as client:
        with read_only(sqlite_url):
            refused = client.post(URL, content=body, headers=keyed)
            assert refused.status_code == 503, refused.text
            assert (refused.json()["code"], refused.json()["outcome"]) == (
                "database_unavailable",
                "not_accepted",
            )
            assert int(refused.headers["Retry-After"]) > 0
            # Without a key the database is not needed: ingest goes on.
            unkeyed = client.post(
                URL, content=json_body(share_rows(3, comment="unkeyed")), headers=auth
            )
            assert unkeyed.status_code == 202, unkeyed.text
            text = client.get("/metrics").text
            assert (
                metric(text, "stadspuls_ingest_idempotency_store_failures_total", operation="claim")
                >= 1
            )
        retry = client.post(URL, content=body, headers=keyed)
        assert retry.status_code == 202, retry.text
        again = client.post(URL, content=body, headers=keyed)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["batch_id"] == retry.json()["batch_id"]
    _assert_every_row_once_or_repeated(_copies(kafka.bootstrap, settings, "claim"), most=1)


def test_under_a_database_fault_an_acknowledged_batch_is_202_and_a_failed_one_frees_its_key(
    kafka_private: LocalKafka, topic_prefix: str, sqlite_url: str
) -> None:
    settings = _settings(kafka_private.bootstrap, topic_prefix, sqlite_url, timeout=10.0)
    engine = prepare(settings)
    auth = bearer(engine, settings, SCHOOL)
    bootstrap = kafka_private.bootstrap
    with (
        serving(create_app(settings, catalog=ingest_catalog(), engine=engine)) as base,
        ThreadPoolExecutor(1) as pool,
    ):
        assert _post(base, "warm", auth)[0].status_code == 202
        # Kafka acknowledges after the database stopped taking writes: the answer is still 202.
        with ExitStack() as database_fault:
            with paused(kafka_private):
                pending = pool.submit(_post, base, "acked", auth, "acked")
                _wait_claimed(engine, "acked")
                database_fault.enter_context(read_only(sqlite_url))
            acked, _ = pending.result(timeout=120)
            assert acked.status_code == 202, acked.text
            text = httpx.get(base + "/metrics").text
            assert (
                metric(
                    text, "stadspuls_ingest_idempotency_store_failures_total", operation="complete"
                )
                >= 1
            )
            assert metric(text, "stadspuls_ingest_idempotency_deferred_writes") == 1
            # A retry meanwhile finds the claim pending, or cannot even look: never a new publish.
            during, _ = _post(base, "acked", auth, "acked")
            assert (during.status_code, during.json()["code"]) in {
                (409, "idempotency_in_progress"),
                (503, "database_unavailable"),
            }
            assert int(during.headers["Retry-After"]) > 0
        replay, _ = _post(base, "acked", auth, "acked")  # the kept answer is written first
        assert replay.status_code == 202
        assert replay.headers.get("Idempotent-Replayed") == "true"
        assert replay.json()["batch_id"] == acked.json()["batch_id"]
        # Kafka does not acknowledge, and the release of the key cannot be written.
        with ExitStack() as database_fault:
            with paused(kafka_private):
                pending = pool.submit(_post, base, "failed", auth, "failed")
                _wait_claimed(engine, "failed")
                database_fault.enter_context(read_only(sqlite_url))
                failed, elapsed = pending.result(timeout=120)
            _assert_503(failed, elapsed, settings, "kafka_outcome_unknown")
            text = httpx.get(base + "/metrics").text
            assert (
                metric(
                    text, "stadspuls_ingest_idempotency_store_failures_total", operation="release"
                )
                >= 1
            )
        other, _ = _post(
            base, "other", auth, "failed", rows=3
        )  # the key stays bound to its request
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
        retry = wait_for(
            lambda: _accepted(base, "failed", auth, "failed"),
            timeout=60,
            interval=0.5,
            what="the retry after SIGCONT",
        )
        assert retry.headers.get("Idempotent-Replayed") is None
    _assert_every_row_once_or_repeated(_copies(bootstrap, settings, "acked"), most=1)
    _assert_every_row_once_or_repeated(_copies(bootstrap, settings, "failed"), most=2)


@pytest.mark.slow  # it waits out a real lease; the in-process lease is tested in CI's subset
def test_a_claim_left_pending_by_a_process_that_died_lapses_after_the_lease(
    kafka_private: LocalKafka, topic_prefix: str, sqlite_url: str
) -> None:
    # A lease longer than a restart takes here, so that the new process meets the claim.
    settings = _settings(
        kafka_private.bootstrap,
        topic_prefix,
        sqlite_url,
        timeout=4.0,
        ingest_idempotency_lease_seconds=30.0,
    )
    engine = prepare(settings)
    auth = bearer(engine, settings, SCHOOL)
    with ExitStack() as database_fault:
        app = create_app(settings, catalog=ingest_catalog(), engine=engine)
        with serving(app) as base, ThreadPoolExecutor(1) as pool:
            assert _post(base, "warm", auth)[0].status_code == 202
            with paused(kafka_private):
                pending = pool.submit(_post, base, "orphan", auth, "orphan")
                _wait_claimed(engine, "orphan")
                database_fault.enter_context(read_only(sqlite_url))
                failed, elapsed = pending.result(timeout=120)
            _assert_503(failed, elapsed, settings, "kafka_outcome_unknown")
        # The service stops before the database is back: the release it kept is lost.
    with serving(create_app(settings, catalog=ingest_catalog(), engine=engine)) as base:
        held, _ = _post(base, "orphan", auth, "orphan")
        assert (held.status_code, held.json()["code"]) == (409, "idempotency_in_progress")
        assert 1 <= int(held.headers["Retry-After"]) <= settings.ingest_retry_after_seconds
        retry: Any = wait_for(
            lambda: _accepted(base, "orphan", auth, "orphan"),
            timeout=60,
            interval=float(held.headers["Retry-After"]),
            what="the lease to lapse",
        )
        assert retry.json()["accepted"] == ROWS
    _assert_every_row_once_or_repeated(_copies(kafka_private.bootstrap, settings, "orphan"), most=2)
