"""Overlapping faust's work on the next batch with the writer's work on this one, in order.

Without it the agent takes a batch, waits for the writer to commit it, and only then lets faust
fetch and decode the next: faust and the writer take turns, and each waits on the other. With it
the agent hands a batch to the pipeline and goes back to faust at once; the pipeline applies
batches strictly one after another, in the order they were taken, and at most `depth` batches are
waiting or being applied while faust gathers the next.

The offsets guarantee does not move. A batch's messages are held back from faust's acks when it is
handed over (`hold_back`), and released (`release`) only after its handler returned, i.e. after its
transaction committed and its dead letters were delivered. A batch that fails stops the pipeline:
no later batch is applied or released, and the next `submit` raises the failure, so the agent
stops; the held-back offsets are never committed and the group delivers those messages again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Handler = Callable[[Sequence[Any]], Awaitable[None]]
Release = Callable[[Sequence[Any]], None]


class Pipeline:
    """Apply batches in the order they are submitted, at most `depth` of them pending at a time."""

    def __init__(self, handle: Handler, release: Release, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth: must be at least 1, got {depth}")
        self._handle = handle
        self._release = release
        self._depth = depth
        self._pending: list[asyncio.Task[None]] = []  # oldest first

    @property
    def pending(self) -> int:
        """Batches handed over and not yet applied (waiting or being applied)."""
        return sum(1 for task in self._pending if not task.done())

    async def submit(self, batch: Sequence[Any]) -> None:
        """Queue a batch behind the ones before it; wait while `depth` batches are pending.

        Raises the failure of an earlier batch: nothing after it may be applied.
        """
        while True:
            self._forget_done()
            if len([t for t in self._pending if not t.done()]) < self._depth:
                break
            await asyncio.wait([self._pending[0]])
        previous = self._pending[-1] if self._pending else None
        self._pending.append(asyncio.ensure_future(self._run(previous, batch)))

    async def _run(self, previous: asyncio.Task[None] | None, batch: Sequence[Any]) -> None:
        if previous is not None:
            await asyncio.shield(previous)  # its failure is ours: this batch must not overtake it
        await self._handle(batch)
        self._release(batch)

    def _forget_done(self) -> None:
        """Drop finished batches from the front; re-raise the first failure."""
        while self._pending and self._pending[0].done():
            task = self._pending[0]
            if task.cancelled() or task.exception() is not None:
                # keep it: every later submit raises too, and no later batch runs
                task.result()
            self._pending.pop(0)

    async def drain(self) -> None:
        """Wait until every batch handed over is applied (raises the first failure)."""
        while self._pending:
            await asyncio.wait([self._pending[-1]])
            self._forget_done()

    async def cancel(self) -> None:
        """Stop waiting for the pending batches (the worker stops): none of them is released."""
        tasks, self._pending = self._pending, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
