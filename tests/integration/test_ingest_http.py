"""The ingest HTTP API against real Kafka and a real database: what is answered is what Kafka holds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.ingest.app import TOPICS_EVERY, create_app
from services.ingest.formats import XLSX
from services.ingest.keys import revoke_key
from shared.db.engine import make_engine
from shared.domain.observation import Observation
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.factories import (
    LABOUR,
    SCHOOL,
    SHARE,
    count_row,
    csv_body,
    ingest_catalog,
    jobseeker_rows,
    json_body,
    share_row,
    share_rows,
)
from tests.integration.ingest_helpers import (
    bearer,
    events,
    ingest_settings,
    prepare,
    read_topic,
    running,
    serving,
)

URL = "/v1/observations"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def settings(kafka: Any, topic_prefix: str, sqlite_url: str) -> Settings:
    return ingest_settings(kafka.bootstrap, topic_prefix, sqlite_url)


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return prepare(settings)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with running(settings, engine) as client:
        yield client


@pytest.fixture
def school(engine: Engine, settings: Settings) -> dict[str, str]:
    return bearer(engine, settings, SCHOOL)


def canonical(settings: Settings) -> list[dict[str, Any]]:
    assert settings.kafka_bootstrap
    return events(read_topic(settings.kafka_bootstrap, settings.topic("observations.v1")))


def test_accepted_rows_are_in_kafka_when_the_answer_comes(
    client: TestClient, school: dict[str, str], settings: Settings
) -> None:
    rows = [share_row(), share_row(period="2024-Q5"), share_row(area="kista", gender="K")]
    answer = client.post(URL, content=json_body(rows), headers={**JSON, **school})
    assert answer.status_code == 202, answer.text
    report = answer.json()
    assert (report["received"], report["accepted"], report["rejected"]) == (3, 2, 1)
    assert report["errors"] == [
        {
            "row": 2,
            "field": "period",
            "code": "bad_period",
            "message": report["errors"][0]["message"],
        }
    ]
    published = canonical(settings)
    assert sorted(e["area"] for e in published) == ["kista", "rinkeby"]
    for event in published:
        observation = Observation.model_validate(event)
        assert observation.source == SCHOOL
        assert event["schema"] == "observation.v1"
    messages = read_topic(settings.kafka_bootstrap or "", settings.topic("observations.v1"))
    assert {m.key.decode() for m in messages} == {
        f"{SHARE}|rinkeby|2024|T",
        f"{SHARE}|kista|2024|K",
    }


def test_csv_batch_with_semicolons_and_decimal_commas(
    client: TestClient, school: dict[str, str], settings: Settings
) -> None:
    body = csv_body([share_row(value="71,33"), share_row(area="nowhere")], delimiter=";")
    answer = client.post(URL, content=body, headers={**CSV, **school})
    assert answer.status_code == 202, answer.text
    assert answer.json()["errors"][0] | {"message": ""} == {
        "row": 2,
        "line": 3,
        "cell": "A3",
        "field": "area",
        "code": "unknown_area",
        "message": "",
    }
    [event] = canonical(settings)
    assert event["value"] == pytest.approx(71.33)


def test_dry_run_publishes_nothing_and_answers_200(
    client: TestClient, school: dict[str, str], settings: Settings
) -> None:
    answer = client.post(
        f"{URL}?dry_run=true", content=json_body(share_rows(5)), headers={**JSON, **school}
    )
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 5
    assert answer.json()["dry_run"] is True
    assert canonical(settings) == []


@pytest.mark.parametrize(
    ("query", "code", "named"),
    [
        ("dryrun=true", "unknown_parameter", "dryrun"),  # a typo must not publish for real
        ("dry_run=true&dry_run=false", "invalid_request", "dry_run"),
        ("dry_run=true&atomic=true&atomic=false", "invalid_request", "atomic"),
    ],
)
def test_an_unknown_or_repeated_query_parameter_is_400_and_publishes_nothing(
    client: TestClient,
    school: dict[str, str],
    settings: Settings,
    query: str,
    code: str,
    named: str,
) -> None:
    answer = client.post(
        f"{URL}?{query}", content=json_body(share_rows(2)), headers={**JSON, **school}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == code
    assert answer.json()["message"].startswith(f"{named}: ")
    if code == "unknown_parameter":  # it names what the endpoint does take
        assert all(name in answer.json()["message"] for name in ("dry_run", "atomic", "sheet"))
    assert (
        client.post(
            f"{URL}?dry_run=true", content=json_body(share_rows(2)), headers={**JSON, **school}
        ).status_code
        == 200
    )
    assert canonical(settings) == []


def test_atomic_batch_with_a_bad_row_is_rejected_whole(
    client: TestClient, school: dict[str, str], settings: Settings
) -> None:
    body = json_body([share_row(), share_row(area="kista", gender="X")])
    answer = client.post(f"{URL}?atomic=true", content=body, headers={**JSON, **school})
    assert answer.status_code == 422
    report = answer.json()
    assert (report["accepted"], report["rejected"]) == (0, 2)
    assert {e["code"] for e in report["errors"]} == {"bad_gender", "batch_rejected"}
    assert canonical(settings) == []


def test_all_rows_rejected_is_422(client: TestClient, school: dict[str, str]) -> None:
    answer = client.post(URL, content=json_body([count_row()]), headers={**JSON, **school})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "forbidden_indicator"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nonsense", "Bearer sp_0123456789abcdef_" + "x" * 43, "Basic dXNlcjpwYXNz"],
)
def test_missing_or_unknown_key_is_401(client: TestClient, authorization: str | None) -> None:
    headers = {**JSON, **({"Authorization": authorization} if authorization else {})}
    answer = client.post(URL, content=json_body([share_row()]), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_refused_without_restart(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    headers = {**JSON, **bearer(engine, settings, SCHOOL)}
    assert (
        client.post(
            f"{URL}?dry_run=true", content=json_body([share_row()]), headers=headers
        ).status_code
        == 200
    )
    key_id = headers["Authorization"].split("_")[1]
    assert revoke_key(engine, key_id)
    wait_for(
        lambda: (
            client.post(
                f"{URL}?dry_run=true", content=json_body([share_row()]), headers=headers
            ).status_code
            == 401
        ),
        timeout=settings.ingest_key_cache_seconds + 5,
        interval=0.2,
        what="revocation to take effect",
    )


def test_a_key_writes_only_its_sources_indicators(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    labour = {**JSON, **bearer(engine, settings, LABOUR)}
    answer = client.post(URL, content=json_body([count_row(), share_row()]), headers=labour)
    assert answer.status_code == 202
    assert answer.json()["errors"] == [
        {
            "row": 2,
            "field": "indicator",
            "code": "forbidden_indicator",
            "message": f"source {LABOUR!r} may not report indicator {SHARE!r}",
        }
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"observations": [', "application/json", 400, "malformed_json"),
        (b'{"observations": {}}', "application/json", 400, "invalid_body"),
        (b'{"observations": []}', "application/json", 400, "empty_batch"),
        (b"indicator,area,bogus\r\nx,y,z\r\n", "text/csv", 400, "unknown_column"),
        (b'indicator,area,period\r\n"x,y,z\r\n', "text/csv", 400, "malformed_csv"),
        (b"indicator,area,period\r\n\xff,y,z\r\n", "text/csv", 400, "bad_encoding"),
        (b"<xml/>", "application/xml", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(
    client: TestClient,
    school: dict[str, str],
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    answer = client.post(URL, content=body, headers={"Content-Type": content_type, **school})
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "column"),
    [
        ('{"observations": []}'.encode("utf-16"), 1),  # Windows' "Unicode", with its mark
        ('{"observations": []}'.encode("utf-16-le"), 1),  # and without
        (b"\xff\xfe", 1),
        ('{"observations": [{"comment": "å'.encode("cp1252") + b'"}]}', 32),
    ],
)
def test_a_json_body_that_is_not_utf8_is_bad_encoding_saying_where(
    client: TestClient, school: dict[str, str], body: bytes, column: int
) -> None:
    answer = client.post(URL, content=body, headers={**JSON, **school})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "bad_encoding"
    assert (answer.json()["line"], answer.json()["column"]) == (1, column)


def test_a_json_body_with_a_utf8_byte_order_mark_is_read(
    client: TestClient, school: dict[str, str], settings: Settings
) -> None:
    body = b"\xef\xbb\xbf" + json_body(share_rows(1))
    answer = client.post(URL, content=body, headers={**JSON, **school})
    assert answer.status_code == 202, answer.text
    assert len(canonical(settings)) == 1


def test_malformed_json_says_where(client: TestClient, school: dict[str, str]) -> None:
    answer = client.post(
        URL, content=b'{"observations": [\n  {"indicator": }\n]}', headers={**JSON, **school}
    )
    assert answer.status_code == 400
    assert (answer.json()["line"], answer.json()["column"]) == (2, 17)
    assert answer.json()["message"].startswith("line 2, column 17")


def test_too_many_rows_is_413(settings: Settings, engine: Engine) -> None:
    small = settings.model_copy(update={"max_rows": 3, "max_body_bytes": 2000})
    with running(small, engine) as client:
        headers = {**JSON, **bearer(engine, small, SCHOOL)}
        assert (
            client.post(URL, content=json_body(share_rows(4)), headers=headers).json()["code"]
            == "too_many_rows"
        )
        big = json_body([share_row(comment="x" * 900)] * 3)
        answer = client.post(URL, content=big, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (413, "body_too_large")


def test_idempotency_key_returns_the_first_answer_even_after_a_restart(
    settings: Settings, engine: Engine
) -> None:
    body = json_body([*share_rows(3), share_row(period="bad")])
    with running(settings, engine) as client:
        headers = {
            **JSON,
            **bearer(engine, settings, SCHOOL),
            "Idempotency-Key": "delivery-2025-02-01",
        }
        first = client.post(URL, content=body, headers=headers)
        assert first.status_code == 202
    with running(settings, engine) as client:
        again = client.post(URL, content=body, headers=headers)
        assert again.status_code == 202
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = client.post(URL, content=json_body(share_rows(2)), headers=headers)
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert len(canonical(settings)) == 3


def test_metrics_count_rows_batches_and_requests_by_route(
    client: TestClient, school: dict[str, str]
) -> None:
    client.post(
        URL, content=json_body([share_row(), share_row(gender="X")]), headers={**JSON, **school}
    )
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert f'stadspuls_ingest_observations_received_total{{source="{SCHOOL}"}} 2.0' in text
    assert f'stadspuls_ingest_observations_accepted_total{{source="{SCHOOL}"}} 1.0' in text
    assert (
        f'stadspuls_ingest_observations_rejected_total{{reason="bad_gender",source="{SCHOOL}"}} 1.0'
        in text
    )
    assert f'stadspuls_ingest_batches_total{{outcome="partial",source="{SCHOOL}"}} 1.0' in text
    assert "stadspuls_ingest_publish_seconds_count 1.0" in text
    assert (
        'stadspuls_http_requests_total{method="POST",route="/v1/observations",service="ingest",'
        'status="202"} 1.0'
    ) in text
    assert 'route="unmatched"' in text
    assert "/no/such/path" not in text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "kafka": True, "database": True}
    head = client.head("/healthz")  # as load balancers check it: the GET's answer, no body
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == client.get("/healthz").headers["content-length"]


def test_openapi_documents_bodies_codes_and_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/observations"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "text/csv", XLSX}
    assert {"200", "202", "400", "401", "413", "422", "503"} <= set(operation["responses"])
    schemas = spec["components"]["schemas"]
    assert "forbidden_indicator" in schemas["RowErrorOut"]["properties"]["code"]["description"]
    assert "kafka_unavailable" in schemas["Problem"]["properties"]["code"]["description"]
    for name, prop in schemas["ObservationIn"]["properties"].items():
        assert prop.get("description"), name
        assert prop.get("examples"), name
    for model in ("BatchReport", "RowErrorOut", "Problem"):
        for name, prop in schemas[model]["properties"].items():
            assert prop.get("description"), f"{model}.{name}"
    assert orjson.dumps(spec)


def test_an_unreachable_database_is_503_not_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ingest_settings("127.0.0.1:1", "t.", f"sqlite:///{tmp_path}/missing/dir/x.db")
    engine = make_engine(settings.database_url)
    with running(settings, engine) as client:
        key = "sp_0123456789abcdef_" + "k" * 43
        with caplog.at_level(logging.WARNING, logger="services.ingest.app"):
            answer = client.post(
                URL,
                content=json_body([share_row()]),
                headers={**JSON, "Authorization": f"Bearer {key}"},
            )
        # the driver's reason, not SQLAlchemy's text with the statement's parameters
        (said,) = [r.getMessage() for r in caplog.records if "database error" in r.getMessage()]
        assert "unable to open database file" in said
        assert "SELECT" not in said
        assert answer.status_code == 503
        assert answer.json()["code"] == "database_unavailable"
        assert answer.headers["Retry-After"]
        assert client.get("/readyz").json()["database"] is False
        stopping = time.monotonic()
    # the background try to create topics on the absent cluster gives up within its period, so
    # the stop does not wait for kafka-python's 30 s bootstrap timeout
    assert time.monotonic() - stopping < 3 * TOPICS_EVERY


def test_a_full_batch_of_10000_rows_is_accepted_and_published(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    rows = jobseeker_rows(10_000)
    answer = client.post(
        URL, content=json_body(rows), headers={**JSON, **bearer(engine, settings, LABOUR)}
    )
    assert answer.status_code == 202, answer.text[:500]
    assert answer.json()["accepted"] == 10_000
    assert len(canonical(settings)) == 10_000


def test_concurrent_batches_are_each_answered_for_their_own_rows(
    settings: Settings, engine: Engine
) -> None:
    """Group commit: concurrent requests share produce rounds; each answer covers its own rows."""
    auth = {**JSON, **bearer(engine, settings, SCHOOL)}
    batches = [share_rows(150, period=str(2024 - 10 * i)) for i in range(8)]  # disjoint series

    async def post_all(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(http.post(URL, content=json_body(b), headers=auth) for b in batches)
                )
            )

    with serving(create_app(settings, catalog=ingest_catalog(), engine=engine)) as base:
        answers = asyncio.run(post_all(base))
    assert [a.status_code for a in answers] == [202] * 8
    assert [a.json()["accepted"] for a in answers] == [150] * 8
    published = canonical(settings)
    assert len(published) == 8 * 150
    assert {(e["area"], e["gender"], e["period"]) for e in published} == {
        (r["area"], r["gender"], r["period"]) for b in batches for r in b
    }
