"""The Kafka-native ingest path: the raw topics → canonical topic or DLQ.

Each source that speaks Kafka writes one observation JSON per message to its own topic
`stadspuls.observations.raw.v1.<source>`; the topic (which Kafka's ACLs let only that source's
principal write) says who sent it, never a header. Outside production the shared development topic
`stadspuls.observations.raw.v1` is read too, its source taken from a `source` header. Each message
is judged by the same `validate_row` as the HTTP path; a valid one is forwarded to
`stadspuls.observations.v1` keyed by its series key, anything else goes to
`stadspuls.observations.dlq.v1` unchanged with `error` (JSON list of {field, code, message}),
`source` and `origin` (topic:partition:offset) headers. Nothing a message contains can stall the
loop: every failure becomes a DLQ entry. Offsets are committed only after both topics acknowledged
(at-least-once); a redelivered message gets the same observation_id, derived from its offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError

from services.ingest.metrics import IngestMetrics
from services.ingest.ports import KafkaUnavailableError, Publisher, Record
from shared.domain.catalog import Catalog
from shared.domain.event import encode_event, raw_message_id
from shared.domain.observation import utcnow
from shared.domain.validation import ErrorCode, Scopes, ValidRow, iso_utc, validate_row
from shared.kafka_security import client_options
from shared.settings import Settings
from shared.topics import RAW, raw_topic_pattern, shared_raw_allowed, source_topic_prefix

log = logging.getLogger(__name__)
_REPLACED_HEADERS = frozenset({"error", "source", "origin"})
# New topics matching the pattern (a source added to the catalog) are seen at the next metadata
# refresh; aiokafka's default of five minutes would leave a new topic unread that long.
METADATA_MAX_AGE_MS = 30_000


def _problem(code: ErrorCode, message: str, field: str | None = None) -> dict[str, Any]:
    return {"field": field, "code": code.value, "message": message}


class RawValidator:
    """Consumes the raw topics and forwards or dead-letters every message."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        publisher: Publisher,
        metrics: IngestMetrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_records: int = 1000,
    ) -> None:
        self.settings, self.catalog, self.publisher, self.metrics = (
            settings,
            catalog,
            publisher,
            metrics,
        )
        self.clock, self.max_records = clock, max_records
        # A pattern rather than the catalog's list: a raw topic of no catalog source (a source
        # dropped from the catalog, a topic made by hand) is read too and its messages
        # dead-lettered, never left unread. With ACLs a pattern needs DESCRIBE on the topics, which
        # the ingest principal's READ on the raw topics' prefix implies.
        self.pattern = raw_topic_pattern(settings)
        self.shared = settings.topic(RAW) if shared_raw_allowed(settings) else None
        self.own_prefix = source_topic_prefix(settings)
        self.canonical = settings.topic("observations.v1")
        self.dlq = settings.topic("observations.dlq.v1")
        self.group = f"{settings.topic_prefix}{settings.ingest_raw_group}"
        # One scope per source and poll (same clock), so its memo serves the whole poll.
        self.scopes = Scopes(catalog)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, reconnecting after Kafka failures."""
        if self.shared is None:
            log.info(
                "production: the shared raw topic %s is not read (local development only); "
                "reading the sources' own topics %s<source>",
                self.settings.topic(RAW),
                self.own_prefix,
            )
        while not stop.is_set():
            consumer = AIOKafkaConsumer(
                **client_options(self.settings),
                group_id=self.group,
                client_id="stadspuls-ingest-raw",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.max_records,
                metadata_max_age_ms=METADATA_MAX_AGE_MS,
            )
            try:
                await consumer.start()
                consumer.subscribe(pattern=self.pattern)
                await self._consume(consumer, stop)
            except (KafkaError, OSError) as exc:
                log.warning("raw validator: Kafka error, reconnecting: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), 10)

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            polled = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
            if not polled:
                continue
            now = self.clock()
            forward: list[Record] = []
            dead: list[Record] = []
            offsets = {}
            for tp, messages in polled.items():
                for message in messages:
                    ok, record = self.judge(message, now)
                    (forward if ok else dead).append(record)
                offsets[tp] = messages[-1].offset + 1
            if not await self._publish(forward, dead, stop):
                return  # stopping: uncommitted messages are redelivered, with the same ids
            await consumer.commit(offsets)
            self.metrics.raw_messages.labels("forwarded").inc(len(forward))
            self.metrics.raw_messages.labels("dlq").inc(len(dead))

    async def _publish(
        self, forward: list[Record], dead: list[Record], stop: asyncio.Event
    ) -> bool:
        while not stop.is_set():
            try:
                await self.publisher.publish(self.canonical, forward)
                await self.publisher.publish(self.dlq, dead)
                return True
            except KafkaUnavailableError as exc:
                log.warning("raw validator: publishing failed, retrying: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        return False

    def judge(self, message: ConsumerRecord[bytes, bytes], now: datetime) -> tuple[bool, Record]:
        """(True, canonical record) for a valid message, else (False, DLQ record). Never raises."""
        headers = list(message.headers or ())
        claimed = next((value for name, value in headers if name == "source"), None)
        source = self.source_of(message.topic, claimed)
        try:
            outcome = self._check(message, source, claimed, now)
        except Exception as exc:  # a bug must not stall the stream: the message goes to the DLQ
            log.exception(
                "raw validator failed on %s:%s:%s", message.topic, message.partition, message.offset
            )
            outcome = [_problem(ErrorCode.INTERNAL_ERROR, repr(exc)[:500])]
        label = source if source is not None and self.scopes.knows(source) else "unknown"
        if isinstance(outcome, tuple):
            self.metrics.count_rows(label, 1, 1, {})
            return True, (outcome[0], outcome[1], [])
        self.metrics.count_rows(label, 1, 0, {1: ErrorCode(outcome[0]["code"])})
        kept = [(name, value) for name, value in headers if name not in _REPLACED_HEADERS]
        origin = f"{message.topic}:{message.partition}:{message.offset}".encode()
        extra = [
            ("error", orjson.dumps(outcome)),
            ("source", (source or "").encode()),
            ("origin", origin),
        ]
        return False, (message.key, message.value, kept + extra)

    def source_of(self, topic: str, claimed: bytes | None) -> str | None:
        """Who wrote a message: the topic's source; on the shared development topic the header's."""
        if topic == self.shared:
            return claimed.decode("utf-8", "replace") if claimed is not None else None
        return topic.removeprefix(self.own_prefix) if topic.startswith(self.own_prefix) else None

    def _check(
        self,
        message: ConsumerRecord[bytes, bytes],
        source: str | None,
        claimed: bytes | None,
        now: datetime,
    ) -> tuple[bytes, bytes] | list[dict[str, Any]]:
        """(series key, event JSON) of a valid message, else its errors."""
        shared = message.topic == self.shared
        if source is None and shared:
            return [_problem(ErrorCode.MISSING_SOURCE, "the message has no `source` header")]
        if source is None or not self.scopes.knows(source):
            what = "the `source` header" if shared else f"topic {message.topic!r}"
            return [_problem(ErrorCode.UNKNOWN_SOURCE, f"{what} names no source of the catalog")]
        if not shared and claimed is not None and claimed != source.encode():
            said = claimed.decode("utf-8", "replace")
            return [
                _problem(
                    ErrorCode.SOURCE_MISMATCH,
                    f"the `source` header says {said!r} but the message was written to the"
                    f" topic of {source!r}",
                    "source",
                )
            ]
        try:
            document = orjson.loads(message.value or b"")
        except orjson.JSONDecodeError as exc:
            return [
                _problem(
                    ErrorCode.MALFORMED_MESSAGE, f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
                )
            ]
        outcome = validate_row(document, self.scopes(source, now), 1)
        if not isinstance(outcome, ValidRow):
            return [{"field": e.field, "code": e.code.value, "message": e.message} for e in outcome]
        stamp = (
            datetime.fromtimestamp(message.timestamp / 1000, UTC) if message.timestamp > 0 else now
        )
        oid = raw_message_id(message.topic, message.partition, message.offset)
        return encode_event(outcome, source, iso_utc(stamp), oid)
