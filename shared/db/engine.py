"""Engines for the read model, and schema upgrades through Alembic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
WRITER_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")


def make_engine(
    url: str | URL, *, read_only: bool = False, pragmas: Sequence[str] = (), **kwargs: Any
) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys (`pragmas` given
    instead of those of the same name, and after them).

    A `read_only` SQLite engine instead opens deferred transactions (one consistent snapshot each)
    with `query_only`, so that a reader never takes SQLite's one write lock.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
    named = {pragma.split("=")[0] for pragma in pragmas}  # a pragma given replaces the default
    defaults = ("query_only=ON",) if read_only else WRITER_PRAGMAS
    pragmas = (*(p for p in defaults if p.split("=")[0] not in named), *pragmas)
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Python's sqlite3 opens transactions lazily; we issue BEGIN ourselves (below) so that
        # writers take the lock up front instead of failing to upgrade a read lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query (readiness checks)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at our migrations and `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (idempotent)."""
    command.upgrade(alembic_config(url), revision)
