"""area_profiles: an area profile's rows per (area, gender), projected by the aggregator with
the statuses they show

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "area_profiles",
        sa.Column("area", sa.String(length=100), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("area", "gender", name=op.f("pk_area_profiles")),
    )


def downgrade() -> None:
    op.drop_table("area_profiles")
