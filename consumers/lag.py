"""How far each consumer group is behind its topic, as an operator asks it (`ledger status`):
the group's committed offsets against the partitions' end offsets. The committed offsets are
the workers' hint (their tracking records are the truth, see `partitions.py`), and lag only
ever reads high by the batch in hand."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


def group_lag(bootstrap: str, groups: dict[str, str]) -> dict[str, dict[str, Any]]:
    """{group: {"topic", "lag", "partitions": {partition: lag}}} for each `group -> topic`; a
    group that never committed counts the whole topic as its lag."""
    servers = bootstrap.split(",")
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="ledger-status")
    consumer = KafkaConsumer(bootstrap_servers=servers, client_id="ledger-status",
                             enable_auto_commit=False)
    try:
        answer = {}
        for group, topic in groups.items():
            partitions = _partitions(consumer, topic)
            ends = consumer.end_offsets(partitions) if partitions else {}
            committed = admin.list_group_offsets({group: None}).get(group, {})
            lags = {str(tp.partition): max(0, ends[tp] - (committed[tp].offset if tp in committed else 0))
                    for tp in partitions}
            answer[group] = {"topic": topic, "lag": sum(lags.values()), "partitions": lags}
        return answer
    finally:
        consumer.close()
        admin.close()


def newest_record(bootstrap: str, topic: str) -> Any | None:
    """The record most recently appended to `topic` (by timestamp), or None if it is empty."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), client_id="ledger-status",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = _partitions(consumer, topic)
        if not partitions:
            return None
        ends = consumer.end_offsets(partitions)
        filled = [tp for tp in partitions if ends[tp] > 0]
        if not filled:
            return None
        consumer.assign(filled)
        for tp in filled:
            consumer.seek(tp, ends[tp] - 1)
        found: list[Any] = []
        while len(found) < len(filled):
            batch = consumer.poll(timeout_ms=2000)
            if not batch:
                break
            for records in batch.values():
                found += records
        return max(found, key=lambda r: r.timestamp, default=None)
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
