"""Consumer lag of the aggregator's group, measured from outside the consumer with kafka-python."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from shared.settings import Settings


def consumer_lag(settings: Settings, topic: str) -> dict[tuple[str, int], int]:
    """End offset minus committed offset per partition of `topic` for the aggregator's group."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="stadspuls-lag")
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id="stadspuls-lag")
    try:
        group = settings.aggregate_app_id
        committed = admin.list_group_offsets({group: None}).get(group, {})
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        lag = {}
        for tp in partitions:
            done = committed.get(tp)
            offset = done.offset if done is not None and done.offset >= 0 else 0
            lag[(tp.topic, tp.partition)] = max(0, ends[tp] - offset)
        return lag
    finally:
        consumer.close()
        admin.close()
