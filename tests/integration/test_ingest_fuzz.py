"""Property-based fuzzing of the batch endpoint (JSON and CSV), by hypothesis and by schemathesis.

Properties: never a 5xx; every bad row explained by at least one error naming it; the good rows of a
mixed batch are accepted exactly as if they had come alone — and, when published, are what Kafka holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from shared.domain.validation.text import FORBIDDEN
from shared.settings import Settings
from tests.factories import JOBS, SCHOOL, SHARE, csv_body, json_body
from tests.integration.ingest_helpers import (
    bearer,
    events,
    ingest_settings,
    prepare,
    read_topic,
    running,
)

URL = "/v1/observations"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
AREAS = ("stockholm", "rinkeby-kista", "rinkeby", "kista", "sodermalm")
# Any text a comment may hold: no surrogates, no control or bidirectional formatting characters.
TEXT = st.text(
    st.characters(exclude_categories=["Cs"]).filter(lambda c: not FORBIDDEN.match(c)), max_size=40
)
# Each mutation makes a valid row invalid in a way CSV can carry too (unless marked JSON-only).
MUTATIONS: list[tuple[str, Any, bool]] = [
    ("area", "atlantis", True),
    ("period", "2024-Q9", True),
    ("period", "2999", True),
    ("gender", "X", True),
    ("value", 12345.0, True),
    ("numerator", -1.0, True),
    ("denominator", 0.0, True),
    ("indicator", JOBS, True),
    ("indicator", "no-such-indicator", True),
    ("comment", "x" * 1001, True),
    ("updated_at", "yesterday", True),
    ("period", None, True),
    ("status", "draft", True),
    ("observation_id", "42", True),
    ("numerator", 1e307, True),
    ("comment", "\x1b[31mred", True),
    ("comment", "\u202eevil", True),
    ("valeu", 1.0, False),
    ("value", "71.3", False),
    ("retract", "maybe", False),
]


@pytest.fixture(scope="module")
def fuzz_env(
    kafka: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Settings, dict[str, str]]]:
    prefix = f"fuzz{id(tmp_path_factory) % 100000}."
    db = tmp_path_factory.mktemp("fuzz") / "ingest.db"
    env = ingest_settings(kafka.bootstrap, prefix, f"sqlite:///{db}")
    engine = prepare(env)
    with running(env, engine) as client:
        yield client, env, {"Authorization": bearer(engine, env, SCHOOL)["Authorization"]}


@st.composite
def good_rows(draw: st.DrawFn, max_size: int = 12) -> list[dict[str, Any]]:
    """Valid SHARE rows with distinct series."""
    series = draw(
        st.lists(
            st.tuples(st.sampled_from(AREAS), st.sampled_from("TKM"), st.integers(2015, 2024)),
            max_size=max_size,
            unique=True,
        )
    )
    rows = []
    for area, gender, year in series:
        den = draw(st.integers(1, 100_000))
        num = draw(st.integers(0, den))
        row: dict[str, Any] = {
            "indicator": SHARE,
            "area": area,
            "period": str(year),
            "gender": gender,
            "numerator": num,
            "denominator": den,
        }
        if draw(st.booleans()):
            row["value"] = round(100 * num / den, 2)
        if draw(st.booleans()):
            row["comment"] = draw(TEXT)
        if draw(st.booleans()):
            row["status"] = draw(st.sampled_from(["preliminary", "final"]))
        rows.append(row)
    return rows


@st.composite
def mixed_batches(draw: st.DrawFn, csv: bool) -> tuple[list[Any], set[int]]:
    """A shuffled batch of good and bad rows, and the 1-based positions of the bad ones."""
    good = draw(good_rows())
    usable = [m for m in MUTATIONS if m[2] or not csv]
    bad = []
    for base in draw(st.lists(good_rows(max_size=1).filter(bool), max_size=6)):
        name, junk, _ = draw(st.sampled_from(usable))
        row = {
            **base[0],
            "area": "rinkeby",
            "gender": "T",
            "period": "2000",
        }  # never a good row's series
        bad.append({k: v for k, v in {**row, name: junk}.items() if v is not None})
    if not csv:
        bad += draw(st.lists(st.sampled_from([1, "x", [], None]), max_size=2))
    if not good and not bad:
        good = [
            {
                "indicator": SHARE,
                "area": "rinkeby",
                "period": "2024",
                "numerator": 1,
                "denominator": 2,
            }
        ]
    rows = draw(st.permutations([*((r, False) for r in good), *((r, True) for r in bad)]))
    return [r for r, _ in rows], {i for i, (_, is_bad) in enumerate(rows, start=1) if is_bad}


def _check_report(answer: Any, rows: list[Any], bad: set[int]) -> dict[str, Any]:
    assert answer.status_code < 500, answer.text
    report: dict[str, Any] = answer.json()
    explained = {e["row"] for e in report["errors"]}
    assert explained == bad, report["errors"]
    assert (report["received"], report["accepted"], report["rejected"]) == (
        len(rows),
        len(rows) - len(bad),
        len(bad),
    )
    assert answer.status_code == (200 if report["accepted"] else 422)
    return report


@pytest.mark.parametrize("csv", [False, True], ids=["json", "csv"])
def test_mixed_batches_dry_run(
    fuzz_env: tuple[TestClient, Settings, dict[str, str]], csv: bool
) -> None:
    client, _, auth = fuzz_env

    @FUZZ
    @given(mixed_batches(csv))
    def run(batch: tuple[list[Any], set[int]]) -> None:
        rows, bad = batch
        body = csv_body(rows) if csv else json_body(rows)
        headers = {**auth, "Content-Type": "text/csv" if csv else "application/json"}
        _check_report(client.post(f"{URL}?dry_run=true", content=body, headers=headers), rows, bad)

    run()


def test_mixed_batches_publish_exactly_the_good_rows(
    fuzz_env: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    client, env, auth = fuzz_env
    topic = env.topic("observations.v1")
    assert env.kafka_bootstrap

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mixed_batches(False))
    def run(batch: tuple[list[Any], set[int]]) -> None:
        rows, bad = batch
        before = {(m.partition, m.offset) for m in read_topic(env.kafka_bootstrap or "", topic)}
        answer = client.post(
            URL, content=json_body(rows), headers={**auth, "Content-Type": "application/json"}
        )
        report = answer.json()
        assert answer.status_code == (202 if report["accepted"] else 422)
        new = [
            m
            for m in read_topic(env.kafka_bootstrap or "", topic)
            if (m.partition, m.offset) not in before
        ]
        good = [r for i, r in enumerate(rows, start=1) if i not in bad]
        assert sorted((e["area"], e["gender"], e["period"]) for e in events(new)) == sorted(
            (r["area"], r.get("gender", "T"), r["period"]) for r in good
        )

    run()


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
def test_arbitrary_bodies_never_cause_a_server_error(
    fuzz_env: tuple[TestClient, Settings, dict[str, str]], content_type: str
) -> None:
    client, _, auth = fuzz_env
    wrapped = st.builds(
        lambda rows: orjson.dumps({"observations": rows}),
        st.lists(
            st.dictionaries(
                st.sampled_from(["indicator", "area", "period", "value", "x"]),
                st.none() | st.booleans() | st.floats(allow_nan=False) | TEXT,
            )
        ),
    )

    @FUZZ
    @given(st.binary(max_size=400) | wrapped)
    def run(body: bytes) -> None:
        answer = client.post(
            f"{URL}?dry_run=true", content=body, headers={**auth, "Content-Type": content_type}
        )
        assert answer.status_code < 500, answer.text
        assert answer.status_code in (200, 400, 413, 422)

    run()


def test_schemathesis_finds_no_server_error_and_answers_match_the_schema(
    fuzz_env: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    client, _, auth = fuzz_env
    operation = schemathesis.openapi.from_dict(client.get("/openapi.json").json())[
        "/v1/observations"
    ]["POST"]

    @FUZZ
    @given(operation.as_strategy())
    def run(case: Any) -> None:
        sent = case.as_transport_kwargs(base_url="http://testserver", headers=auth)
        body = sent.get("data")
        if "json" in sent:
            body = orjson.dumps(sent["json"], option=orjson.OPT_NON_STR_KEYS)
        response = client.request(
            sent["method"],
            sent["url"],
            params=sent.get("params"),
            content=body,
            headers={k: str(v) for k, v in sent["headers"].items()},
        )
        case.validate_response(response, checks=[not_a_server_error])
        report = response.json()
        if "received" in report:  # a batch report: every rejected row is explained
            assert report["accepted"] + report["rejected"] == report["received"]
            rows = {e["row"] for e in report["errors"] if e["row"] > 0}
            assert rows <= set(range(1, report["received"] + 1))
            whole = any(e["code"] == "batch_rejected" and e["row"] == 0 for e in report["errors"])
            assert len(rows) == report["rejected"] or (whole and len(rows) <= report["rejected"])

    run()
