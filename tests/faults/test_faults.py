"""Under a steady ingest load, each fault ends with the read model equal to the oracle of every
acknowledged event, clients answered honestly and every acknowledged row on the canonical topic.

Run with `STADSPULS_ENVIRONMENT=test .venv/bin/pytest -m faults tests/faults -rA` (`-rA` shows
what clients were answered during each fault).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from shared.infra.kafka import KafkaEndpoint, LocalKafka
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for
from tests.faults import injectors as fault
from tests.faults.checks import settled
from tests.faults.conftest import StackOn
from tests.faults.stack import AGGREGATOR_SESSIONS, Stack

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]


def survives(stack: Stack, inject: Callable[[], object], *, settle: float = 40) -> None:
    """Start the load, inject the fault once it flows, load 5 s more, then check everything."""
    began = time.monotonic()
    with stack.load() as load:
        load.wait_acknowledged(40)
        since = time.monotonic()
        inject()
        until = time.monotonic()
        load.finish(more=5)
    ended = time.monotonic()
    problems = settled(stack, load, settle)
    print(f"during the fault ({until - since:.0f} s): {dict(load.answers(since, until))}")
    print(f"in all: {dict(load.answers())}; {len(load.events())} rows acknowledged")
    print(
        f"load {since - began:.0f} s + fault {until - since:.0f} s + {ended - until:.0f} s,"
        f" checks {time.monotonic() - ended:.0f} s"
    )
    assert not problems, "\n".join(problems)


def test_sqlite_locked_for_50_seconds(
    stack_on: StackOn, kafka: KafkaEndpoint, sqlite_file: str, ingest_sqlite_file: str
) -> None:
    stack = stack_on(kafka.bootstrap, sqlite_file, ingest_sqlite_file)
    seen: list[str] = []

    def locked_and_watched() -> None:
        """While the lock lasts the aggregator says it is not ready, and why, and counts it."""
        started = time.monotonic()
        with fault.sqlite_locked(stack.sqlite_path):
            wait_for(
                lambda: _not_ready_because_writes_fail(stack, seen),
                timeout=45,
                what="the aggregator's /readyz to report failing writes",
            )
            time.sleep(max(0.0, 50 - (time.monotonic() - started)))

    survives(stack, locked_and_watched)
    assert "read-model writes failing" in seen[-1]
    assert (
        stack.aggregate.metric("stadspuls_aggregate_batch_failures_total", 'reason="database"') > 0
    )
    wait_for(
        lambda: httpx.get(f"{stack.aggregate.url}/readyz", timeout=5).status_code == 200,
        timeout=30,
        what="the aggregator ready again",
    )
    assert stack.aggregate.metric("stadspuls_aggregate_batch_failing") == 0
    wait_for(  # the operator is told it is back, not only that it failed
        lambda: "applying batches again" in stack.aggregate.log_path.read_text(errors="replace"),
        timeout=10,
        what="the aggregator's log to say it applies batches again",
    )


def _not_ready_because_writes_fail(stack: Stack, seen: list[str]) -> bool:
    answer = httpx.get(f"{stack.aggregate.url}/readyz", timeout=5)
    seen.append(" ".join(answer.json().get("reasons", [])))
    return answer.status_code == 503 and "read-model writes failing" in seen[-1]


@pytest.mark.slow
def test_sqlite_files_read_only_for_20_seconds(
    stack_on: StackOn, kafka: KafkaEndpoint, sqlite_file: str, ingest_sqlite_file: str
) -> None:
    stack = stack_on(kafka.bootstrap, sqlite_file, ingest_sqlite_file)
    survives(stack, lambda: fault.lasting(fault.sqlite_read_only(stack.sqlite_path), 20))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("ingest_apart", [False, True], ids=["ingest-on-it-too", "ingest-apart"])
def test_postgres_stopped_for_20_seconds_and_restarted(
    postgres_private: LocalPostgres,
    pg_url: str,
    stack_on: StackOn,
    kafka: KafkaEndpoint,
    ingest_apart: bool,
) -> None:
    """Ingest on the stopped server answers its clients 503s too; ingest apart keeps events coming."""
    read_model = postgres_private.create_database("faults")
    stack = stack_on(kafka.bootstrap, read_model, pg_url if ingest_apart else None)
    survives(stack, lambda: fault.lasting(fault.postgres_stopped(postgres_private), 20))


@pytest.mark.slow
def test_postgres_sessions_of_the_aggregator_terminated_for_15_seconds(
    postgres: LocalPostgres, pg_url: str, stack_on: StackOn, kafka: KafkaEndpoint
) -> None:
    stack = stack_on(kafka.bootstrap, pg_url)
    ended: list[int] = []
    survives(
        stack,
        lambda: ended.append(fault.keep_terminating(postgres, AGGREGATOR_SESSIONS, 15)),
    )
    assert ended[0] > 0, "no session of the aggregator was found to terminate"


def test_writer_process_killed(pg_url: str, stack_on: StackOn, kafka: KafkaEndpoint) -> None:
    stack = stack_on(kafka.bootstrap, pg_url)
    assert stack.aggregate.proc is not None
    worker = stack.aggregate.proc.pid
    survives(stack, lambda: fault.kill(fault.writer_pid(worker)))


@pytest.mark.slow  # CI keeps the writer's kill; the projector's restart: test_aggregate_writer
def test_projector_process_killed(pg_url: str, stack_on: StackOn, kafka: KafkaEndpoint) -> None:
    """Statuses stop moving only until the next request starts a new projector, which projects
    everything: the statuses end equal to the oracle's."""
    stack = stack_on(kafka.bootstrap, pg_url)
    assert stack.aggregate.proc is not None
    worker = stack.aggregate.proc.pid
    old = fault.projector_pid(worker)
    survives(stack, lambda: fault.kill(old))
    assert fault.projector_pid(worker) != old
    assert stack.aggregate.metric("stadspuls_aggregate_projector_restarts_total") >= 1


# CI keeps worker kills: test_aggregate_kafka kills a stalled worker, test_two_workers one of two
@pytest.mark.slow
def test_worker_killed_and_restarted(pg_url: str, stack_on: StackOn, kafka: KafkaEndpoint) -> None:
    stack = stack_on(kafka.bootstrap, pg_url)
    # The group waits out the dead member's session (15 s) before it hands its partitions on.
    survives(stack, lambda: (stack.aggregate.kill(), stack.aggregate.start()), settle=60)


@pytest.mark.slow
def test_broker_paused_for_30_seconds(
    kafka_private: LocalKafka, stack_on: StackOn, sqlite_file: str
) -> None:
    stack = stack_on(kafka_private.bootstrap, sqlite_file)
    assert kafka_private.pid is not None
    survives(stack, lambda: fault.lasting(fault.paused(kafka_private.pid or 0), 30))


@pytest.mark.slow  # CI keeps broker faults: test_up_supervision kills it, test_ingest_faults stalls it
def test_broker_killed_and_restarted(
    kafka_private: LocalKafka, stack_on: StackOn, sqlite_file: str
) -> None:
    stack = stack_on(kafka_private.bootstrap, sqlite_file)
    survives(stack, lambda: fault.crash_and_restart(kafka_private))
