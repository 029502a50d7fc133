"""Rebuild the read model from the canonical topic: rewind the aggregator, then empty its tables.

The canonical topic keeps every observation forever, so the read model can always be recomputed:
the aggregator's consumer group is rewound to the earliest offsets and the read-model tables are
emptied; the next aggregator workers replay the whole topic. Source keys and idempotency records
belong to ingest and are kept.

Every aggregator worker must be stopped first: a rewind is refused while the group has members
(a running worker would keep its own positions and commit over the rewind). The rewind comes
before the emptying, so an interruption between the two leaves a full read model with rewound
offsets — a replay of duplicates — never an empty read model past its events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import CoordinatorNotAvailableError, NoError, NotCoordinatorError
from sqlalchemy import Engine, delete

from shared.db.engine import make_engine
from shared.db.schema import (
    applied_offsets,
    etappmal_status,
    indicator_status,
    namnd_rollup,
    risk_index,
    series,
    series_versions,
)
from shared.domain.observation import utcnow
from shared.kafka_security import client_options
from shared.readmodel.revisions import reset_answers
from shared.readmodel.store import bump_state
from shared.settings import Settings

READ_MODEL_TABLES = (
    series,
    series_versions,
    indicator_status,
    etappmal_status,
    namnd_rollup,
    risk_index,
    applied_offsets,
)


class ActiveWorkersError(RuntimeError):
    """The aggregator's consumer group still has members: stop every worker first."""


def rebuild(settings: Settings) -> None:
    """Rewind the aggregator's consumer group to the earliest offsets and empty the read model."""
    if not settings.kafka_bootstrap:
        raise ValueError("STADSPULS_KAFKA_BOOTSTRAP must be set to rebuild the read model")
    group, topic = settings.aggregate_app_id, settings.topic("observations.v1")
    admin = KafkaAdminClient(**client_options(settings), client_id="stadspuls-rebuild")
    try:
        refuse_if_active(admin, group)
        rewind(admin, group, topic)
        engine = make_engine(settings.database_url)
        try:
            empty_read_model(engine)
        finally:
            engine.dispose()
        refuse_if_active(admin, group, after=True)
    finally:
        admin.close()


def group_members(admin: KafkaAdminClient, group: str, timeout: float = 30) -> list[str]:
    """Member ids of a consumer group (none when the group is empty or unknown)."""
    described: dict[str, Any] = _retrying(lambda: admin.describe_groups([group]), timeout)
    info = described.get(group, {})
    return [str(m.get("member_id", "?")) for m in info.get("members", [])]


def refuse_if_active(admin: KafkaAdminClient, group: str, *, after: bool = False) -> None:
    """Raise ActiveWorkersError if any consumer is a member of the group."""
    members = group_members(admin, group)
    if not members:
        return
    when = "joined while the read model was being rebuilt" if after else "are running"
    raise ActiveWorkersError(
        f"{len(members)} aggregator worker(s) of consumer group {group!r} {when}: "
        f"stop every aggregator worker, then run the rebuild again ({', '.join(members)})"
    )


def rewind(admin: KafkaAdminClient, group: str, topic: str) -> dict[TopicPartition, int]:
    """Commit the earliest offset of every partition of `topic` for `group`; return them."""
    return commit_offsets(
        admin, group, dict.fromkeys(partitions_of(admin, topic), OffsetSpec.EARLIEST)
    )


def partitions_of(admin: KafkaAdminClient, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, in order."""
    (described,) = admin.describe_topics([topic])
    if described["error_code"] or not described["partitions"]:
        raise RuntimeError(f"topic {topic!r} cannot be described (does it exist?): {described}")
    return sorted(TopicPartition(topic, p["partition_index"]) for p in described["partitions"])


def commit_offsets(
    admin: KafkaAdminClient, group: str, specs: Mapping[TopicPartition, OffsetSpec | int]
) -> dict[TopicPartition, int]:
    """Commit an offset of every partition in `specs` for `group` (refused by Kafka while the
    group has members); return them."""
    result = _retrying(lambda: admin.reset_group_offsets(group, dict(specs)), timeout=30)
    failed = {tp: r["error"] for tp, r in result.items() if r["error"] is not NoError}
    if failed or set(result) != set(specs):
        raise ActiveWorkersError(
            f"committing offsets of consumer group {group!r} failed (is a worker running?): "
            f"{failed}"
        )
    return {tp: int(r["offset"]) for tp, r in result.items()}


def empty_read_model(engine: Engine) -> None:
    """Delete every read-model row in one transaction; the revision moves on (no ETag reuse)."""
    with engine.begin() as conn:
        for table in READ_MODEL_TABLES:
            conn.execute(delete(table))
        now = utcnow()
        bump_state(conn, data_as_of=None, committed_at=now, refreshed_at=None)
        reset_answers(conn, now)  # answer revisions start again, under a new generation


def _retrying(call: Any, timeout: float) -> Any:
    """Call an admin request, retrying while the group coordinator is still being elected."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (CoordinatorNotAvailableError, NotCoordinatorError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
