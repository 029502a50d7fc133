"""connector_cursors: where each connector's next pull starts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_cursors",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_connector_cursors")),
    )


def downgrade() -> None:
    op.drop_table("connector_cursors")
