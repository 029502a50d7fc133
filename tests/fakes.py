"""Recording fakes of ingest's ports (`services/ingest/ports.py`), for unit tests without Kafka or SQL.

Like arroyo's `LocalBroker` and httpx's `MockTransport`, they keep what they were given so a test
can look, and fail when told to, the way the real adapter would; the integration tests run the
same code on real Kafka and a real database. `IngestRig` is the unit tests' composition root: an
`IngestService` wired to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy.exc import OperationalError

from services.ingest.formats import CSV, JSON, BodyForm
from services.ingest.idempotency import (
    PENDING,
    RELEASED,
    Claim,
    Claimed,
    InProgress,
    Replay,
    Reused,
)
from services.ingest.metrics import IngestMetrics
from services.ingest.outcomes import BatchOutcome, IngestReport, Judged
from services.ingest.ports import KafkaUnavailableError, PublishOutcomeUnknownError, Record
from services.ingest.service import IngestService
from shared.settings import Settings
from tests.factories import NOW, SCHOOL, ingest_catalog

Failure = Literal["not_accepted", "unknown"]
#: Settings of unit tests: own topic names, a short publish timeout, nothing read from the environment.
UNIT_SETTINGS = Settings(_env_file=None, topic_prefix="unit.", ingest_publish_timeout_seconds=3.0)


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
class _KeyRecord:
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
        self.entries: dict[tuple[str, str], _KeyRecord] = {}
        self.lease = lease
        self.unavailable = False

    async def claim(self, source: str, key: str, request_hash: str, now: datetime) -> Claim:
        """Claim `key`, or say why not."""
        if self.unavailable:
            raise OperationalError("claim", {}, ConnectionError("told to be down"))
        entry = self.entries.get((source, key))
        if entry is None:
            self.entries[(source, key)] = _KeyRecord(request_hash, PENDING, {}, now, now)
            return Claimed(now, now)
        if entry.request_hash != request_hash:
            return Reused()
        if entry.status_code == RELEASED:
            entry.status_code, entry.token = PENDING, now
            return Claimed(now, entry.received_at)
        if entry.status_code == PENDING:
            return InProgress((entry.token + self.lease - now).total_seconds())
        return Replay(entry.status_code, dict(entry.response))

    def _owned(self, source: str, key: str, token: datetime) -> _KeyRecord | None:
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


class SteppingClock:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class IngestRig:
    """An `IngestService` on the test catalog, wired to the fakes, with helpers to look at them."""

    def __init__(self, settings: Settings = UNIT_SETTINGS) -> None:
        self.publisher = RecordingPublisher()
        self.keys = MemoryIdempotency()
        self.metrics = IngestMetrics()
        self.clock = SteppingClock()
        self.topic = settings.topic("observations.v1")
        self.service = IngestService(
            settings, ingest_catalog(), self.publisher, self.keys, self.metrics, self.clock
        )

    async def ingest(
        self,
        body: bytes,
        *,
        source: str = SCHOOL,
        key: str | None = None,
        csv: bool = False,
        form: BodyForm | None = None,
        dry_run: bool = False,
        atomic: bool = False,
    ) -> BatchOutcome:
        """Ingest one batch, on the running loop (`csv=True`: UTF-8 CSV; `form`: any other)."""
        form = form or (CSV if csv else JSON)
        return await self.service.ingest(
            source, body, form=form, dry_run=dry_run, atomic=atomic, idempotency_key=key
        )

    def send(self, body: bytes, **options: Any) -> BatchOutcome:
        """Ingest one batch (options as `ingest`)."""
        return asyncio.run(self.ingest(body, **options))

    def judged(self, body: bytes, **options: Any) -> IngestReport:
        """The report of a batch that must be judged."""
        outcome = self.send(body, **options)
        assert isinstance(outcome, Judged), outcome
        return outcome.report

    def sample(self, name: str, **labels: str) -> float:
        """A metric's value (0 when absent)."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def batches(self, source: str, outcome: str) -> float:
        """The batches counted with `outcome`."""
        return self.sample("stadspuls_ingest_batches_total", source=source, outcome=outcome)

    def events(self) -> list[dict[str, Any]]:
        """The acknowledged events of the canonical topic."""
        return [orjson.loads(value or b"") for _, value, _ in self.publisher.records(self.topic)]
