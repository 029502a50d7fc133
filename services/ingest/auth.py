"""Bearer source keys: looked up per request, with a cache of a few seconds at most.

Only keys that verified are cached, keyed by their HMAC (never the plaintext), for
`ingest_key_cache_seconds`: a new key works at once, a revoked one stops working within that time.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from services.ingest.keys import key_id_of, load_key, matches
from shared.settings import Settings
from shared.tokens import VerifiedCache, bearer, hash_key


class KeyVerifier:
    """Maps an `Authorization` header to the source whose active key it carries."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._secret = settings.key_secret.get_secret_value()
        self._cache = VerifiedCache[str](settings.ingest_key_cache_seconds)

    async def source_for(self, authorization: str | None) -> str | None:
        """The source of a valid `Bearer sp_…` header, else None."""
        key = bearer(authorization)
        if key is None or key_id_of(key) is None:
            return None
        digest = hash_key(self._secret, key)
        source = self._cache.get(digest)
        if source is None:
            source = await asyncio.to_thread(self._verify, key)
            self._cache.put(digest, source)
        return source

    def _verify(self, key: str) -> str | None:
        key_id = key_id_of(key)
        stored = load_key(self._engine, key_id) if key_id else None
        if stored is None or not matches(self._secret, key, stored):
            return None
        return stored.source
