"""The project's Kafka topics, their partitions and configuration, and how to declare them.

Each source that speaks Kafka writes its own raw topic `stadspuls.observations.raw.v1.<source>`,
so Kafka's ACLs decide who a source is. The shared raw topic of wave 1 (the source named by a
header) is for local development only: production neither creates nor reads it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.domain.catalog import Catalog
from shared.infra.kafka_admin import CONNECT_SECONDS, create_topics
from shared.kafka_security import client_options
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A logical topic: name without prefix, partitions, topic configuration."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


RAW = "observations.raw.v1"
RAW_RETENTION = {"retention.ms": str(30 * 24 * 3600 * 1000)}
# The canonical topic is the source of truth that the read model is rebuilt from: kept forever.
TOPICS = (
    TopicSpec(RAW, 12, RAW_RETENTION),
    TopicSpec("observations.v1", 12, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    TopicSpec("observations.dlq.v1", 4),
    TopicSpec("rollups.v1", 12, {"cleanup.policy": "compact"}),
)
# One source writes far less than all of them together: a few partitions each.
SOURCE_PARTITIONS = 3


def shared_raw_allowed(settings: Settings) -> bool:
    """Whether the shared raw topic (source from a header) may be used: never in production."""
    return settings.environment != "production"


def source_topic(settings: Settings, source: str) -> str:
    """The full name of a source's own raw topic."""
    return settings.topic(f"{RAW}.{source}")


def source_topic_prefix(settings: Settings) -> str:
    """What every source's raw topic name starts with (the source id follows)."""
    return settings.topic(f"{RAW}.")


def raw_topic_pattern(settings: Settings) -> str:
    """A regex matching every per-source raw topic, and the shared one where it is allowed."""
    shared = re.escape(settings.topic(RAW))
    suffix = r"\.[^.]+" if not shared_raw_allowed(settings) else r"(?:\.[^.]+)?"
    return f"^{shared}{suffix}$"


def project_topics(settings: Settings, sources: Iterable[str]) -> list[tuple[str, TopicSpec]]:
    """(full name, spec) of every topic the project needs, given the catalog's source ids."""
    shared = [spec for spec in TOPICS if spec.name != RAW or shared_raw_allowed(settings)]
    named = [(settings.topic(spec.name), spec) for spec in shared]
    own = TopicSpec(f"{RAW}.<source>", SOURCE_PARTITIONS, RAW_RETENTION)
    return named + [(source_topic(settings, source), own) for source in sorted(sources)]


def ensure_topics(
    settings: Settings,
    partitions: int | None = None,
    catalog: Catalog | None = None,
    connect_seconds: float = CONNECT_SECONDS,
) -> list[str]:
    """Create every project topic that is missing (existing ones are left as they are).

    The sources are the catalog's (`settings.catalog_path` unless given); an unreachable
    cluster raises after `connect_seconds`."""
    options = client_options(settings)
    if catalog is None:
        from shared.catalog.loader import load_catalog

        catalog = load_catalog(settings.catalog_path)
    if not shared_raw_allowed(settings):
        log.info(
            "production: the shared raw topic %s is not created (local development only); "
            "sources write their own %s<source>",
            settings.topic(RAW),
            source_topic_prefix(settings),
        )
    topics = project_topics(settings, catalog.source)
    groups: dict[tuple[int, tuple[tuple[str, str], ...]], list[str]] = {}
    for name, spec in topics:
        groups.setdefault((spec.partitions, tuple(sorted(spec.config.items()))), []).append(name)
    for (count, config), names in groups.items():
        create_topics(options, names, partitions or count, dict(config), connect_seconds)
    return [name for name, _ in topics]
