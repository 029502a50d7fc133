"""The project's Kafka topics, their partitions and configuration, and how to declare them."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.infra.kafka_admin import create_topics
from shared.kafka_security import client_options
from shared.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    """A logical topic: name without prefix, partitions, topic configuration."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


# The canonical topic is the source of truth that the read model is rebuilt from: kept forever.
TOPICS = (
    TopicSpec("observations.raw.v1", 12, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
    TopicSpec("observations.v1", 12, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    TopicSpec("observations.dlq.v1", 4),
    TopicSpec("rollups.v1", 12, {"cleanup.policy": "compact"}),
)


def ensure_topics(settings: Settings, partitions: int | None = None) -> list[str]:
    """Create every project topic that is missing (existing ones are left as they are)."""
    options = client_options(settings)
    names = []
    for spec in TOPICS:
        name = settings.topic(spec.name)
        create_topics(options, [name], partitions or spec.partitions, spec.config)
        names.append(name)
    return names
