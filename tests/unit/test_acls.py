"""The ACL model: each source writes only its own raw topic, the services get what they need and
no more, principals are never shared; the text and the Strimzi KafkaUsers say the same, and the
checked-in Strimzi example is the generator's output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kafka.admin import ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourceType

from shared.acls import (
    AGGREGATE_PRINCIPAL,
    INGEST_PRINCIPAL,
    Grant,
    PrincipalConflictError,
    Principals,
    acl_grants,
    render_acls,
)
from shared.catalog.loader import default_catalog
from shared.domain.catalog import Catalog
from shared.infra.kafka_acls import kafka_acl
from shared.settings import Settings
from shared.strimzi import NotAStrimziUserError, kafka_users, render_kafka_users
from shared.topics import source_topic

EXAMPLE = Path(__file__).parents[2] / "deploy" / "k8s" / "strimzi" / "kafka-users.yaml"
PREFIXED = Settings(_env_file=None, topic_prefix="env1.")
RAW = "env1.stadspuls.observations.raw.v1"


def _grants(catalog: Catalog | None = None, settings: Settings = PREFIXED) -> list[Grant]:
    return acl_grants(settings, catalog or default_catalog(), Principals())


def _of(grants: list[Grant], principal: str) -> set[tuple[str, str, str, str]]:
    return {
        (g.operation, g.resource, g.pattern, g.name) for g in grants if g.principal == principal
    }


def test_each_source_may_write_its_own_raw_topic_and_nothing_else() -> None:
    grants = _grants()
    for source in default_catalog().kallor:
        own = source_topic(PREFIXED, source.id)
        assert _of(grants, f"User:{source.id}") == {
            ("Describe", "topic", "literal", own),
            ("Write", "topic", "literal", own),
        }
    writers = {(g.name, g.principal) for g in grants if g.operation == "Write"}
    for name, principal in writers:
        if name.startswith(f"{RAW}."):
            assert principal == f"User:{name.removeprefix(f'{RAW}.')}"


def test_the_services_read_and_write_only_what_they_use() -> None:
    grants = _grants()
    canonical, dlq = "env1.stadspuls.observations.v1", "env1.stadspuls.observations.dlq.v1"
    assert _of(grants, INGEST_PRINCIPAL) == {
        ("Describe", "topic", "prefixed", f"{RAW}."),
        ("Read", "topic", "prefixed", f"{RAW}."),
        ("Describe", "group", "literal", "env1.stadspuls-ingest-raw"),
        ("Read", "group", "literal", "env1.stadspuls-ingest-raw"),
        ("Describe", "topic", "literal", canonical),
        ("Write", "topic", "literal", canonical),
        ("Describe", "topic", "literal", dlq),
        ("Write", "topic", "literal", dlq),
    }
    assert _of(grants, AGGREGATE_PRINCIPAL) == {
        ("Describe", "topic", "literal", canonical),
        ("Read", "topic", "literal", canonical),
        ("Describe", "group", "literal", "stadspuls-aggregate"),
        ("Read", "group", "literal", "stadspuls-aggregate"),
        ("Describe", "topic", "literal", dlq),
        ("Write", "topic", "literal", dlq),
        ("Describe", "topic", "literal", "env1.stadspuls.rollups.v1"),
        ("Write", "topic", "literal", "env1.stadspuls.rollups.v1"),
    }
    # the shared development raw topic is nobody's: production refuses it
    assert all(g.name != RAW for g in grants)


def test_a_catalog_principal_replaces_the_default_and_sharing_one_is_refused() -> None:
    catalog = default_catalog()
    scb = catalog.source["scb"].model_copy(update={"kafka_principal": "User:scb-etl"})
    custom = catalog.model_copy(
        update={"kallor": tuple(scb if s.id == "scb" else s for s in catalog.kallor)}
    )
    grants = _grants(custom)
    assert {g.name for g in grants if g.principal == "User:scb-etl"} == {f"{RAW}.scb"}
    assert not _of(grants, "User:scb")
    with pytest.raises(PrincipalConflictError, match="'User:scb' is the principal of both"):
        acl_grants(PREFIXED, catalog, Principals(ingest="User:scb"))


def test_the_text_is_sorted_whatever_the_catalog_order() -> None:
    catalog = default_catalog()
    shuffled = catalog.model_copy(update={"kallor": tuple(reversed(catalog.kallor))})
    text = render_acls(_grants())
    assert render_acls(_grants(shuffled)) == text
    lines = text.splitlines()
    assert lines[0].split() == ["principal", "operation", "resource", "pattern", "name"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == len(_grants())
    # by principal, then resource (type, name, pattern), then operation
    assert rows == sorted(rows, key=lambda r: (r[0], r[2], r[4], r[3], r[1]))


def test_kafka_acls_carry_the_grant() -> None:
    acl = kafka_acl(Grant(INGEST_PRINCIPAL, "topic", f"{RAW}.", "prefixed", "Read"))
    assert (acl.principal, acl.host, acl.operation, acl.permission_type) == (
        INGEST_PRINCIPAL,
        "*",
        ACLOperation.READ,
        ACLPermissionType.ALLOW,
    )
    pattern = acl.resource_pattern
    assert (pattern.resource_type, pattern.resource_name, pattern.pattern_type) == (
        ResourceType.TOPIC,
        f"{RAW}.",
        ACLResourcePatternType.PREFIXED,
    )


def test_strimzi_users_hold_the_same_acls() -> None:
    grants = _grants()
    users = kafka_users(grants, "my-cluster", "kafka")
    assert len(users) == len({g.principal for g in grants})
    found = set()
    for user in users:
        assert (user["apiVersion"], user["kind"]) == ("kafka.strimzi.io/v1beta2", "KafkaUser")
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            assert resource["type"] in {"topic", "group"}
            assert resource["patternType"] in {"literal", "prefix"}  # Strimzi's enum
            pattern = "prefixed" if resource["patternType"] == "prefix" else "literal"
            for operation in acl["operations"]:
                found.add(
                    (
                        f"User:{user['metadata']['name']}",
                        resource["type"],
                        resource["name"],
                        pattern,
                        operation,
                    )
                )
    assert found == {(g.principal, g.resource, g.name, g.pattern, g.operation) for g in grants}


def test_a_principal_that_is_no_kubernetes_name_cannot_be_a_strimzi_user() -> None:
    grant = Grant("User:CN=scb,O=SCB", "topic", f"{RAW}.scb", "literal", "Write")
    with pytest.raises(NotAStrimziUserError, match="CN=scb"):
        kafka_users([grant], "stadspuls", "kafka")


def test_the_checked_in_strimzi_example_is_the_generator_s_output() -> None:
    text = EXAMPLE.read_text()
    generated = render_kafka_users(_grants(settings=Settings(_env_file=None)), "stadspuls", "kafka")
    header, _, body = text.partition("---\n")
    assert all(line.startswith("#") for line in header.splitlines())
    assert "---\n" + body == generated, "regenerate it: see the comment at its top"
    assert len(list(yaml.safe_load_all(text))) == len(default_catalog().kallor) + 2
