"""The aggregator's batch pipeline: in order, overlapped by one, released only after applying."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from services.aggregate.pipeline import Pipeline


class Writer:
    """A fake writer whose batches finish only when the test says so, with a log of events."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.started: dict[int, asyncio.Event] = {}
        self.fail: set[int] = set()

    def gate(self, n: int) -> asyncio.Event:
        return self.gates.setdefault(n, asyncio.Event())

    def began(self, n: int) -> asyncio.Event:
        return self.started.setdefault(n, asyncio.Event())

    async def handle(self, batch: Sequence[Any]) -> None:
        n = batch[0]
        self.log.append(("apply", n))
        self.began(n).set()
        await self.gate(n).wait()
        if n in self.fail:
            raise RuntimeError(f"batch {n} failed")
        self.log.append(("applied", n))

    def release(self, batch: Sequence[Any]) -> None:
        self.log.append(("release", batch[0]))


async def _submitted(pipeline: Pipeline, batch: list[int]) -> asyncio.Task[None]:
    """Start a submit and let it run as far as it can."""
    task = asyncio.ensure_future(pipeline.submit(batch))
    for _ in range(5):
        await asyncio.sleep(0)  # yield to the loop: no wall-clock wait
    return task


def test_the_next_batch_is_taken_while_one_is_applied_and_batches_apply_in_order() -> None:
    async def scenario() -> None:
        writer = Writer()
        pipeline = Pipeline(writer.handle, writer.release, depth=1)
        first = await _submitted(pipeline, [1])
        assert first.done()  # handed over: the agent goes back to faust at once
        await writer.began(1).wait()
        assert pipeline.pending == 1
        second = await _submitted(pipeline, [2])
        assert not second.done()  # one batch pending already: the agent waits
        assert ("apply", 2) not in writer.log
        writer.gate(1).set()
        await second
        await writer.began(2).wait()
        writer.gate(2).set()
        await pipeline.drain()
        assert writer.log == [
            ("apply", 1),
            ("applied", 1),
            ("release", 1),
            ("apply", 2),
            ("applied", 2),
            ("release", 2),
        ]
        assert pipeline.pending == 0

    asyncio.run(scenario())


def test_a_failed_batch_stops_every_later_one_and_is_never_released() -> None:
    async def scenario() -> None:
        writer = Writer()
        writer.fail.add(1)
        pipeline = Pipeline(writer.handle, writer.release, depth=2)
        await pipeline.submit([1])
        await pipeline.submit([2])  # depth 2: queued behind the first
        writer.gate(1).set()
        writer.gate(2).set()
        with pytest.raises(RuntimeError, match="batch 1 failed"):
            await pipeline.drain()
        with pytest.raises(RuntimeError, match="batch 1 failed"):
            await pipeline.submit([3])
        assert writer.log == [("apply", 1)]  # nothing applied or released after the failure

    asyncio.run(scenario())


def test_a_cancelled_pipeline_releases_nothing_it_had_not_applied() -> None:
    async def scenario() -> None:
        writer = Writer()
        pipeline = Pipeline(writer.handle, writer.release, depth=1)
        await pipeline.submit([1])
        await writer.began(1).wait()
        await pipeline.cancel()  # the worker stops while the batch is in the writer
        writer.gate(1).set()
        assert ("release", 1) not in writer.log
        assert pipeline.pending == 0

    asyncio.run(scenario())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        Pipeline(Writer().handle, Writer().release, depth=0)
