"""The limits a PxWeb server sets (cells per query, requests per window) and a pacer that keeps them.

The clock and the sleeper are parameters so that unit tests pace without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.settings import Settings

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class PxWebLimits:
    """How much a PxWeb server allows and how the connector retries (SCB's limits by default)."""

    cells: int = 150_000
    requests: int = 10
    window_seconds: float = 10.0
    retries: int = 3
    backoff_seconds: float = 2.0
    max_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0

    @classmethod
    def of(cls, settings: Settings) -> PxWebLimits:
        """The limits the settings give (`STADSPULS_PXWEB_*`)."""
        return cls(
            cells=settings.pxweb_cell_limit,
            requests=settings.pxweb_requests_per_window,
            window_seconds=settings.pxweb_window_seconds,
            retries=settings.pxweb_retries,
            max_wait_seconds=settings.pxweb_max_wait_seconds,
            timeout_seconds=settings.pxweb_timeout_seconds,
        )

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry `attempt` (0-based): `Retry-After`, else 2, 4, 8 …; bounded."""
        wait = retry_after if retry_after is not None else self.backoff_seconds * 2**attempt
        return min(max(wait, 0.0), self.max_wait_seconds)


class Pacer:
    """At most `requests` starts in any `window` seconds: a sliding window of start times."""

    def __init__(
        self,
        requests: int,
        window: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.requests, self.window = requests, window
        self.clock, self.sleep = clock, sleep
        self.starts: deque[float] = deque()

    async def wait(self) -> None:
        """Return when one more request may start, and count it."""
        while True:
            now = self.clock()
            while self.starts and self.starts[0] + self.window <= now:
                self.starts.popleft()
            if len(self.starts) < self.requests:
                self.starts.append(now)
                return
            await self.sleep(self.starts[0] + self.window - now)
            # The oldest start has left the window now, whatever rounding the clock does.
            self.starts.popleft()
