"""Raw produce rates: the client libraries alone sending the same events, already serialised.

Same broker, topic and producer settings as the ingest service (acks=all, idempotence, the
service's compression `STADSPULS_INGEST_COMPRESSION`, linger 5 ms): `aiokafka_send` is one `send()` per message, `aiokafka_batch` is aiokafka's batch
API (`create_batch`/`send_batch`, partition by our murmur2), `kafka_python_send` is kafka-python's
`send()` per message. Each rate counts messages acknowledged per second.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

from services.ingest.partitioning import Partitioner
from services.ingest.publisher import BATCH_BYTES
from shared.domain.observation import SCHEMA, series_key
from shared.settings import Settings

Message = tuple[bytes, bytes]


def messages(rows_of_batches: list[list[dict[str, Any]]], n: int) -> list[Message]:
    """`n` (key, value) pairs: the events ingest would publish for these rows."""
    rows = itertools.islice(itertools.cycle(r for batch in rows_of_batches for r in batch), n)
    out = []
    for row in rows:
        event = {
            "schema": SCHEMA,
            "observation_id": str(uuid.uuid4()),
            "source": "scb",
            "received_at": "2025-02-01T08:00:00.123456Z",
            "retract": False,
            **row,
        }
        key = series_key(row["indicator"], row["area"], row["period"], row["gender"])
        out.append((key.encode(), orjson.dumps(event)))
    return out


def _compression(settings: Settings) -> str | None:
    """The compression the ingest service's producer uses (`services.ingest.publisher`)."""
    return None if settings.ingest_compression == "none" else settings.ingest_compression


def _aio(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type=_compression(settings),
        linger_ms=5,
        max_batch_size=BATCH_BYTES,
    )


async def aiokafka_send(settings: Settings, topic: str, msgs: list[Message]) -> float:
    """Messages/s with one `send()` per message."""
    producer = _aio(settings)
    await producer.start()
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in msgs]
        await asyncio.gather(*futures)
        return len(msgs) / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def aiokafka_batch(
    settings: Settings, topic: str, msgs: list[Message], chunk: int = 1000
) -> float:
    """Messages/s with the batch API, `chunk` messages at a time (like one HTTP batch)."""
    producer = _aio(settings)
    await producer.start()
    partition = Partitioner()
    try:
        count = len(await producer.partitions_for(topic))
        start = time.perf_counter()
        for i in range(0, len(msgs), chunk):
            groups: dict[int, list[Message]] = defaultdict(list)
            for key, value in msgs[i : i + chunk]:
                groups[partition(key, count)].append((key, value))
            futures = []
            for p, items in groups.items():
                batch = producer.create_batch()
                for key, value in items:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        futures.append(await producer.send_batch(batch, topic, partition=p))
                        batch = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                futures.append(await producer.send_batch(batch, topic, partition=p))
            await asyncio.gather(*futures)
        return len(msgs) / (time.perf_counter() - start)
    finally:
        await producer.stop()


def kafka_python_send(settings: Settings, topic: str, msgs: list[Message]) -> float:
    """Messages/s with kafka-python's `send()` per message."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type=_compression(settings),
        linger_ms=5,
        batch_size=BATCH_BYTES,
    )
    try:
        start = time.perf_counter()
        futures = [producer.send(topic, value=value, key=key) for key, value in msgs]
        producer.flush()
        for future in futures:
            future.get()
        return len(msgs) / (time.perf_counter() - start)
    finally:
        producer.close()


def raw_rates(
    settings: Settings, rows_of_batches: list[list[dict[str, Any]]], n: int
) -> dict[str, float]:
    """The three raw rates on the canonical topic."""
    topic = settings.topic("observations.v1")
    msgs = messages(rows_of_batches, n)
    return {
        "aiokafka_send": asyncio.run(aiokafka_send(settings, topic, msgs)),
        "aiokafka_batch": asyncio.run(aiokafka_batch(settings, topic, msgs)),
        "kafka_python_send": kafka_python_send(settings, topic, msgs[: n // 4]),
    }
