"""Idempotency-Key records in SQL, so a repeat returns the first answer even after a restart.

A request first *claims* its (source, key) with a pending row (status 0). The final answer
(202 or 422) replaces it; a 503 releases it so the source's retry is processed afresh. A pending
claim older than the lease belongs to a request that died, and may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.schema import idempotency_records as records

PENDING = 0


@dataclass(frozen=True)
class Claimed:
    """This request owns the key: process it, then `complete` or `release`."""


@dataclass(frozen=True)
class Replay:
    """The key was answered before: send this again."""

    status_code: int
    response: dict[str, Any]


@dataclass(frozen=True)
class Reused:
    """The key was used with a different request."""


@dataclass(frozen=True)
class InProgress:
    """Another request with this key is being processed right now."""


Claim = Claimed | Replay | Reused | InProgress


class IdempotencyStore:
    """Claims, answers and expiry of idempotency records (synchronous; run in a thread)."""

    def __init__(self, engine: Engine, *, ttl: timedelta, lease: timedelta) -> None:
        self.engine, self.ttl, self.lease = engine, ttl, lease

    def _key(self, source: str, key: str) -> Any:
        return and_(records.c.source == source, records.c.idempotency_key == key)

    def claim(self, source: str, key: str, request_hash: str, now: datetime) -> Claim:
        """Claim `key` for this request, or say why not."""
        now = now.astimezone(UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(records).values(source=source, idempotency_key=key, request_hash=request_hash,
                                                    status_code=PENDING, response={}, created_at=now))  # fmt: skip
            return Claimed()
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(select(records).where(self._key(source, key))).first()
            if row is None:  # deleted in between: the claim is free again
                return self.claim(source, key, request_hash, now)
            created = _aware(row.created_at)
            stale = now - (self.lease if row.status_code == PENDING else self.ttl)
            if created < stale:
                taken = conn.execute(
                    update(records)
                    .where(self._key(source, key), records.c.created_at == row.created_at)
                    .values(
                        request_hash=request_hash, status_code=PENDING, response={}, created_at=now
                    )
                )
                return Claimed() if taken.rowcount == 1 else InProgress()
            if row.request_hash != request_hash:
                return Reused()
            if row.status_code == PENDING:
                return InProgress()
            return Replay(row.status_code, dict(row.response))

    def complete(
        self, source: str, key: str, status_code: int, response: dict[str, Any], now: datetime
    ) -> None:
        """Store the final answer of a claimed key."""
        with self.engine.begin() as conn:
            conn.execute(update(records).where(self._key(source, key))
                         .values(status_code=status_code, response=response, created_at=now.astimezone(UTC)))  # fmt: skip

    def release(self, source: str, key: str) -> None:
        """Give up a claim (the request failed in a way the source should retry)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(records).where(self._key(source, key), records.c.status_code == PENDING)
            )

    def purge(self, now: datetime) -> int:
        """Delete answers older than the TTL; return how many."""
        cutoff = now.astimezone(UTC) - self.ttl
        with self.engine.begin() as conn:
            result = conn.execute(delete(records).where(records.c.created_at < cutoff,
                                                        records.c.status_code != PENDING))  # fmt: skip
        return result.rowcount


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every value we store is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
