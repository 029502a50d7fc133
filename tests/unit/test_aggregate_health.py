"""The aggregator's readiness rules and its retry of failed batches, without Kafka or SQL."""

from __future__ import annotations

import asyncio

import pytest

from services.aggregate.health import SLOW_BATCH_SECONDS, Health
from services.aggregate.retry import Backoff, until_done

P0, P1 = ("obs", 0), ("obs", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_not_ready_until_assigned_and_caught_up_with_the_assignment() -> None:
    health = Health(clock=Clock())
    assert health.reasons() == ["no partitions assigned yet"]
    generation = health.assign([P0, P1])
    assert health.reasons() == ["reading the end offsets of the assigned partitions"]
    health.set_targets(generation, ends={P0: 50, P1: 10}, applied={P0: 20, P1: 10})
    assert health.reasons() == ["catching up: obs[0] at offset 20 of 50"]
    health.started()
    health.succeeded({P0: 49})
    assert health.reasons() == ["catching up: obs[0] at offset 49 of 50"]
    health.succeeded({P0: 50})
    assert health.reasons() == []


def test_an_assignment_that_gives_nothing_is_not_ready() -> None:
    health = Health(clock=Clock())
    health.set_targets(health.assign([]), ends={}, applied={})
    assert health.reasons() == [
        "owns no partitions of the canonical topic (more workers than partitions?)"
    ]


def test_targets_of_an_older_assignment_are_ignored() -> None:
    health = Health(clock=Clock())
    old = health.assign([P0])
    health.assign([P1])
    health.set_targets(old, ends={P0: 5}, applied={})
    assert health.targets is None


def test_applied_offsets_never_move_backwards() -> None:
    health = Health(clock=Clock())
    health.advance({P0: 30})
    health.advance({P0: 10})
    assert health.applied[P0] == 30


def test_a_failing_batch_makes_it_unready_until_a_batch_applies() -> None:
    clock = Clock()
    health = Health(clock=clock)
    health.set_targets(health.assign([P0]), ends={P0: 0}, applied={})
    health.started()
    health.failed("database is locked")
    clock.now += 42
    health.failed("database is locked")
    assert health.failing
    assert health.reasons() == ["read-model writes failing for 42s, retrying: database is locked"]
    health.succeeded({P0: 1})
    assert not health.failing
    assert health.reasons() == []


def test_a_batch_that_hangs_is_reported() -> None:
    clock = Clock()
    health = Health(clock=clock)
    health.set_targets(health.assign([P0]), ends={P0: 0}, applied={})
    health.started()
    clock.now += SLOW_BATCH_SECONDS + 1
    assert health.reasons() == [f"a batch has been applying for {SLOW_BATCH_SECONDS + 1:.0f}s"]


def test_backoff_grows_to_its_cap() -> None:
    backoff = Backoff(first=0.5, factor=2, cap=3)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_until_done_retries_every_failure_and_returns_the_result() -> None:
    attempts: list[int] = []
    failures: list[tuple[int, str]] = []
    slept: list[float] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise RuntimeError(f"down {len(attempts)}")
        return "applied"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    result = asyncio.run(
        until_done(
            flaky,
            lambda n, e: failures.append((n, str(e))),
            Backoff(first=1, factor=2, cap=10),
            sleep,
        )
    )
    assert result == "applied"
    assert failures == [(1, "down 1"), (2, "down 2"), (3, "down 3")]
    assert slept == [1, 2, 4]


def test_until_done_lets_cancellation_through() -> None:
    async def never() -> None:
        raise RuntimeError("down")

    async def cancelled(seconds: float) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(until_done(never, lambda n, e: None, Backoff(), cancelled))
