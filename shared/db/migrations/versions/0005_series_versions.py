"""series_versions: every version received, append-only, with its delivery and outcome

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00

Older versions were never kept before this revision: the upgrade records each series' current
winner as an `applied` version without a delivery position. `stadspuls rebuild` replays the
canonical topic and so recovers every version with its outcome.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SERIES = ("indicator", "area", "period", "gender")


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "series_versions",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("indicator", sa.String(length=100), nullable=False),
        sa.Column("area", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("observation_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("retract", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("received_at", moment, nullable=False),
        sa.Column("kafka_topic", sa.String(length=255), nullable=True),
        sa.Column("kafka_partition", sa.Integer(), nullable=True),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_series_versions")),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_series_versions_position"
        ),
    )
    with op.batch_alter_table("series_versions") as batch:
        batch.create_index(
            batch.f("ix_series_versions_observation_id"), ["observation_id"], unique=False
        )
        batch.create_index("ix_series_versions_series", list(SERIES), unique=False)
    columns = ", ".join(SERIES)
    op.execute(
        f"INSERT INTO series_versions ({columns}, observation_id, source, value, numerator, "
        "denominator, retract, status, updated_at, received_at, outcome, recorded_at) "
        f"SELECT {columns}, observation_id, source, reported_value, reported_numerator, "
        "reported_denominator, retracted, reported_status, updated_at, received_at, 'applied', "
        "coalesce(committed_at, received_at) FROM series WHERE observation_id IS NOT NULL "
        "ORDER BY received_at"
    )


def downgrade() -> None:
    with op.batch_alter_table("series_versions") as batch:
        batch.drop_index("ix_series_versions_series")
        batch.drop_index(batch.f("ix_series_versions_observation_id"))
    op.drop_table("series_versions")
