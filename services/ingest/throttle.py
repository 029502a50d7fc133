"""Abuse limits per source: a token bucket of requests and one of rows, per source, per replica.

Each bucket holds a minute's budget and refills continuously at that budget per minute, so a
source may burst up to a minute's worth and then goes at the steady rate. The buckets live in the
ingest replica: the worker processes of one replica (`STADSPULS_INGEST_WORKERS`) share them
through a file they all map (`SharedBuckets`), so a source gets its budget per replica whichever
worker answers it; with N replicas it may get up to N times its budget.
Written here rather than taken from a library because the answer needs "seconds until n tokens"
for `Retry-After`, with n the batch's rows; window counters (`limits`) do not give that.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.domain.catalog import Catalog
from shared.production import RefusedToStartError
from shared.settings import Settings

REQUESTS = "requests_per_minute"
ROWS = "rows_per_minute"


class TokenBucket:
    """`per_minute` tokens at most, refilled at `per_minute` a minute; starts full."""

    def __init__(self, per_minute: int, now: float, tokens: float | None = None) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity if tokens is None else tokens
        self.at = now

    def take(self, n: int, now: float) -> float:
        """Take `n` tokens and return 0, or take none and return the seconds until `n` are there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = max(self.at, now)
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


#: One shared bucket: its tokens and when they were counted (`time.monotonic`, one clock for every
#: process of the machine); a bucket never taken from reads (0, 0) and starts full.
_SLOT = struct.Struct("=dd")


class SharedBuckets:
    """The buckets `names` in a file every worker of a replica maps, taken under a file lock.

    A take reads the bucket, refills and takes as `TokenBucket` does, and writes it back, all
    under `flock` (between processes) and a thread lock (between the threads of one process,
    which share the file's lock). The file is the replica's: made empty when it starts.
    """

    def __init__(self, path: Path, names: Sequence[tuple[str, str]]) -> None:
        self._slots = {name: i * _SLOT.size for i, name in enumerate(names)}
        size = _SLOT.size * max(1, len(names))
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < size:  # the first worker sizes it; zeros: untouched
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        self._lock = threading.Lock()

    def __contains__(self, name: tuple[str, str]) -> bool:
        return name in self._slots

    def take(self, name: tuple[str, str], per_minute: int, n: int, now: float) -> float:
        """`TokenBucket.take` on the shared bucket `name` (one of `names`)."""
        offset = self._slots[name]
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                tokens, at = _SLOT.unpack_from(self._map, offset)
                bucket = TokenBucket(per_minute, at or now, tokens if at else None)
                wait = bucket.take(n, now)
                _SLOT.pack_into(self._map, offset, bucket.tokens, bucket.at)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return wait

    def close(self) -> None:
        """Unmap the file."""
        self._map.close()
        os.close(self._fd)


def shared_names(catalog: Catalog) -> list[tuple[str, str]]:
    """The buckets of every catalog source, in one order for every worker."""
    return [(source, limit) for source in sorted(catalog.source) for limit in (REQUESTS, ROWS)]


@dataclass(frozen=True, slots=True)
class Throttled:
    """A request over a source's budget: which limit, its size, and when to retry (None: never)."""

    source: str
    limit: str
    per_minute: int
    asked: int
    retry_after: float | None

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for `Retry-After`: enough budget by then, at least 1."""
        return str(max(1, math.ceil(self.retry_after or 0)))


class SourceThrottle:
    """The request and row buckets of every source, each sized by its budget (0 = unlimited)."""

    def __init__(
        self,
        budgets: dict[str, dict[str, int]],
        defaults: dict[str, int],
        clock: Callable[[], float] = time.monotonic,
        shared: SharedBuckets | None = None,
    ) -> None:
        self._budgets, self._defaults, self._clock = budgets, defaults, clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._shared = shared

    def budget(self, source: str, limit: str) -> int:
        """The per-minute budget of `source` for `limit`."""
        return self._budgets.get(source, {}).get(limit, self._defaults[limit])

    def request(self, source: str) -> Throttled | None:
        """Count one request of `source`; the refusal when it is over its request budget."""
        return self._take(source, REQUESTS, 1)

    def rows(self, source: str, n: int) -> Throttled | None:
        """Count `n` rows of `source`; the refusal when over budget (`retry_after` None: never fits)."""
        return self._take(source, ROWS, n)

    def _take(self, source: str, limit: str, n: int) -> Throttled | None:
        per_minute = self.budget(source, limit)
        if per_minute == 0:
            return None
        if n > per_minute:
            return Throttled(source, limit, per_minute, n, None)
        now = self._clock()
        if self._shared is not None and (source, limit) in self._shared:
            wait = self._shared.take((source, limit), per_minute, n, now)
            return Throttled(source, limit, per_minute, n, wait) if wait else None
        bucket = self._buckets.get((source, limit))
        if bucket is None:
            bucket = self._buckets[(source, limit)] = TokenBucket(per_minute, now)
        wait = bucket.take(n, now)
        return Throttled(source, limit, per_minute, n, wait) if wait else None


def source_throttle(
    settings: Settings,
    catalog: Catalog,
    clock: Callable[[], float] = time.monotonic,
    shared: Path | None = None,
) -> SourceThrottle:
    """The throttle the settings describe (its buckets in the file `shared`, if given, which the
    other workers of the replica map too); refuses overrides that name a source the catalog
    lacks."""
    unknown = sorted(set(settings.ingest_source_limits) - set(catalog.source))
    if unknown:
        raise RefusedToStartError(
            [f"{source!r} is not a catalog source" for source in unknown],
            "STADSPULS_INGEST_SOURCE_LIMITS names unknown sources"
            f" (the catalog has: {', '.join(catalog.source)}):",
        )
    defaults = {
        REQUESTS: settings.ingest_requests_per_minute,
        ROWS: settings.ingest_rows_per_minute,
    }
    budgets = {
        source: limit.model_dump(exclude_none=True)
        for source, limit in settings.ingest_source_limits.items()
    }
    buckets = SharedBuckets(shared, shared_names(catalog)) if shared is not None else None
    return SourceThrottle(budgets, defaults, clock, buckets)
