"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from shared.db.engine import make_engine
from shared.db.schema import metadata

config = context.config


def run_migrations() -> None:
    """Run the migrations in one transaction."""
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    connectable = make_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
