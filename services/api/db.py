"""A read-only view of the read model's engine.

The shared SQLite engine opens every transaction with `BEGIN IMMEDIATE` (right for writers); a
reader must not take SQLite's one write lock, so the API opens its own engine on the same file with
deferred transactions (one consistent snapshot per request) and `query_only`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def read_only(engine: Engine) -> Engine:
    """An engine for reading the same database; PostgreSQL engines are used as they are."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    reader = create_engine(engine.url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(reader, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(reader, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return reader
