"""The ports of ingest: what its paths need of the log they publish to and of the idempotency store.

`publisher.KafkaPublisher` and `idempotency_ledger.IdempotencyLedger` are the real adapters, wired
by `app.py`; `tests/fakes.py` has recording fakes for unit tests. A publisher either returns once
the log acknowledged every record of a call or raises one of the two errors below, which say
whether anything can have been written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.ingest.idempotency import Claim

Header = tuple[str, bytes]
#: key, value, headers (a list: aiokafka insists)
Record = tuple[bytes | None, bytes | None, list[Header]]


class KafkaUnavailableError(Exception):
    """Kafka did not acknowledge in time, and no record was handed to it: nothing was accepted."""


class PublishOutcomeUnknownError(KafkaUnavailableError):
    """Kafka did not acknowledge in time (or refused), but the records were sent: some may be in."""


class Publisher(Protocol):
    """Publishes records to a topic and returns only once every one of them is durable."""

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Send `records` to `topic`; return once all are acknowledged, else raise (see above)."""

    async def ping(self, seconds: float = 2.0) -> bool:
        """Whether the log answers now."""

    async def start(self) -> None:
        """Connect if the log is there; never raises (a later publish connects)."""

    async def stop(self) -> None:
        """Finish what is pending and disconnect."""


class IdempotencyKeys(Protocol):
    """Claims and answers of Idempotency-Keys (see `services.ingest.idempotency`).

    `claim` raises `sqlalchemy.exc.SQLAlchemyError` when the store cannot be used; `complete` and
    `release` never fail the request (a write the store refuses is kept and retried).
    """

    async def claim(self, source: str, key: str, request_hash: str, now: datetime) -> Claim:
        """Claim `key` for the request of `request_hash`, or say why not."""

    async def complete(
        self,
        source: str,
        key: str,
        token: datetime,
        status_code: int,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        """Store the answer of claim `token`."""

    async def release(
        self, source: str, key: str, token: datetime, now: datetime, *, bound: bool
    ) -> None:
        """Give up claim `token`; `bound` keeps the key for the same request."""
