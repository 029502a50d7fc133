"""read_model_state.refreshed_at: when projections last recomputed the summaries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("read_model_state") as batch:
        batch.add_column(sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True))
    # Until now readers took the newest etappmål computation for it: carry that value over, so
    # ETags and the moment statuses are judged at do not move with the upgrade.
    newest = "(SELECT max(computed_at) FROM etappmal_status)"
    op.execute(f"UPDATE read_model_state SET refreshed_at = {newest} WHERE id = 1")
    op.execute(
        "INSERT INTO read_model_state (id, revision, refreshed_at) "
        f"SELECT 1, 0, {newest} WHERE NOT EXISTS (SELECT 1 FROM read_model_state) "
        "AND EXISTS (SELECT 1 FROM etappmal_status)"
    )


def downgrade() -> None:
    with op.batch_alter_table("read_model_state") as batch:
        batch.drop_column("refreshed_at")
