"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from shared.db.engine import make_engine, upgrade
from shared.db.schema import metadata


def test_upgrade_to_head_matches_the_metadata_and_is_idempotent(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second run changes nothing and does not fail
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert set(metadata.tables) <= tables
