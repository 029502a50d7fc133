"""The limits of the HTTP servers, and the rate-limited report of connections refused at them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger("stadspuls.http")


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP server process allows its clients."""

    max_header_bytes: int = 32 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: int = 5
    max_connections: int = 1000
    retry_after: int = 5
    max_requests_per_connection: int = 0  # 0: a kept-alive connection serves any number


class RefusalLog:
    """Connections refused at the limit, reported in at most one line per `every` seconds."""

    def __init__(self, limit: int, every: float = 60.0) -> None:
        self.limit = limit
        self.every = every
        self.unreported = 0
        self.quiet_until: float | None = None  # after a line, the next one waits until then

    def refused(self, now: float) -> str | None:
        """Count one refused connection; the line to log now, if one is due."""
        self.unreported += 1
        if self.quiet_until is not None and now < self.quiet_until:
            return None
        if self.quiet_until is not None:  # the episode goes on (its report came late)
            return self.due(now)
        self.unreported, self.quiet_until = 0, now + self.every
        return (
            f"connection limit reached: {self.limit} connections open, new ones are answered 503"
            f" (STADSPULS_HTTP_MAX_CONNECTIONS={self.limit})"
        )

    def due(self, now: float) -> str | None:
        """At the end of a quiet period: the line for the refusals it held back, if any."""
        if not self.unreported:
            self.quiet_until = None
            return None
        count, self.unreported, self.quiet_until = self.unreported, 0, now + self.every
        return (
            f"connection limit still reached: {count} more connections answered 503"
            f" in the last {self.every:.0f} s"
        )


@dataclass
class ConnectionGate:
    """What the connections of one server share: refusals to report, refusals closing."""

    refusals: RefusalLog
    lingering: int = 0
    report: asyncio.TimerHandle | None = field(default=None, repr=False)

    def refused(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count one refused connection and log about it if a line is due."""
        line = self.refusals.refused(loop.time())
        if line is not None:
            log.warning(line)
            self._report_later(loop)

    def _report_later(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.report is None and self.refusals.quiet_until is not None:
            self.report = loop.call_at(self.refusals.quiet_until, self._report, loop)

    def _report(self, loop: asyncio.AbstractEventLoop) -> None:
        self.report = None
        line = self.refusals.due(loop.time())
        if line is not None:
            log.warning(line)
            self._report_later(loop)
