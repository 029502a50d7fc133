"""Idempotency-Key writes that outlive a database fault: kept in memory and retried.

A request's answer (or release of its key) that the database refused is kept; it is retried before
the next claim of the same key and every second in the background, so once the database is back a
retry finds the stored answer or a free key instead of a pending claim. After a restart the kept
writes are gone and the claim's short lease frees the key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from services.ingest.idempotency import Claim, IdempotencyStore

log = logging.getLogger(__name__)
Write = tuple[str, Callable[[], None]]  # operation, the write


class IdempotencyLedger:
    """The store as requests use it: a write the database refused is kept and retried."""

    def __init__(self, store: IdempotencyStore, failures: Counter, *, limit: int = 10_000) -> None:
        self.store, self.failures, self.limit = store, failures, limit
        self._deferred: dict[tuple[str, str], list[Write]] = {}

    @property
    def deferred(self) -> int:
        """How many writes wait for the database."""
        return sum(len(writes) for writes in self._deferred.values())

    async def claim(self, source: str, key: str, request_hash: str, now: datetime) -> Claim:
        """Claim `key` (see `IdempotencyStore.claim`); raises `SQLAlchemyError` when the database fails."""
        await self._replay_deferred((source, key))
        try:
            return await asyncio.to_thread(self.store.claim, source, key, request_hash, now)
        except SQLAlchemyError:
            self.failures.labels("claim").inc()
            # The insert may have committed before the error: free the key once the database is back.
            self._defer(
                (source, key),
                "release",
                partial(self.store.release, source, key, now, now, bound=False),
            )
            raise

    async def complete(
        self,
        source: str,
        key: str,
        token: datetime,
        status_code: int,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        """Store the answer of claim `token`; if the database refuses, keep it and retry later."""
        await self._write(
            (source, key),
            "complete",
            partial(self.store.complete, source, key, token, status_code, response, now),
        )

    async def release(
        self, source: str, key: str, token: datetime, now: datetime, *, bound: bool
    ) -> None:
        """Give up claim `token` (see `IdempotencyStore.release`); retried later if the database refuses."""
        await self._write(
            (source, key),
            "release",
            partial(self.store.release, source, key, token, now, bound=bound),
        )

    async def flush(self) -> None:
        """Retry the kept writes, oldest key first, until one fails."""
        for item in list(self._deferred):
            if not await self._replay_deferred(item):
                return

    async def _write(
        self, item: tuple[str, str], operation: str, write: Callable[[], None]
    ) -> None:
        if await self._replay_deferred(item):
            try:
                await asyncio.to_thread(write)
                return
            except SQLAlchemyError as exc:
                self.failures.labels(operation).inc()
                log.warning(
                    "idempotency %s for source %s failed, kept for retry: %s",
                    operation,
                    item[0],
                    type(exc).__name__,
                )
        self._defer(item, operation, write)

    def _defer(self, item: tuple[str, str], operation: str, write: Callable[[], None]) -> None:
        if self.deferred >= self.limit:  # the lease frees the keys whose writes are dropped
            oldest = next(iter(self._deferred))
            log.warning("dropping %d kept idempotency writes", len(self._deferred.pop(oldest)))
        self._deferred.setdefault(item, []).append((operation, write))

    async def _replay_deferred(self, item: tuple[str, str]) -> bool:
        """Apply the kept writes of one key in order; False if the database still refuses."""
        writes = self._deferred.get(item, [])
        while writes:
            operation, write = writes[0]
            try:
                await asyncio.to_thread(write)
            except SQLAlchemyError:
                self.failures.labels(operation).inc()
                return False
            writes.pop(0)
        self._deferred.pop(item, None)
        return True
