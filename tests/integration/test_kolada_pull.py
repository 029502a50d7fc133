"""The Kolada connector against a local Kolada serving recorded answers, through the ingest path
(a recording publisher here; tests/integration/test_kolada_kafka.py runs the same on Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from services.ingest.connectors.cursors import CursorStore
from services.ingest.connectors.runner import RunReport
from shared.db.engine import make_engine, upgrade
from tests.fakes import UNIT_SETTINGS, RecordingPublisher
from tests.kolada_helpers import (
    CATALOG,
    FIRST_RUN,
    LATER_RUN,
    expected_values,
    kolada_runner,
    sample,
)
from tests.kolada_server import FakeKolada, kolada_server

TOPIC = UNIT_SETTINGS.topic("observations.v1")


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fake() -> Iterator[FakeKolada]:
    with kolada_server() as fake:
        yield fake


def run(
    fake: FakeKolada, engine: Engine, publisher: RecordingPublisher, when: Any, **options: Any
) -> tuple[RunReport, dict[str, float]]:
    async def go() -> tuple[RunReport, dict[str, float]]:
        async with kolada_runner(fake, UNIT_SETTINGS, engine, publisher, lambda: when) as runner:
            report = await runner.run(**options)
            names = (
                "runs_total",
                "rows_fetched_total",
                "rows_skipped_total",
                "rows_accepted_total",
            )
            seen = {
                n: sample(
                    runner,
                    f"stadspuls_connector_{n}",
                    **({"outcome": report.outcome} if n == "runs_total" else {}),
                )
                for n in names
            }
            return report, seen

    return asyncio.run(go())


def published(publisher: RecordingPublisher) -> dict[tuple[str, str, str], dict[str, Any]]:
    events = [orjson.loads(v or b"") for _, v, _ in publisher.records(TOPIC)]
    return {(e["indicator"], e["period"], e["gender"]): e for e in events}


def values(
    events: dict[tuple[str, str, str], dict[str, Any]],
) -> dict[tuple[str, str, str], float | None]:
    return {k: None if e["retract"] else e["value"] for k, e in events.items()}


def cursor(engine: Engine) -> dict[str, Any] | None:
    stored = asyncio.run(CursorStore(engine).load("kolada"))
    return stored.cursor if stored else None


def test_a_full_then_an_incremental_pull_publish_what_kolada_recorded(
    fake: FakeKolada, engine: Engine
) -> None:
    publisher = RecordingPublisher()
    fake.fail_next(429, retry_after=1)  # the first request: honoured, then answered
    report, seen = run(fake, engine, publisher, FIRST_RUN)
    assert report.outcome == "succeeded", report
    full = expected_values(CATALOG, ["data.json"])
    assert values(published(publisher)) == full
    assert all(
        e["area"] == "stockholm" and e["source"] == "kolada" for e in published(publisher).values()
    )
    # 2000–2025 is 26 years: two requests (25 + 1 years), paged to the end (40 items a page)
    asked = [r for r in fake.requests if "/year/" in r]
    firsts = {r for r in asked if "&page=" not in r}  # the 429 repeats the first
    assert sorted(len(r.split("/year/")[1].split("?")[0].split(",")) for r in firsts) == [1, 25]
    assert sum("&page=" in r for r in asked) == 3
    assert all("per_page=5000" in r for r in asked)
    assert report.report is not None
    assert (report.report["accepted"], report.report["rejected"]) == (len(full), 0)
    assert report.report["skipped"] == seen["rows_fetched_total"] - len(full) > 0  # the nulls
    assert seen["runs_total"] == 1
    assert cursor(engine) == {"from_date": "2025-05-31"}

    ids_before = {k: e["observation_id"] for k, e in published(publisher).items()}
    fake.fail_next(500)
    report, _ = run(fake, engine, publisher, LATER_RUN)
    assert report.outcome == "succeeded", report
    incremental = next(r for r in fake.requests if "from_date" in r)
    assert incremental.endswith("from_date=2025-05-31")
    assert "/year/" not in incremental
    latest = published(publisher)
    assert values(latest) == expected_values(CATALOG, ["data.json", "updates/2025-06-10.json"])
    assert latest[("uvas-16-24", "2022", "K")]["retract"] is True  # the item was withdrawn
    assert latest[("lag-utbildningsniva", "2021", "K")]["retract"] is True  # one gender was
    assert latest[("behorighet-gymnasiet-ak9", "2023", "T")]["value"] == 88.4  # revised
    assert (
        latest[("nystartade-foretag", "2024", "T")]["observation_id"]
        == ids_before[("nystartade-foretag", "2024", "T")]
    )  # a null is no observation: the value published before stands
    unchanged = ("meritvarde-ak9", "2019", "T")
    assert latest[unchanged]["observation_id"] == ids_before[unchanged]
    assert (
        latest[("behorighet-gymnasiet-ak9", "2023", "T")]["observation_id"]
        != ids_before[("behorighet-gymnasiet-ak9", "2023", "T")]
    )
    assert cursor(engine) == {"from_date": "2025-06-14"}

    again = RecordingPublisher()
    report, _ = run(fake, engine, again, LATER_RUN, since=FIRST_RUN.date())
    repeated = published(again)
    assert len(repeated) == 9  # the revised items of 2025-06-10 again (the null is none)
    assert {k: e["observation_id"] for k, e in repeated.items()} == {
        k: latest[k]["observation_id"] for k in repeated
    }


@pytest.mark.parametrize("fault", ["truncated", "500", "404"])
def test_a_failed_run_publishes_nothing_and_keeps_the_cursor(
    fault: str, fake: FakeKolada, engine: Engine
) -> None:
    publisher = RecordingPublisher()
    assert run(fake, engine, publisher, FIRST_RUN)[0].outcome == "succeeded"
    before = len(publisher.attempts)
    if fault == "truncated":
        fake.truncate_next()
    elif fault == "500":
        fake.fail_next(500, times=3)  # the first try and both retries
    else:
        fake.fail_next(404)
    report, seen = run(fake, engine, publisher, LATER_RUN)
    assert report.outcome == "failed"
    assert report.error is not None
    assert report.error.url.startswith(fake.base + "/v3/data/kpi/")
    assert (
        report.error.kind
        == {"truncated": "malformed_body", "500": "server_error", "404": "client_error"}[fault]
    )
    assert len(publisher.attempts) == before
    assert cursor(engine) == {"from_date": "2025-05-31"}
    assert seen["runs_total"] == 1


def test_kafka_not_acknowledging_keeps_the_cursor(fake: FakeKolada, engine: Engine) -> None:
    publisher = RecordingPublisher()
    publisher.fail_next("not_accepted")
    report, _ = run(fake, engine, publisher, FIRST_RUN)
    assert report.outcome == "failed"
    assert report.error is not None
    assert report.error.kind == "kafka_unavailable"
    assert cursor(engine) is None
