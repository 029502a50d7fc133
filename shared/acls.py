"""Who may do what on the project's Kafka cluster: the ACLs `stadspuls topics --acls` prints and,
with `--apply`, creates. Pure: no I/O (`shared.infra.kafka_acls` applies them, `shared.strimzi`
writes them as Strimzi KafkaUsers).

Each source's principal may write only its own raw topic; ingest reads the raw topics and writes
the canonical and DLQ topics; the aggregator reads the canonical topic and writes the DLQ and
rollups. Nothing else: no principal of the project may create, delete or alter a topic (an operator
runs `stadspuls topics` with admin rights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.domain.catalog import Catalog
from shared.settings import Settings
from shared.topics import source_topic, source_topic_prefix

Resource = Literal["group", "topic"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["Describe", "Read", "Write"]

INGEST_PRINCIPAL = "User:stadspuls-ingest"
AGGREGATE_PRINCIPAL = "User:stadspuls-aggregate"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL, from any host: `principal` may `operation` on a resource."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


@dataclass(frozen=True)
class Principals:
    """The Kafka principals the services run as."""

    ingest: str = INGEST_PRINCIPAL
    aggregate: str = AGGREGATE_PRINCIPAL


class PrincipalConflictError(ValueError):
    """Two parties would share a principal, so one could act as the other."""


def _on(
    principal: str, resource: Resource, name: str, *ops: Operation, pattern: Pattern = "literal"
) -> list[Grant]:
    # DESCRIBE is implied by READ and WRITE in Kafka; it is listed anyway so the set reads whole.
    return [Grant(principal, resource, name, pattern, op) for op in ("Describe", *ops)]


def acl_grants(settings: Settings, catalog: Catalog, principals: Principals) -> list[Grant]:
    """Every ACL the project needs, sorted; refuse principals that two parties would share."""
    _refuse_shared(catalog, principals)
    canonical, dlq = settings.topic("observations.v1"), settings.topic("observations.dlq.v1")
    grants = [
        grant
        for source in catalog.kallor
        for grant in _on(source.principal, "topic", source_topic(settings, source.id), "Write")
    ]
    ingest = principals.ingest
    # A prefix, not the catalog's list: the validator subscribes by pattern and dead-letters a raw
    # topic of no catalog source, so it must see those too (see services/ingest/raw_validator.py).
    grants += _on(ingest, "topic", source_topic_prefix(settings), "Read", pattern="prefixed")
    grants += _on(ingest, "group", f"{settings.topic_prefix}{settings.ingest_raw_group}", "Read")
    # The producer is idempotent: on Kafka ≥ 3.0 WRITE on a topic allows it (KIP-679), so no
    # IDEMPOTENT_WRITE on the cluster.
    grants += _on(ingest, "topic", canonical, "Write") + _on(ingest, "topic", dlq, "Write")
    aggregate = principals.aggregate
    # The faust app id is its consumer group; the lag reader's offset fetch needs its DESCRIBE.
    # faust creates no topic of its own here: the leader topic is disabled
    # (`topic_disable_leader`), the app has no tables (changelogs), no group_by/through
    # (repartition topics) and no agent replies, so no `<app id>-` topics need rights.
    grants += _on(aggregate, "topic", canonical, "Read")
    grants += _on(aggregate, "group", settings.aggregate_app_id, "Read")
    grants += _on(aggregate, "topic", dlq, "Write")
    grants += _on(aggregate, "topic", settings.topic("rollups.v1"), "Write")
    return sorted(set(grants))


def _refuse_shared(catalog: Catalog, principals: Principals) -> None:
    owners: dict[str, str] = {}
    parties = [("ingest", principals.ingest), ("aggregate", principals.aggregate)]
    for party, principal in parties + [(f"source {s.id!r}", s.principal) for s in catalog.kallor]:
        if principal in owners:
            raise PrincipalConflictError(
                f"{principal!r} is the principal of both {owners[principal]} and {party}:"
                " every party needs its own"
            )
        owners[principal] = party


def render_acls(grants: list[Grant]) -> str:
    """The grants as aligned text, one ALLOW (from any host) per line, in their order."""
    rows = [("principal", "operation", "resource", "pattern", "name")]
    rows += [(g.principal, g.operation, g.resource, g.pattern, g.name) for g in grants]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[4]]) + "\n"
        for row in rows
    )
