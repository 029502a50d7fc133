"""What every fault test asserts once the fault is over: honest answers, every acknowledged row on
the canonical topic, the read model equal to the oracle, and `stadspuls verify` clean."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from sqlalchemy import Engine, select

from shared.db.schema import series
from shared.domain.observation import Observation
from shared.infra.wait import wait_for
from tests.faults.load import Load, Reply
from tests.faults.stack import Stack
from tests.integration.ingest_helpers import events as values_of
from tests.integration.ingest_helpers import read_topic
from tests.oracle import OracleRow, SeriesId, close, oracle_rows
from tests.services import status_mismatches


def honest(reply: Reply, rows: int) -> bool:
    """2xx for every row, or 503 / 409 `idempotency_in_progress`, both with a Retry-After."""
    if 200 <= reply.status < 300:
        return reply.accepted == rows
    if reply.status == 409:
        return reply.code == "idempotency_in_progress" and reply.retry_after is not None
    return reply.status == 503 and reply.retry_after is not None


def answer_problems(load: Load) -> list[str]:
    """Answers a client must not get, and batches that were never acknowledged."""
    bad = Counter(
        f"{r.status} {r.code}"
        for r in load.replies
        if not honest(r, len(load.batches[r.batch].rows))
    )
    problems = [f"dishonest or unexpected answers: {dict(bad)}"] if bad else []
    if lost := load.unacknowledged():
        problems.append(f"{len(lost)} of {len(load.started)} batches never acknowledged")
    return problems


def topic_problems(stack: Stack, events: list[Observation]) -> list[str]:
    """Acknowledged rows whose observation id is not on the canonical topic."""
    topic = stack.settings.topic("observations.v1")
    on_topic = {
        e["observation_id"]
        for e in values_of(read_topic(stack.settings.kafka_bootstrap or "", topic, timeout=90))
    }
    missing = [e for e in events if str(e.observation_id) not in on_topic]
    return (
        [f"{len(missing)} of {len(events)} acknowledged rows are not on {topic}"] if missing else []
    )


def differences(engine: Engine, expected: dict[SeriesId, OracleRow]) -> dict[str, list[str]]:
    """The read model's series against the oracle's: missing, extra and wrong ones."""
    cols = (series.c.indicator, series.c.area, series.c.period, series.c.gender)
    with engine.connect() as conn:
        rows = conn.execute(select(*cols, series.c.value, series.c.origin, series.c.coverage))
        actual = {(r.indicator, r.area, r.period, r.gender): r for r in rows}
    found: dict[str, list[str]] = {"missing": [], "extra": [], "wrong": []}
    for key in expected.keys() | actual.keys():
        want, got = expected.get(key), actual.get(key)
        shown = got is not None and got.origin is not None
        if want is None or want.origin is None:
            kind = "extra" if shown else ""
        elif got is None or not shown:
            kind = "missing"
        else:
            same = (
                want.origin == got.origin
                and close(want.value, got.value)
                and close(want.coverage, got.coverage)
            )
            kind = "" if same else "wrong"
        if kind:
            found[kind].append(f"{'|'.join(key)}: expected {want}, read model has {got}")
    return found


def read_model_problems(stack: Stack, events: list[Observation], timeout: float) -> list[str]:
    """Wait until the series and statuses equal the oracle of `events`; else say how they differ."""
    expected = oracle_rows(stack.catalog, events)
    last: dict[str, list[str]] = {}

    def equal() -> bool:
        nonlocal last
        last = differences(stack.engine, expected)
        last["statuses"] = status_mismatches(stack.engine, stack.catalog, events, expected)
        return not any(last.values())

    try:
        wait_for(equal, timeout=timeout, interval=1.0, what="the read model to equal the oracle")
    except TimeoutError:
        counts = ", ".join(f"{len(v)} {k}" for k, v in last.items())
        examples = [line for lines in last.values() for line in lines[:3]]
        return [
            f"read model vs the oracle of {len(events)} acknowledged events: {counts}; e.g.\n"
            + "\n".join(examples)
        ]
    return []


def verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`stadspuls verify` on the stack's topic and database, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "verify"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settled(stack: Stack, load: Load, timeout: float = 40) -> list[str]:
    """Every problem found after the fault; empty when the system kept its promise."""
    events = load.events()
    problems = answer_problems(load) + topic_problems(stack, events)
    problems += read_model_problems(stack, events, timeout)
    done = verify(stack.env)
    if done.returncode != 0:
        problems.append(
            f"stadspuls verify exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return problems
