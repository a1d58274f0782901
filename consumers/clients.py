"""Kafka clients configured the one way the workers need them.

Consumers never auto-commit: each worker commits an offset only after what it read is durable
in its own store. Producers are idempotent with acks from all in-sync replicas and at most five
requests in flight, so a retried send neither duplicates nor reorders records of a partition.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import TopicAlreadyExistsError

# A dead group member is noticed within this time and its partitions move to the others.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 3_000
BATCH_BYTES = 512 * 1024


def group_consumer(bootstrap: str, group: str, client_id: str, max_poll_records: int = 500,
                   ) -> KafkaConsumer:
    """A consumer-group member that starts new groups at the beginning and never auto-commits."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
    )


def idempotent_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        # A page of the relay (500 facts of ~700 bytes) fits one batch per partition: with the
        # default 16 KiB, kafka-python woke its sender and wrote a request every ~25 records
        # (a quarter of the relay's busy time, py-spy). Below the 1 MiB request limit.
        batch_size=BATCH_BYTES,
    )


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int = 4) -> None:
    """Create the topics that do not exist yet (for tests and first deployments)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="ledger-admin")
    try:
        existing = set(admin.list_topics())
        wanted = {t: {"num_partitions": partitions} for t in topics if t not in existing}
        if wanted:
            try:  # replication factor: the broker's default
                admin.create_topics(wanted, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: what we wanted
    finally:
        admin.close()
