"""Per-source abuse limits on the real ingest app and real Kafka: a runaway source is refused 429
while another source's batches keep being accepted, and nothing refused reaches the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from shared.settings import Settings
from tests.factories import LABOUR, SCHOOL, jobseeker_rows, json_body, share_rows
from tests.integration.ingest_helpers import (
    bearer,
    events,
    ingest_settings,
    metric,
    prepare,
    read_topic,
    running,
)

URL = "/v1/observations"
JSON = {"Content-Type": "application/json"}
THROTTLED = "stadspuls_ingest_throttled_total"


@pytest.fixture
def settings(kafka: Any, topic_prefix: str, sqlite_url: str) -> Settings:
    limits = {SCHOOL: {"requests_per_minute": 3}, LABOUR: {"rows_per_minute": 10}}
    return ingest_settings(
        kafka.bootstrap,
        topic_prefix,
        sqlite_url,
        ingest_requests_per_minute=1000,
        ingest_source_limits=limits,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[tuple[TestClient, Engine]]:
    engine = prepare(settings)
    with running(settings, engine) as client:
        yield client, engine


def published(settings: Settings) -> list[dict[str, Any]]:
    assert settings.kafka_bootstrap
    return events(read_topic(settings.kafka_bootstrap, settings.topic("observations.v1")))


def test_a_runaway_source_is_throttled_while_another_keeps_being_accepted(
    client: tuple[TestClient, Engine], settings: Settings
) -> None:
    http, engine = client
    school = {**JSON, **bearer(engine, settings, SCHOOL)}
    labour = {**JSON, **bearer(engine, settings, LABOUR)}
    answers = []
    for n in range(6):
        answers.append(
            http.post(URL, content=json_body(share_rows(1, period=str(2024 - n))), headers=school)
        )
        other = http.post(URL, content=json_body(jobseeker_rows(1)), headers=labour)
        assert other.status_code == 202, other.text
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429, 429]
    refused = answers[3]
    body = refused.json()
    assert (body["code"], body["limit"], body["per_minute"]) == (
        "rate_limited",
        "requests_per_minute",
        3,
    )
    assert body["outcome"] == "not_accepted"
    assert SCHOOL in body["message"]
    assert "STADSPULS_INGEST_SOURCE_LIMITS" in body["message"]
    # 3 a minute refill one request every 20 s: the budget has room within 20 s, not at once
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    # a refused request's body is never read: garbage gets the 429, not a 400
    assert http.post(URL, content=b"{not json", headers=school).status_code == 429
    sources = [e["source"] for e in published(settings)]
    assert sources.count(SCHOOL) == 3
    assert sources.count(LABOUR) == 6
    text = http.get("/metrics").text
    assert metric(text, THROTTLED, source=SCHOOL, limit="requests_per_minute") == 4
    assert metric(text, THROTTLED, source=LABOUR, limit="requests_per_minute") == 0


def test_rows_over_the_budget_are_refused_and_a_batch_that_never_fits_says_so(
    client: tuple[TestClient, Engine], settings: Settings
) -> None:
    http, engine = client
    labour = {**JSON, **bearer(engine, settings, LABOUR)}
    rows = jobseeker_rows(11)
    assert http.post(URL, content=json_body(rows[:8]), headers=labour).status_code == 202
    over = http.post(
        URL, content=json_body(rows[8:11]), headers={**labour, "Idempotency-Key": "k-1"}
    )
    assert over.status_code == 429, over.text
    assert (over.json()["code"], over.json()["limit"]) == ("rate_limited", "rows_per_minute")
    # 1 row more than the 2 left, at 10 a minute: 6 s
    assert 1 <= int(over.headers["Retry-After"]) <= 6
    never = http.post(URL, content=json_body(jobseeker_rows(11)), headers=labour)
    assert never.status_code == 413, never.text
    body = never.json()
    assert (body["code"], body["limit"], body["per_minute"]) == (
        "batch_over_rate_limit",
        "rows_per_minute",
        10,
    )
    assert "11 rows" in body["message"]
    assert "at most 10 rows" in body["message"]
    # the throttled Idempotency-Key was released: reusing it with another body is no conflict
    again = http.post(
        URL, content=json_body(rows[8:9]), headers={**labour, "Idempotency-Key": "k-1"}
    )
    assert again.status_code == 202, again.text
    assert len(published(settings)) == 9
    text = http.get("/metrics").text
    assert metric(text, THROTTLED, source=LABOUR, limit="rows_per_minute") == 2
