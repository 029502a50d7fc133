"""The Kafka-native ingest path: `stadspuls.observations.raw.v1` → canonical topic or DLQ.

Sources that speak Kafka write one observation JSON per message with a `source` header. Each
message is judged by the same `validate_row` as the HTTP path; a valid one is forwarded to
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

log = logging.getLogger(__name__)
_REPLACED_HEADERS = frozenset({"error", "source", "origin"})


def _problem(code: ErrorCode, message: str, field: str | None = None) -> dict[str, Any]:
    return {"field": field, "code": code.value, "message": message}


class RawValidator:
    """Consumes the raw topic and forwards or dead-letters every message."""

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
        self.raw = settings.topic("observations.raw.v1")
        self.canonical = settings.topic("observations.v1")
        self.dlq = settings.topic("observations.dlq.v1")
        self.group = f"{settings.topic_prefix}{settings.ingest_raw_group}"
        # One scope per source and poll (same clock), so its memo serves the whole poll.
        self.scopes = Scopes(catalog)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, reconnecting after Kafka failures."""
        while not stop.is_set():
            consumer = AIOKafkaConsumer(
                self.raw,
                **client_options(self.settings),
                group_id=self.group,
                client_id="stadspuls-ingest-raw",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.max_records,
            )
            try:
                await consumer.start()
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
        source = next((value for name, value in headers if name == "source"), None)
        try:
            outcome = self._check(message, source, now)
        except Exception as exc:  # a bug must not stall the stream: the message goes to the DLQ
            log.exception(
                "raw validator failed on %s:%s:%s", message.topic, message.partition, message.offset
            )
            outcome = [_problem(ErrorCode.INTERNAL_ERROR, repr(exc)[:500])]
        label = source.decode("utf-8", "replace") if source else "unknown"
        label = label if self.scopes.knows(label) else "unknown"
        if isinstance(outcome, tuple):
            self.metrics.count_rows(label, 1, 1, {})
            return True, (outcome[0], outcome[1], [])
        self.metrics.count_rows(label, 1, 0, {1: ErrorCode(outcome[0]["code"])})
        kept = [(name, value) for name, value in headers if name not in _REPLACED_HEADERS]
        origin = f"{message.topic}:{message.partition}:{message.offset}".encode()
        extra = [("error", orjson.dumps(outcome)), ("source", source or b""), ("origin", origin)]
        return False, (message.key, message.value, kept + extra)

    def _check(
        self, message: ConsumerRecord[bytes, bytes], source_header: bytes | None, now: datetime
    ) -> tuple[bytes, bytes] | list[dict[str, Any]]:
        """(series key, event JSON) of a valid message, else its errors."""
        if source_header is None:
            return [_problem(ErrorCode.MISSING_SOURCE, "the message has no `source` header")]
        source = source_header.decode("utf-8", "replace")
        if not self.scopes.knows(source):
            return [_problem(ErrorCode.UNKNOWN_SOURCE, f"no source {source!r} in the catalog")]
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
