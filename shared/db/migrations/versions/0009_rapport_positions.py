"""rapporter.positions: the canonical topic's positions a report counts (kept by a rebuild)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rapporter") as batch:
        batch.add_column(sa.Column("positions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rapporter") as batch:
        batch.drop_column("positions")
