"""Bearer source keys: looked up per request, with a cache of a few seconds at most.

Only keys that verified are cached, keyed by their HMAC (never the plaintext), for
`ingest_key_cache_seconds`: a new key works at once, a revoked one stops working within that time.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine

from services.ingest.keys import hash_key, key_id_of, load_key, matches
from shared.settings import Settings


class KeyVerifier:
    """Maps an `Authorization` header to the source whose active key it carries."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._secret = settings.key_secret.get_secret_value()
        self._ttl = settings.ingest_key_cache_seconds
        self._cache: dict[str, tuple[str, float]] = {}

    async def source_for(self, authorization: str | None) -> str | None:
        """The source of a valid `Bearer sp_…` header, else None."""
        if not authorization:
            return None
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key_id_of(key) is None:
            return None
        digest = hash_key(self._secret, key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        source = await asyncio.to_thread(self._verify, key)
        if source is None:
            self._cache.pop(digest, None)
        elif self._ttl > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (source, now + self._ttl)
        return source

    def _verify(self, key: str) -> str | None:
        key_id = key_id_of(key)
        stored = load_key(self._engine, key_id) if key_id else None
        if stored is None or not matches(self._secret, key, stored):
            return None
        return stored.source
