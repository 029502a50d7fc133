"""Recording fakes of ingest's ports (`services/ingest/ports.py`), for unit tests without Kafka or SQL.

Like arroyo's `LocalBroker` and httpx's `MockTransport`, they keep what they were given so a test
can look, and fail when told to, the way the real adapter would; the integration tests run the
same code on real Kafka and a real database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import OperationalError

from services.ingest.idempotency import (
    PENDING,
    RELEASED,
    Claim,
    Claimed,
    InProgress,
    Replay,
    Reused,
)
from services.ingest.ports import KafkaUnavailableError, PublishOutcomeUnknownError, Record

Failure = Literal["not_accepted", "unknown"]


class RecordingPublisher:
    """A publisher that keeps every call; told to, the next calls fail as Kafka's can.

    `attempts` has every non-empty call, `published` those that were acknowledged. A call that
    fails with `unknown` was sent (it is in `attempts`) but not acknowledged; one that fails with
    `not_accepted` never left. While `gate` is set to an unset event, calls wait for it.
    """

    def __init__(self) -> None:
        self.attempts: list[tuple[str, list[Record]]] = []
        self.published: list[tuple[str, list[Record]]] = []
        self.failures: list[Failure | BaseException] = []
        self.gate: asyncio.Event | None = None
        self.reachable = True
        self.started = self.stopped = False

    def fail_next(self, *failures: Failure | BaseException) -> None:
        """Make the next calls fail, one failure each, in this order."""
        self.failures.extend(failures)

    def records(self, topic: str) -> list[Record]:
        """Every acknowledged record of `topic`, in order."""
        return [record for name, records in self.published if name == topic for record in records]

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Keep `records`, or fail as told."""
        if not records:
            return
        if self.gate is not None:
            await self.gate.wait()
        failure = self.failures.pop(0) if self.failures else None
        if failure == "not_accepted":
            raise KafkaUnavailableError("told to fail: no record was sent")
        self.attempts.append((topic, list(records)))
        if failure == "unknown":
            raise PublishOutcomeUnknownError("told to fail: sent, not acknowledged")
        if isinstance(failure, BaseException):
            raise failure
        self.published.append((topic, list(records)))

    async def ping(self, seconds: float = 2.0) -> bool:
        """Whether the fake is told to be reachable."""
        return self.reachable

    async def start(self) -> None:
        """Note the start."""
        self.started = True

    async def stop(self) -> None:
        """Note the stop."""
        self.stopped = True


@dataclass
class _Entry:
    request_hash: str
    status_code: int
    response: dict[str, Any]
    token: datetime
    received_at: datetime


class MemoryIdempotency:
    """Idempotency-Key records in a dict, answering as `IdempotencyStore` does (without expiry).

    `unavailable` makes claims fail as a database that is down does.
    """

    def __init__(self, lease: timedelta = timedelta(seconds=15)) -> None:
        self.entries: dict[tuple[str, str], _Entry] = {}
        self.lease = lease
        self.unavailable = False

    async def claim(self, source: str, key: str, request_hash: str, now: datetime) -> Claim:
        """Claim `key`, or say why not."""
        if self.unavailable:
            raise OperationalError("claim", {}, ConnectionError("told to be down"))
        entry = self.entries.get((source, key))
        if entry is None:
            self.entries[(source, key)] = _Entry(request_hash, PENDING, {}, now, now)
            return Claimed(now, now)
        if entry.request_hash != request_hash:
            return Reused()
        if entry.status_code == RELEASED:
            entry.status_code, entry.token = PENDING, now
            return Claimed(now, entry.received_at)
        if entry.status_code == PENDING:
            return InProgress((entry.token + self.lease - now).total_seconds())
        return Replay(entry.status_code, dict(entry.response))

    def _owned(self, source: str, key: str, token: datetime) -> _Entry | None:
        entry = self.entries.get((source, key))
        if entry is None or entry.status_code != PENDING or entry.token != token:
            return None
        return entry

    async def complete(
        self,
        source: str,
        key: str,
        token: datetime,
        status_code: int,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        """Keep the answer of claim `token`."""
        entry = self._owned(source, key, token)
        if entry is not None:
            entry.status_code, entry.response = status_code, response

    async def release(
        self, source: str, key: str, token: datetime, now: datetime, *, bound: bool
    ) -> None:
        """Give up claim `token`: kept for the same request when `bound`, else forgotten."""
        entry = self._owned(source, key, token)
        if entry is None:
            return
        if bound:
            entry.status_code = RELEASED
        else:
            del self.entries[(source, key)]
