"""Bearer secrets stored hashed: source keys (ingest) and reader tokens (the read API).

A secret is stored only as HMAC-SHA256 under the server's `key_secret` (the pepper), compared in
constant time, and a verified one is trusted for a few seconds at most (`VerifiedCache`), keyed by
its hash, never by the plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Generic, TypeVar

HASH_SCHEME = "hmac-sha256"
_MAX_CACHED = 10_000

T = TypeVar("T")


def hash_key(secret: str, key: str) -> str:
    """The stored form of `key`: `hmac-sha256:<hex>` keyed by the server secret."""
    digest = hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()
    return f"{HASH_SCHEME}:{digest}"


def same_hash(secret: str, key: str, stored_hash: str) -> bool:
    """Whether `key` hashes to `stored_hash` (constant-time)."""
    return hmac.compare_digest(hash_key(secret, key), stored_hash)


def bearer(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer …` header, else None."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


class VerifiedCache(Generic[T]):
    """What verified secrets resolved to, by hash, for `ttl` seconds (0: nothing is kept)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[T, float]] = {}

    def get(self, digest: str) -> T | None:
        """The value of a secret verified less than `ttl` seconds ago."""
        found = self._items.get(digest)
        return found[0] if found is not None and found[1] > time.monotonic() else None

    def put(self, digest: str, value: T | None) -> None:
        """Remember a verified secret's value; None forgets it."""
        if value is None:
            self._items.pop(digest, None)
        elif self.ttl > 0:
            if len(self._items) > _MAX_CACHED:
                self._items.clear()
            self._items[digest] = (value, time.monotonic() + self.ttl)
