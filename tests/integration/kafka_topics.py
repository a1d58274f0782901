"""Reading a whole topic back, to see exactly what a worker published."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    found: list[Any] = []
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        for batch in consumer.poll(timeout_ms=500).values():
            found += batch
    consumer.close()
    return found
