"""The SQL read model and the ingest service's own tables (SQLAlchemy Core).

Changes go through Alembic migrations in `shared/db/migrations`; a test checks that the migrations
and this metadata agree, on PostgreSQL and SQLite.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# A batch's rows carry a `committed_at` at most this much older than the state row's, taken at
# its commit (`shared.readmodel.store`); readers of changes overlap by it and by CLOCK_SKEW.
ROW_TIME_SLACK = timedelta(seconds=10)
CLOCK_SKEW = timedelta(seconds=5)  # between the clocks of aggregator workers


def _ts(name: str, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _preliminary() -> Column[object]:
    """Whether a row has a preliminary contribution: withheld from anonymous `final` readers."""
    return Column("preliminary", Boolean, nullable=False, server_default=false())


# One row per series (indicator, area, period, gender): the winning reported version, the sums
# of the children's contributions, and the effective value (reported wins over computed).
series = Table(
    "series",
    metadata,
    Column("indicator", String(100), primary_key=True),
    Column("area", String(100), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("gender", String(1), primary_key=True),
    Column("area_level", String(20), nullable=False),
    Column("period_start", Float, nullable=False),
    # the winning reported version (a retraction wins too, so older versions stay out)
    Column("observation_id", String(36)),
    Column("source", String(100)),
    _ts("updated_at"),
    _ts("received_at"),
    Column("reported_value", Float),
    Column("reported_numerator", Float),
    Column("reported_denominator", Float),
    Column("reported_status", String(16)),
    Column("retracted", Boolean, nullable=False, default=False),
    Column("comment", Text),
    # the sums of the children's effective contributions
    Column("sum_numerator", Float, nullable=False, default=0.0),
    Column("sum_denominator", Float, nullable=False, default=0.0),
    Column("sum_value", Float, nullable=False, default=0.0),
    Column("n_reporting", Integer, nullable=False, default=0),
    Column("n_children", Integer, nullable=False, default=0),
    # children whose contribution is preliminary (reported so, or computed from such children)
    Column("n_preliminary", Integer, nullable=False, server_default="0"),
    Column("computed_value", Float),
    Column("coverage", Float),
    # what a reader sees
    Column("value", Float),
    Column("numerator", Float),
    Column("denominator", Float),
    Column("origin", String(10)),  # reported | computed | NULL when nothing is known
    Column("status", String(16)),
    # the value a reader sees is preliminary, or computed with a preliminary contribution
    _preliminary(),
    _ts("data_as_of"),
    _ts("committed_at"),
)

# Every version an aggregator received, appended in the batch's transaction and never changed:
# `outcome` is what the version did when it arrived (applied | superseded | duplicate). A delivery
# is identified by its place in the canonical topic, so a batch delivered again after a crash
# adds nothing; versions applied without one (tools, tests) have no position.
series_versions = Table(
    "series_versions",
    metadata,
    Column(
        "version_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("indicator", String(100), nullable=False),
    Column("area", String(100), nullable=False),
    Column("period", String(16), nullable=False),
    Column("gender", String(1), nullable=False),
    Column("observation_id", String(36), nullable=False, index=True),
    Column("source", String(100), nullable=False),
    Column("value", Float),
    Column("numerator", Float),
    Column("denominator", Float),
    Column("retract", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("comment", Text),  # recorded from migration 0007 on
    _ts("updated_at", nullable=False),
    _ts("received_at", nullable=False),
    Column("kafka_topic", String(255)),
    Column("kafka_partition", Integer),
    Column("kafka_offset", BigInteger),
    Column("outcome", String(16), nullable=False),
    _ts("recorded_at", nullable=False),
    UniqueConstraint(
        "kafka_topic", "kafka_partition", "kafka_offset", name="uq_series_versions_position"
    ),
)
Index(
    "ix_series_versions_series",
    *(series_versions.c[k] for k in ("indicator", "area", "period", "gender")),
)

indicator_status = Table(
    "indicator_status",
    metadata,
    Column("indicator", String(100), primary_key=True),
    Column("area", String(100), primary_key=True),
    Column("gender", String(1), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("trend", String(20)),
    Column("reason", String(40)),
    Column("stale", Boolean, nullable=False, default=False),
    Column("latest_period", String(16)),
    Column("latest_value", Float),
    Column("inputs", JSON, nullable=False),
    Column("document", JSON, nullable=False),
    _preliminary(),
    _ts("data_as_of"),
    _ts("computed_at", nullable=False),
)

# what the API reads per area and gender: an area's statuses, an area profile's rows
Index("ix_indicator_status_area_gender", indicator_status.c.area, indicator_status.c.gender)
Index("ix_series_area_gender", series.c.area, series.c.gender)

etappmal_status = Table(
    "etappmal_status",
    metadata,
    Column("etappmal", String(100), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("counts", JSON, nullable=False),
    Column("document", JSON, nullable=False),
    _preliminary(),
    _ts("data_as_of"),
    _ts("computed_at", nullable=False),
)

namnd_rollup = Table(
    "namnd_rollup",
    metadata,
    Column("namnd", String(100), primary_key=True),
    Column("counts", JSON, nullable=False),
    Column("document", JSON, nullable=False),
    _preliminary(),
    _ts("data_as_of"),
    _ts("computed_at", nullable=False),
)

# An area profile's rows per (area, gender), projected with the statuses they show
# (`shared.readmodel.profiles`)
area_profiles = Table(
    "area_profiles",
    metadata,
    Column("area", String(100), primary_key=True),
    Column("gender", String(1), primary_key=True),
    Column("document", JSON, nullable=False),
    _ts("computed_at", nullable=False),
)

risk_index = Table(
    "risk_index",
    metadata,
    Column("area", String(100), primary_key=True),
    Column("area_level", String(20), nullable=False),
    Column("sociala_riskfaktorer", Float),
    Column("halsa", Float),
    Column("sakerhet_trygghet", Float),
    Column("forsorjning", Float),
    Column("composite", Float),
    Column("rank", Integer),
    Column("document", JSON, nullable=False),
    _preliminary(),
    _ts("computed_at", nullable=False),
)

# A single row: the newest received_at reflected, a counter bumped by every aggregator commit
# (ETags), the last batch's commit and the last projection (summaries also change on a timer).
read_model_state = Table(
    "read_model_state",
    metadata,
    Column("id", Integer, primary_key=True),
    _ts("data_as_of"),
    Column("revision", Integer, nullable=False, default=0),
    _ts("committed_at"),
    _ts("refreshed_at"),
)

# Per answer key, a counter bumped in the transaction that changes what answers of that key read:
# `status:<indicator>` (the city's status of it, the etappmål and nämnder judged from it),
# `areas:<area>` (statuses of that area other than the city's total), `rows:<area>` (its series
# rows), `series:<indicator>`, `namnder`, `risk`; `generation` moves on at a rebuild. An answer's
# ETag and memo follow the keys it reads (`services.api.caching`), so an unrelated commit keeps them.
answer_revisions = Table(
    "answer_revisions",
    metadata,
    Column("key", String(220), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    _ts("changed_at", nullable=False),
)

# Per partition of the canonical topic, the offset after the newest event the read model reflects,
# written in each batch's transaction: what `stadspuls verify` replays, and what the committed
# consumer offsets must never pass.
applied_offsets = Table(
    "applied_offsets",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    _ts("applied_at", nullable=False),
)

# Every catalog the aggregator has run with, by the SHA-256 of its file, from when it took effect:
# what an answer about a past time needs to know which catalog was in force then.
catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("version_id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    _ts("effective_at", nullable=False),
    Column("path", Text, nullable=False),
    Column("text", Text, nullable=False),
)

# Frozen reports: a named knowledge time. `positions` ([topic, partition, offset], the newest
# recorded of each partition of the canonical topic) caps the versions a report counts to those
# recorded when it was frozen (one received before `as_of` but recorded later stays out), and
# survives a rebuild, which numbers versions anew; `last_version_id` caps versions recorded
# without a position (and every version of a report frozen before positions were kept);
# `catalog_sha256` names the catalog in force at `as_of` (None: none was recorded).
rapporter = Table(
    "rapporter",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("title", Text),
    _ts("as_of", nullable=False),
    _ts("frozen_at", nullable=False),
    Column("last_version_id", BigInteger, nullable=False),
    Column("catalog_sha256", String(64)),
    Column("positions", JSON),
)

source_keys = Table(
    "source_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("source", String(100), nullable=False, index=True),
    Column("key_hash", String(128), nullable=False),
    Column("label", String(200)),
    _ts("created_at", nullable=False),
    _ts("revoked_at"),
)

# Tokens of readers who may see everything (preliminary values too), stored only hashed.
reader_tokens = Table(
    "reader_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, index=True),
    Column("token_hash", String(128), nullable=False),
    _ts("created_at", nullable=False),
    _ts("revoked_at"),
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("idempotency_key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    _ts("created_at", nullable=False),
)

# Per pulled source (a connector), where the next run starts (e.g. Kolada's `from_date`), written
# only after Kafka acknowledged a run's rows; `last_success_at` feeds the connector's alert.
connector_cursors = Table(
    "connector_cursors",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("cursor", JSON, nullable=False),
    _ts("last_success_at", nullable=False),
)
