"""Creating the project's ACLs on a Kafka cluster with kafka-python's admin client."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)

from shared.acls import Grant

_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_PATTERN = {"literal": ACLResourcePatternType.LITERAL, "prefixed": ACLResourcePatternType.PREFIXED}
_OPERATION = {
    "Describe": ACLOperation.DESCRIBE,
    "Read": ACLOperation.READ,
    "Write": ACLOperation.WRITE,
}


def kafka_acl(grant: Grant) -> ACL:
    """The kafka-python ALLOW ACL (any host) of one grant."""
    pattern = ResourcePattern(_RESOURCE[grant.resource], grant.name, _PATTERN[grant.pattern])
    return ACL(grant.principal, "*", _OPERATION[grant.operation], ACLPermissionType.ALLOW, pattern)


def create_acls(admin: KafkaAdminClient, grants: list[Grant]) -> None:
    """Create the grants' ACLs (existing ones stay as they are); raise naming every failure."""
    acls = [kafka_acl(grant) for grant in grants]
    result = admin.create_acls(acls)
    if result["failed"]:
        done = set(result["succeeded"])
        refused = [
            f"{g.principal} {g.operation} {g.resource} {g.name}"
            for g, acl in zip(grants, acls, strict=True)
            if acl not in done
        ]
        errors = sorted({error.__name__ for error in result["failed"]})
        raise RuntimeError(f"creating ACLs failed ({', '.join(errors)}): {'; '.join(refused)}")
