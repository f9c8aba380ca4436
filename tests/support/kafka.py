"""Reading a real broker's state in tests."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def log_starts(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """Each partition's first offset still held (past 0 once records before it were deleted)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: offset for tp, offset in consumer.beginning_offsets(tps).items()}
    finally:
        consumer.close()
