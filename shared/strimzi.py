"""The project's ACLs as Strimzi `KafkaUser` resources (SCRAM-SHA-512, simple authorization).

Pure: no I/O. `stadspuls topics --acls --format strimzi` prints them; the example in
deploy/k8s/strimzi/kafka-users.yaml is this output for the bundled catalog.
"""

from __future__ import annotations

import re
from itertools import groupby
from typing import Any

import yaml

from shared.acls import Grant

API_VERSION = "kafka.strimzi.io/v1beta2"
# A Kubernetes object name (DNS-1123 subdomain); with SCRAM it is the Kafka user name too.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_PATTERN = {"literal": "literal", "prefixed": "prefix"}  # Strimzi's word for Kafka's PREFIXED


class NotAStrimziUserError(ValueError):
    """A principal that cannot be a SCRAM KafkaUser's name."""


def kafka_users(grants: list[Grant], cluster: str, namespace: str) -> list[dict[str, Any]]:
    """One KafkaUser per principal, in principal order, with that principal's ACLs."""
    users = []
    for principal, mine in groupby(sorted(grants), key=lambda g: g.principal):
        name = principal.removeprefix("User:")
        if not principal.startswith("User:") or not _NAME.match(name):
            raise NotAStrimziUserError(
                f"{principal!r} cannot be a Strimzi KafkaUser: its name must be a lowercase"
                " Kubernetes name (letters, digits, '-', '.')"
            )
        users.append(_user(name, list(mine), cluster, namespace))
    return users


def _user(name: str, grants: list[Grant], cluster: str, namespace: str) -> dict[str, Any]:
    acls = []
    for (resource, resource_name, pattern), same in groupby(
        grants, key=lambda g: (g.resource, g.name, g.pattern)
    ):
        acls.append(
            {
                "resource": {
                    "type": resource,
                    "name": resource_name,
                    "patternType": _PATTERN[pattern],
                },
                "operations": sorted(g.operation for g in same),
                "host": "*",
            }
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "stadspuls"},
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def render_kafka_users(grants: list[Grant], cluster: str, namespace: str) -> str:
    """The KafkaUsers as a multi-document YAML stream."""
    users = kafka_users(grants, cluster, namespace)
    return yaml.safe_dump_all(users, sort_keys=False, explicit_start=True, allow_unicode=True)
