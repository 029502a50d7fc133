"""Kafka side of the aggregator benchmark: preload a topic, read it raw, produce at a steady rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaConsumer

from shared.domain.observation import Observation


async def _send_all(bootstrap: str, topic: str, payloads: Sequence[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        compression_type="lz4",
    )
    await producer.start()
    try:
        window: list[asyncio.Future[object]] = []
        for key, value in payloads:
            window.append(await producer.send(topic, value=value, key=key))
            if len(window) >= 20_000:
                await asyncio.gather(*window)
                window.clear()
        await asyncio.gather(*window)
    finally:
        await producer.stop()


def preload(bootstrap: str, topic: str, events: Sequence[Observation]) -> float:
    """Publish events keyed by series key (acks=all) as ingest does; return seconds taken."""
    payloads = [(e.series_key.encode(), e.to_json()) for e in events]
    started = time.perf_counter()
    asyncio.run(_send_all(bootstrap, topic, payloads))
    return time.perf_counter() - started


def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    """Every partition of a topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
    finally:
        consumer.close()


async def _consume_all(bootstrap: str, topic: str, expected: int) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        consumer.assign(
            partitions_of(bootstrap, topic)
        )  # no group: auto_offset_reset="earliest" starts at the beginning
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batch and time.perf_counter() - started > 120:
                break
            seen += sum(len(records) for records in batch.values())
        return seen, time.perf_counter() - started
    finally:
        await consumer.stop()


def raw_consume_rate(bootstrap: str, topic: str, expected: int) -> float:
    """Messages/s a plain AIOKafkaConsumer reads the whole topic at (no decoding, no group)."""
    seen, seconds = asyncio.run(_consume_all(bootstrap, topic, expected))
    if seen < expected:
        raise RuntimeError(f"raw consumer read {seen} of {expected} messages")
    return seen / seconds


async def _paced(
    bootstrap: str,
    topic: str,
    events: Sequence[Observation],
    rate: float,
    stamp: Callable[[Observation], Observation],
) -> list[Observation]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    sent: list[Observation] = []
    try:
        started = time.perf_counter()
        tick = 0.01  # send in small bursts every 10 ms: steady, not one burst per second
        for i in range(0, len(events), max(1, int(rate * tick))):
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            burst = [stamp(e) for e in events[i : i + max(1, int(rate * tick))]]
            for obs in burst:
                await producer.send(topic, value=obs.to_json(), key=obs.series_key.encode())
            sent.extend(burst)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def produce_at_rate(
    bootstrap: str,
    topic: str,
    events: Sequence[Observation],
    rate: float,
    stamp: Callable[[Observation], Observation],
) -> list[Observation]:
    """Send events at `rate`/s, each stamped (received_at = now) just before it is sent."""
    return asyncio.run(_paced(bootstrap, topic, events, rate, stamp))
