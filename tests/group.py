"""The aggregator's consumer group seen from outside: which worker owns which partitions of the
canonical topic, and whether every delivery on the topic is in `series_versions` exactly once."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from sqlalchemy import Engine, select

from shared.db.schema import series_versions
from shared.domain.observation import Observation
from shared.kafka_security import client_options
from shared.settings import Settings
from tests.integration.ingest_helpers import read_topic

# faust's subscription is not the plain consumer protocol's: kafka-python warns on each describe.
logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)


def _web_port(metadata: Any) -> int | None:
    """The port of the worker's web server, from faust's subscription user data (JSON with `url`)."""
    text = metadata if isinstance(metadata, str) else str(metadata)
    start = text.find("{")
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return urlsplit(url).port if isinstance(url, str) else None


def assignment(settings: Settings) -> dict[int, frozenset[int]]:
    """{worker web port: partitions of the canonical topic it owns} of a stable group, else {}.

    faust puts each worker's web URL in its group subscription, so a member is known by the port
    its `ServiceProcess` listens on. While the group is rebalancing (or has no coordinator yet) the answer is empty.
    """
    topic = settings.topic("observations.v1")
    group = settings.aggregate_app_id
    admin = KafkaAdminClient(**client_options(settings), client_id="stadspuls-test-group")
    try:
        described = admin.describe_groups([group])[group]
    except KafkaError as exc:
        if exc.retriable:  # no coordinator yet on a fresh broker: not stable yet
            return {}
        raise
    finally:
        admin.close()
    if described["group_state"] != "Stable":
        return {}
    owned: dict[int, frozenset[int]] = {}
    for member in described["members"]:
        port, given = _web_port(member["member_metadata"]), member["member_assignment"]
        if port is None or not isinstance(given, dict):
            return {}
        parts = [a["partitions"] for a in given["assigned_partitions"] if a["topic"] == topic]
        owned[port] = frozenset(p for ps in parts for p in ps)
    return owned


def delivery_problems(engine: Engine, settings: Settings, events: list[Observation]) -> list[str]:
    """How `series_versions` differs from one row per delivery on the canonical topic: positions
    missing or recorded twice, observation ids of `events` lost or doubled. A delivery on the
    dead-letter topic is no version; call this once the group has committed every offset (a
    batch's dead letters are sent before its offsets are committed)."""
    bootstrap = settings.kafka_bootstrap or ""
    dead = {m.value for m in read_topic(bootstrap, settings.topic("observations.dlq.v1"))}
    on_topic = read_topic(bootstrap, settings.topic("observations.v1"), timeout=120)
    wanted = {(m.partition, m.offset) for m in on_topic if m.value not in dead}
    topic = settings.topic("observations.v1")
    v = series_versions.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(v.kafka_partition, v.kafka_offset, v.observation_id).where(
                v.kafka_topic == topic
            )
        ).all()
    positions = Counter((r.kafka_partition, r.kafka_offset) for r in rows)
    problems = []
    if lost := wanted - positions.keys():
        problems.append(f"{len(lost)} deliveries not recorded, e.g. {sorted(lost)[:3]}")
    if doubled := [p for p, n in positions.items() if n > 1]:
        problems.append(f"{len(doubled)} deliveries recorded twice, e.g. {doubled[:3]}")
    if extra := positions.keys() - wanted:
        problems.append(
            f"{len(extra)} recorded positions not on the topic, e.g. {sorted(extra)[:3]}"
        )
    sent = Counter(str(e.observation_id) for e in events if e.to_json() not in dead)
    got = Counter(r.observation_id for r in rows)
    if sent != got:
        problems.append(
            f"observation ids: {sum((sent - got).values())} lost, {sum((got - sent).values())} extra"
        )
    if len(dead) > len(events) // 100:
        problems.append(f"{len(dead)} of {len(events)} events went to the dead-letter topic")
    return problems
