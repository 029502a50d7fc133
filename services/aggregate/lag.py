"""Offsets of the canonical topic seen from outside the consumer, with kafka-python.

One pair of clients for the worker's lifetime (the lag timer and the catch-up check share them),
made again after an error.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from sqlalchemy import Engine

from shared.kafka_security import client_options
from shared.readmodel.store import read_offsets
from shared.settings import Settings

Position = tuple[str, int]


@dataclass(frozen=True)
class GroupOffsets:
    """Per partition: the group's committed offset (absent when none) and the end offset."""

    committed: dict[Position, int]
    ends: dict[Position, int]

    def lag(self) -> dict[Position, int]:
        """End offset minus committed offset per partition."""
        return {p: max(0, end - self.committed.get(p, 0)) for p, end in self.ends.items()}


class OffsetReader:
    """Reads the aggregator group's committed offsets and the topic's end offsets (blocking)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings, self.topic = settings, topic
        self._lock = threading.Lock()
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def read(self) -> GroupOffsets:
        """Both offsets of every partition now; raises (and reconnects next time) on failure."""
        with self._lock:
            try:
                return self._read()
            except Exception:
                self._close()
                raise

    def _read(self) -> GroupOffsets:
        options = client_options(self.settings)
        if self._admin is None:
            self._admin = KafkaAdminClient(**options, client_id="stadspuls-lag")
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                **options, client_id="stadspuls-lag", enable_auto_commit=False
            )
        group = self.settings.aggregate_app_id
        done = self._admin.list_group_offsets({group: None}).get(group, {})
        numbers = self._consumer.partitions_for_topic(self.topic) or ()
        partitions = [TopicPartition(self.topic, p) for p in sorted(numbers)]
        ends = self._consumer.end_offsets(partitions)
        committed = {
            (tp.topic, tp.partition): done[tp].offset
            for tp in partitions
            if tp in done and done[tp].offset >= 0
        }
        return GroupOffsets(committed, {(tp.topic, tp.partition): ends[tp] for tp in partitions})

    def _close(self) -> None:
        for client in (self._admin, self._consumer):
            if client is not None:
                with contextlib.suppress(Exception):  # a broken client: nothing more to release
                    client.close()
        self._admin = self._consumer = None

    def close(self) -> None:
        """Release the clients."""
        with self._lock:
            self._close()


def snapshot(reader: OffsetReader, engine: Engine) -> tuple[GroupOffsets, dict[Position, int]]:
    """The group's offsets, then the read model's applied offsets of the same topic (blocking).

    In this order: the applied offsets only grow, so reading them second can never show a
    committed offset beyond them unless events were really skipped.
    """
    group = reader.read()
    with engine.connect() as conn:
        return group, read_offsets(conn, reader.topic)
