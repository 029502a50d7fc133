"""reader tokens; what has a preliminary contribution (series, statuses, rollups, risk index)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

Reported rows are marked from their status here; computed parents and the summaries only learn
theirs from the aggregator: run `stadspuls rebuild` after upgrading a read model that holds
preliminary values, or anonymous readers under `final` may see a parent computed from them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SUMMARIES = ("indicator_status", "etappmal_status", "namnd_rollup", "risk_index")


def _flag() -> sa.Column[bool]:
    return sa.Column("preliminary", sa.Boolean(), nullable=False, server_default=sa.false())


def upgrade() -> None:
    op.create_table(
        "reader_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_reader_tokens")),
    )
    with op.batch_alter_table("reader_tokens") as batch:
        batch.create_index(batch.f("ix_reader_tokens_name"), ["name"], unique=False)
    with op.batch_alter_table("series") as batch:
        batch.add_column(
            sa.Column("n_preliminary", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(_flag())
    op.execute("UPDATE series SET preliminary = (status = 'preliminary') WHERE status IS NOT NULL")
    for table in SUMMARIES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_flag())


def downgrade() -> None:
    for table in SUMMARIES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("preliminary")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("preliminary")
        batch.drop_column("n_preliminary")
    with op.batch_alter_table("reader_tokens") as batch:
        batch.drop_index(batch.f("ix_reader_tokens_name"))
    op.drop_table("reader_tokens")
