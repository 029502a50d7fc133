"""answer_revisions: a revision per answer key (ETags and memos follow what an answer reads);
indexes of what the API reads per area and gender (every area's statuses, area profiles)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_revisions",
        sa.Column("key", sa.String(length=220), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_answer_revisions")),
    )
    op.create_index(
        "ix_indicator_status_area_gender", "indicator_status", ["area", "gender"], unique=False
    )
    op.create_index("ix_series_area_gender", "series", ["area", "gender"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_series_area_gender", table_name="series")
    op.drop_index("ix_indicator_status_area_gender", table_name="indicator_status")
    op.drop_table("answer_revisions")
