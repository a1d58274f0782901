"""`ledger consume` against the real broker and PostgreSQL: billing events in, rejections out.

Every test has its own topics, consumer group and schema."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from kafka import KafkaProducer

from consumers.clients import ensure_topics, group_consumer, idempotent_producer
from consumers.inbound import InboundConsumer
from consumers.partitions import PartitionLoop
from ledger.bootstrap import Wiring
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique
from tests.integration.kafka_topics import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DEADLINE = 60.0


class Until:
    """A worker that stops its loop once `done()` holds (or fails the test at the deadline)."""

    def __init__(self, worker: Any, stop: threading.Event, done: Callable[[], bool]):
        self.worker, self.stop, self.done = worker, stop, done

    def tracked(self, key: str) -> int | None:
        found: int | None = self.worker.tracked(key)
        return found

    def take(self, key: str, records: Sequence[Any]) -> None:
        self.worker.take(key, records)
        if self.done():
            self.stop.set()


class CrashAfterTake(Until):
    """Dies after a batch is durable and tracked, before the Kafka offset is committed."""

    def take(self, key: str, records: Sequence[Any]) -> None:
        self.worker.take(key, records)
        raise KeyboardInterrupt("killed between the ledger commit and the offset commit")


@pytest.fixture
def kafka(kafka_bootstrap: str) -> dict[str, str]:
    names = {"inbound_topic": unique("billing"), "rejected_topic": unique("rejected"),
             "consumer_group": unique("consume")}
    ensure_topics(kafka_bootstrap, [names["inbound_topic"], names["rejected_topic"]], partitions=3)
    return names


@pytest.fixture
def wiring(wiring_factory: Callable[..., Wiring], postgres_url: str, kafka_bootstrap: str,
           kafka: dict[str, str]) -> Wiring:
    return wiring_factory(postgres_url, kafka_bootstrap=kafka_bootstrap, **kafka)


def produce(bootstrap: str, topic: str, values: Sequence[Any]) -> list[Any]:
    """Send values (dicts as JSON, bytes as they are), key = subject; their record metadata."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    sent = [producer.send(topic, key=(v.get("subject", "") if isinstance(v, dict) else "").encode(),
                          value=json.dumps(v).encode() if isinstance(v, dict) else v)
            for v in values]
    producer.flush()
    producer.close()
    return [s.get(timeout=10) for s in sent]


def consume(wiring: Wiring, done: Callable[[InboundConsumer], bool] | None = None,
            crash: bool = False, max_idle: float | None = None) -> InboundConsumer:
    settings = wiring.settings
    assert settings.kafka_bootstrap is not None
    stop = threading.Event()
    producer = idempotent_producer(settings.kafka_bootstrap, "test-consume")
    consumer = group_consumer(settings.kafka_bootstrap, settings.consumer_group, "test-consume")
    worker = InboundConsumer(wiring.ledger, producer, settings.rejected_topic)
    wrapped = (CrashAfterTake if crash else Until)(worker, stop, lambda: bool(done and done(worker)))
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    try:
        PartitionLoop(consumer, settings.inbound_topic, wrapped, stop, max_idle).run()
    except KeyboardInterrupt:
        assert crash
    finally:
        timer.cancel()
        consumer.close(autocommit=False)
        producer.close()
    assert done is None or done(worker), f"gave up after {DEADLINE}s: {worker.counts}"
    return worker


def seen(n: int) -> Callable[[InboundConsumer], bool]:
    return lambda worker: sum(worker.counts.values()) >= n


def test_consume_records_accepted_events_reports_duplicates_and_sends_rejections_with_their_origin(
        wiring: Wiring, kafka_bootstrap: str, kafka: dict[str, str]) -> None:
    grant = envelope("license.granted", "2026-03-01", "lic-1", tenant="acme", customer_id="c-1",
                     plan="pro")
    upgrade_unknown = envelope("license.upgraded", "2026-03-02", "lic-404", tenant="acme",
                               plan="enterprise")
    no_tenant = envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro")
    # Partitions are ordered, topics are not: the catalog is in force before its licenses come.
    wiring.ledger.ingest([catalog_envelope()], "acme")
    produce(kafka_bootstrap, kafka["inbound_topic"], [grant])
    sent = produce(kafka_bootstrap, kafka["inbound_topic"], [grant, upgrade_unknown, no_tenant])

    worker = consume(wiring, seen(4))

    assert worker.counts == {"accepted": 1, "duplicate": 1, "rejected": 2}
    assert [f.type for f in wiring.store.facts_after(0)] == ["catalog.published", "license.granted"]
    rejections = {json.loads(r.value)["envelope"]["subject"]: json.loads(r.value)
                  for r in read_all(kafka_bootstrap, kafka["rejected_topic"])}
    unknown = rejections["lic-404"]
    assert unknown["envelope"] == upgrade_unknown and unknown["code"] == "unknown_license"
    assert (unknown["topic"], unknown["partition"], unknown["offset"]) == \
        (kafka["inbound_topic"], sent[1].partition, sent[1].offset)
    assert rejections["lic-1"]["code"] == "invalid_event"
    assert "tenantid" in rejections["lic-1"]["message"]


def test_a_malformed_record_goes_to_the_rejected_topic_and_never_stops_the_consumer(
        wiring: Wiring, kafka_bootstrap: str, kafka: dict[str, str]) -> None:
    sent = produce(kafka_bootstrap, kafka["inbound_topic"],
                   [b"{this is not json", b"[1, 2, 3]", catalog_envelope(tenant="acme")])
    worker = consume(wiring, seen(3))
    assert worker.counts == {"rejected": 2, "accepted": 1}
    by_offset = {(m["partition"], m["offset"]): m for m in
                 (json.loads(r.value) for r in read_all(kafka_bootstrap, kafka["rejected_topic"]))}
    text = by_offset[(sent[0].partition, sent[0].offset)]
    assert text["envelope"] == "{this is not json" and text["code"] == "invalid_event"
    assert "not JSON" in text["message"]
    listed = by_offset[(sent[1].partition, sent[1].offset)]
    assert listed["envelope"] == [1, 2, 3] and "JSON object" in listed["message"]


def test_a_consumer_killed_before_committing_its_offsets_applies_nothing_twice_on_restart(
        wiring: Wiring, kafka_bootstrap: str, kafka: dict[str, str]) -> None:
    licenses = [envelope("license.granted", "2026-03-01", f"lic-{i}", tenant="acme",
                         customer_id=f"c-{i}", plan="basic") for i in range(30)]
    produce(kafka_bootstrap, kafka["inbound_topic"], [catalog_envelope(tenant="acme")])
    first = consume(wiring, crash=True)  # dies after its first batch, offsets never committed
    produce(kafka_bootstrap, kafka["inbound_topic"], [*licenses, b"garbage"])

    again = consume(wiring, lambda w: w.counts["accepted"] >= 30 and w.counts["rejected"] >= 1)

    # The restarted member starts at the tracked offsets: nothing is read twice, not even the
    # records that would come back as duplicates, and each rejection was published once.
    assert first.counts == {"accepted": 1}
    assert again.counts == {"accepted": 30, "rejected": 1}
    assert len(wiring.store.facts_after(0, 1000)) == 31
    assert len(read_all(kafka_bootstrap, kafka["rejected_topic"])) == 1
