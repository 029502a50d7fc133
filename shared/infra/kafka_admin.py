"""Talking to any Kafka cluster, local or not: where it is, and creating topics on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError

#: How long an admin call waits for an unreachable cluster by default (kafka-python's own).
CONNECT_SECONDS = 30.0


class KafkaEndpoint(Protocol):
    """Anything that tells clients where a Kafka cluster is."""

    @property
    def bootstrap(self) -> str: ...


@dataclass(frozen=True)
class ExternalKafka:
    """A cluster someone else runs; only its bootstrap address is known."""

    bootstrap: str


def admin_options(cluster: str | Mapping[str, Any]) -> dict[str, Any]:
    """kafka-python options of a cluster given as a plaintext bootstrap or as client options."""
    if isinstance(cluster, str):
        return {"bootstrap_servers": cluster}
    return dict(cluster)


def create_topics(
    cluster: str | Mapping[str, Any],
    names: list[str],
    partitions: int = 4,
    config: dict[str, str] | None = None,
    connect_seconds: float = CONNECT_SECONDS,
) -> None:
    """Create `names` on the cluster and wait for leaders; existing ones are fine.

    `cluster` is a plaintext bootstrap address or kafka-python options
    (`shared.kafka_security.client_options`). An unreachable cluster raises
    `KafkaTimeoutError` after `connect_seconds`.
    """
    spec = {"num_partitions": partitions, "replication_factor": 1, "configs": config or {}}
    options = {**admin_options(cluster), "bootstrap_timeout_ms": int(connect_seconds * 1000)}
    with KafkaAdminClient(**options, client_id="stadspuls-infra") as admin:
        result = admin.create_topics({name: dict(spec) for name in names}, raise_errors=False)
        for topic in result["topics"]:
            code = topic["error_code"]
            if code == TopicAuthorizationFailedError.errno:
                raise TopicAuthorizationFailedError(
                    f"not allowed to create topic {topic['name']!r}"
                )
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"creating topic {topic['name']!r} failed: {topic}")
        admin.wait_for_topics(names, timeout_ms=30_000)
