"""A read-only view of the read model's engine.

The shared SQLite engine opens every transaction with `BEGIN IMMEDIATE` (right for writers); a
reader must not take SQLite's one write lock, so the API opens its own engine on the same file with
deferred transactions (one consistent snapshot per request) and `query_only`.
"""

from __future__ import annotations

from sqlalchemy import Engine

from shared.db.engine import make_engine


def read_only(engine: Engine) -> Engine:
    """An engine for reading the same database; PostgreSQL engines are used as they are."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    return make_engine(engine.url, read_only=True)
