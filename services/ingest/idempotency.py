"""Idempotency-Key records in SQL, so a repeat returns the first answer even after a restart.

A request first *claims* its (source, key) with a pending row (status 0) whose `created_at` is the
claim's token: only its owner completes or releases it. The final answer (202 or 422) replaces it.
A failed request releases it: deleted when nothing can have reached Kafka, else kept as *released*
(status 1) so that only the same request may claim it again — the observation ids derive from the
key, so another body under that key would collide with rows Kafka may hold. A pending claim older
than the lease belongs to a request that died (or could not release it) and may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.db.schema import idempotency_records as records
from shared.domain.observation import as_utc as _aware

PENDING = 0
RELEASED = 1
#: An answered record keeps the HTTP status of its first answer: 202 when rows were accepted, 422
#: when none was (no other answer is kept).
ACCEPTED = 202
REJECTED = 422


@dataclass(frozen=True)
class Claimed:
    """This request owns the key: process it, then `complete` or `release` with this token."""

    token: datetime
    #: when the first attempt of this same request was received, if one may have reached Kafka:
    #: the retry reuses it, so its events are byte-identical repeats of the first attempt's
    received_at: datetime | None = None


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
    """Another request holds the key; its claim lapses after `seconds` at the latest."""

    seconds: float


Claim = Claimed | Replay | Reused | InProgress


class IdempotencyStore:
    """Claims, answers and expiry of idempotency records (synchronous; run in a thread)."""

    def __init__(self, engine: Engine, *, ttl: timedelta, lease: timedelta) -> None:
        self.engine, self.ttl, self.lease = engine, ttl, lease

    def _key(self, source: str, key: str) -> Any:
        return and_(records.c.source == source, records.c.idempotency_key == key)

    def _owned(self, source: str, key: str, token: datetime) -> Any:
        return and_(
            self._key(source, key),
            records.c.status_code == PENDING,
            records.c.created_at == token.astimezone(UTC),
        )

    def claim(self, source: str, key: str, request_hash: str, now: datetime) -> Claim:
        """Claim `key` for this request (the token is `now`), or say why not."""
        now = now.astimezone(UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(records).values(
                        source=source,
                        idempotency_key=key,
                        request_hash=request_hash,
                        status_code=PENDING,
                        response={"received_at": now.isoformat()},
                        created_at=now,
                    )
                )
            return Claimed(now, now)
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(select(records).where(self._key(source, key))).first()
            if row is None:  # deleted in between: the claim is free again
                return self.claim(source, key, request_hash, now)
            created = _aware(row.created_at)
            expires = created + (self.lease if row.status_code == PENDING else self.ttl)
            same = row.request_hash == request_hash
            if expires <= now or (same and row.status_code == RELEASED):
                # the same request again keeps the first attempt's received_at (its events)
                first = (row.response or {}).get("received_at") if same else None
                received = datetime.fromisoformat(first) if first else now
                taken = conn.execute(
                    update(records)
                    .where(
                        self._key(source, key),
                        records.c.created_at == row.created_at,
                        records.c.status_code == row.status_code,
                    )
                    .values(
                        request_hash=request_hash,
                        status_code=PENDING,
                        response={"received_at": received.isoformat()},
                        created_at=now,
                    )
                )
                if taken.rowcount != 1:
                    return InProgress(1.0)
                return Claimed(now, received)
            if not same:
                return Reused()
            if row.status_code == PENDING:
                return InProgress((expires - now).total_seconds())
            return Replay(row.status_code, dict(row.response))

    def complete(
        self,
        source: str,
        key: str,
        token: datetime,
        status_code: int,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        """Store the final answer of the claim `token` (unless another request took it over)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(records)
                .where(self._owned(source, key, token))
                .values(status_code=status_code, response=response, created_at=now.astimezone(UTC))
            )

    def release(
        self, source: str, key: str, token: datetime, now: datetime, *, bound: bool
    ) -> None:
        """Give up the claim `token`; `bound` keeps the key (and the first attempt's received_at)
        for this same request until the TTL."""
        with self.engine.begin() as conn:
            if bound:
                conn.execute(
                    update(records)
                    .where(self._owned(source, key, token))
                    .values(status_code=RELEASED, created_at=now.astimezone(UTC))
                )
            else:
                conn.execute(delete(records).where(self._owned(source, key, token)))

    def purge(self, now: datetime) -> int:
        """Delete answers (and released keys) older than the TTL; return how many."""
        cutoff = now.astimezone(UTC) - self.ttl
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(records).where(
                    records.c.created_at < cutoff, records.c.status_code != PENDING
                )
            )
        return result.rowcount
