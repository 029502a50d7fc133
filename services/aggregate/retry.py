"""Retrying a batch until the read model takes it: never give up, never skip, back off."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential delays between attempts: first, first·factor, … up to cap (seconds)."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 15.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1, 2, …)."""
        return float(min(self.cap, self.first * self.factor ** max(0, attempt - 1)))


async def until_done(
    call: Callable[[], Awaitable[T]],
    on_failure: Callable[[int, Exception], None],
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await `call()` until it succeeds; report each failure and wait before the next attempt.

    A batch that is skipped is lost (its offsets would be committed behind it), so there is no
    attempt limit: a failure that lasts is made visible (readiness, metrics, alert) instead.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            attempt += 1
            on_failure(attempt, exc)
            await sleep(backoff.delay(attempt))
