"""Publishing to Kafka with aiokafka: acks=all, idempotence, compression, keyed by series key.

Rows are grouped by partition and appended to aiokafka record batches (`create_batch` /
`send_batch`): in the benchmark that path produces 1.5–2 times faster than one `send()` per
message. Concurrent calls are committed together (group commit). `publish` returns once Kafka
acknowledged every record of the call; otherwise it raises, at the latest when the publish timeout
has passed since the call, however the time went (connecting, metadata, rounds ahead in line):
`KafkaUnavailableError` when no record of the call was handed to a producer (nothing can have
reached Kafka), `PublishOutcomeUnknownError` when they were (some or all may have been written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.ingest.partitioning import Partitioner
from services.ingest.ports import KafkaUnavailableError, PublishOutcomeUnknownError, Record
from shared.kafka_security import client_options
from shared.settings import Settings

log = logging.getLogger(__name__)

BATCH_BYTES = 512 * 1024


@dataclass(eq=False)
class _Entry:
    """One `publish` call waiting for its round; `handed` once its records went to a producer."""

    topic: str
    records: Sequence[Record]
    deadline: float  # loop time
    future: asyncio.Future[None]
    handed: bool = False


class KafkaPublisher:
    """The publisher port on Kafka: one idempotent producer for the service, (re)connected on demand."""

    def __init__(self, settings: Settings, *, client_id: str = "stadspuls-ingest") -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: Any = None
        self._lock = asyncio.Lock()
        self._partition = Partitioner()
        self._pending: list[_Entry] = []
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.timeout = settings.ingest_publish_timeout_seconds

    def _new_producer(self) -> Any:
        compression = self._settings.ingest_compression
        return AIOKafkaProducer(
            **client_options(self._settings),
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            compression_type=None if compression == "none" else compression,
            linger_ms=self._settings.ingest_linger_ms,
            max_batch_size=BATCH_BYTES,
            max_request_size=4 * BATCH_BYTES,
            request_timeout_ms=int(max(self.timeout, 1) * 1000),
            retry_backoff_ms=100,
        )

    async def _ready_producer(self, deadline: float) -> Any:
        async with self._lock:
            if self._producer is None:
                if not self._settings.kafka_bootstrap:
                    raise KafkaUnavailableError("STADSPULS_KAFKA_BOOTSTRAP is not set")
                producer = self._new_producer()
                remaining = max(deadline - asyncio.get_running_loop().time(), 0.01)
                try:
                    await asyncio.wait_for(producer.start(), remaining)
                except (TimeoutError, KafkaError, OSError) as exc:
                    await _abandon(producer)
                    raise KafkaUnavailableError(f"cannot connect to Kafka: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def start(self) -> None:
        """Connect now if Kafka is there; otherwise the first publish connects."""
        try:
            await self._ready_producer(asyncio.get_running_loop().time() + self.timeout)
        except KafkaUnavailableError as exc:
            log.warning("Kafka not reachable at startup; will retry on demand: %s", exc)

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Send `records` to `topic` and return once Kafka acknowledged all of them (acks=all).

        Concurrent calls are committed together: while one round of batches is in flight, new
        records wait and then go out in one produce request per partition (group commit). The
        publish timeout counts from this call, whatever it is spent on.
        """
        if not records:
            return
        loop = asyncio.get_running_loop()
        entry = _Entry(topic, records, loop.time() + self.timeout, loop.create_future())
        self._pending.append(entry)
        self._wakeup.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_forever())
        try:
            await asyncio.wait_for(asyncio.shield(entry.future), self.timeout)
        except TimeoutError:
            raise _failure(entry, f"Kafka did not acknowledge in {self.timeout:g}s") from None
        finally:
            entry.future.cancel()  # a no-op once answered; else the round skips or ignores it

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            entries = [e for e in self._pending if not e.future.done()]
            self._pending = []
            if not entries:
                continue
            deadline = max(e.deadline for e in entries)
            producer = None
            try:
                producer = await self._ready_producer(deadline)
                remaining = deadline - asyncio.get_running_loop().time()
                await asyncio.wait_for(self._send_round(producer, entries), max(remaining, 0))
            except Exception as exc:  # whatever failed, every caller of the round gets an answer
                log.warning("publishing %d batches failed: %r", len(entries), exc)
                for entry in entries:
                    if not entry.future.done():
                        entry.future.set_exception(_failure(entry, f"Kafka failed: {exc!r}"))
                if producer is not None:
                    self._discard(producer)
                continue
            for entry in entries:
                if not entry.future.done():
                    entry.future.set_result(None)

    async def _send_round(self, producer: Any, entries: list[_Entry]) -> None:
        counts = {t: len(await producer.partitions_for(t)) for t in {e.topic for e in entries}}
        # No await from here to the hand-over: a call that timed out meanwhile is left out, so its
        # answer "nothing was accepted" stays true.
        by_partition: dict[tuple[str, int], list[Record]] = defaultdict(list)
        for entry in entries:
            if entry.future.done():
                continue
            entry.handed = True
            for record in entry.records:
                partition = self._partition(record[0], counts[entry.topic])
                by_partition[(entry.topic, partition)].append(record)
        submitted = await asyncio.gather(
            *(self._submit(producer, tp, items) for tp, items in by_partition.items())
        )
        await asyncio.gather(*(f for futures in submitted for f in futures))

    async def _submit(self, producer: Any, tp: tuple[str, int], items: list[Record]) -> list[Any]:
        """Queue `items` for one partition as few record batches as fit; return their futures."""
        futures = []
        batch = producer.create_batch()
        for key, value, headers in items:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(await producer.send_batch(batch, tp[0], partition=tp[1]))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    raise KafkaError(
                        f"a record of {len(value or b'')} bytes does not fit in a batch"
                    )
        futures.append(await producer.send_batch(batch, tp[0], partition=tp[1]))
        return futures

    def _discard(self, producer: Any) -> None:
        """Stop using `producer` now; close it in the background (the next round must not wait)."""
        if self._producer is producer:
            self._producer = None
        task = asyncio.create_task(_abandon(producer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def ping(self, seconds: float = 2.0) -> bool:
        """Whether Kafka answers a metadata request now."""
        try:
            producer = await self._ready_producer(asyncio.get_running_loop().time() + seconds)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), seconds)
        except (KafkaUnavailableError, TimeoutError, KafkaError, OSError):
            return False
        return True

    async def stop(self) -> None:
        """Flush what is pending and disconnect."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._closing:
            await asyncio.wait(self._closing, timeout=self.timeout)
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), self.timeout)
            except (TimeoutError, KafkaError, OSError):
                await _abandon(producer)


def _failure(entry: _Entry, why: str) -> KafkaUnavailableError:
    if entry.handed:
        return PublishOutcomeUnknownError(
            f"{why}; the records were sent, some may have been written"
        )
    return KafkaUnavailableError(f"{why}; no record was sent")


async def _abandon(producer: Any) -> None:
    """Close a producer WITHOUT delivering what it still holds.

    An idempotent aiokafka producer retries undelivered batches forever; once the caller has been
    answered, queued batches must not trickle in minutes later, so the sender task is cancelled and
    pending batches are failed before the connections close. What a broker already received may
    still be written: that is why such a failure is answered "outcome unknown".
    """
    sender = getattr(producer, "_sender", None)
    try:
        if sender is not None and sender.sender_task is not None:
            await sender.close()
        accumulator = producer._message_accumulator
        accumulator.fail_all(KafkaUnavailableError("producer abandoned"))
        queued = [b for batches in accumulator._batches.values() for b in batches]
        for batch in [*queued, *accumulator._pending_batches]:
            for future in (batch.future, batch._drain_waiter):
                if future.done() and not future.cancelled():
                    future.exception()  # nobody awaits these any more: mark the failure as seen
        producer._closed = True
        await producer.client.close()
    except Exception:  # closing a broken client must not hide the original failure
        log.debug("error while abandoning a producer", exc_info=True)
