"""Tenant-affine routing on the real broker and PostgreSQL: billing sends each tenant's envelopes
to the tenant's partition (`consumers.routing.tenant_partition`, key still the license id), and
two `consume` workers of one group each take whole tenants, never each other's; a worker that
leaves hands its tenants to the other, and every event is still in the ledger once, in order.

Its own topic, consumer group and schema."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import DefaultPartitioner

from consumers.clients import ensure_topics, group_consumer, idempotent_producer
from consumers.inbound import InboundConsumer
from consumers.partitions import PartitionLoop
from consumers.routing import tenant_partition
from ledger.bootstrap import Wiring
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
PARTITIONS = 4
TENANTS = ("tenant-0", "tenant-1")  # partitions 0 and 3 of 4: apart under any assignor
DEADLINE = 60.0


def test_the_tenant_partition_is_kafkas_default_partition_of_the_tenant_id() -> None:
    # what kafka-python's producer picks for key = tenant id (murmur2, as the Java client)
    class Cluster:
        def __init__(self, n: int):
            self.n = n

        def topics(self) -> set[str]:
            return {"billing.events"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(self.n))

        available_partitions_for_topic = partitions_for_topic

    for n in (1, 2, 3, 4, 7):
        for tenant in (*TENANTS, "acme", "ünïcode-tenant"):
            key = tenant.encode("utf-8")
            assert tenant_partition(tenant, n) == DefaultPartitioner().partition(
                "billing.events", tenant, key, None, None, Cluster(n))
    assert [tenant_partition(t, PARTITIONS) for t in TENANTS] == [0, 3]  # the load's spread
    with pytest.raises(ValueError, match="partitions must be at least 1"):
        tenant_partition("acme", 0)


class Member:
    """One `consume` worker of the group in a thread, noting which tenants it took."""

    def __init__(self, wiring: Wiring, name: str):
        settings = wiring.settings
        assert settings.kafka_bootstrap is not None
        self.stop = threading.Event()
        self.tenants: set[str] = set()
        self.producer = idempotent_producer(settings.kafka_bootstrap, name)
        self.consumer = group_consumer(settings.kafka_bootstrap, settings.consumer_group, name)
        self.worker = InboundConsumer(wiring.ledger, self.producer, settings.rejected_topic)
        loop = PartitionLoop(self.consumer, settings.inbound_topic, self, self.stop, poll_ms=100)
        self.thread = threading.Thread(target=self._run, args=(loop,), daemon=True)
        self.thread.start()

    def _run(self, loop: PartitionLoop) -> None:
        try:
            loop.run()
        finally:
            self.consumer.close(autocommit=False)
            self.producer.close()

    def tracked(self, key: str) -> int | None:
        return self.worker.tracked(key)

    def take(self, key: str, records: Sequence[Any]) -> None:
        raise AssertionError("`ledger consume` takes a poll's partitions together (take_all)")

    def take_all(self, batches: Mapping[str, Sequence[Any]]) -> set[str]:
        """As `ledger consume` takes them: a poll's partitions in one transaction."""
        self.tenants |= {json.loads(r.value)["tenantid"] for b in batches.values() for r in b}
        return self.worker.take_all(batches)

    def leave(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def wait_for(what: Callable[[], bool], reason: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not what():
        assert time.monotonic() < deadline, f"gave up after {DEADLINE}s: {reason}"
        time.sleep(0.1)


def send(bootstrap: str, topic: str, events: Sequence[dict[str, Any]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for event in events:
        producer.send(topic, key=event["subject"].encode(), value=json.dumps(event).encode(),
                      partition=tenant_partition(event["tenantid"], PARTITIONS))
    producer.flush()
    producer.close()


def stories(tenant: str, first: int, count: int) -> list[dict[str, Any]]:
    """Licenses granted, then used, each license's envelopes in order."""
    out = []
    for n in range(first, first + count):
        lic = f"{tenant}-lic-{n}"
        out.append(envelope("license.granted", "2026-03-01", lic, tenant=tenant, id=f"{lic}-g",
                            customer_id=f"c-{n}", plan="pro"))
        out += [envelope("usage.recorded", f"2026-03-{2 + k:02d}", lic, tenant=tenant,
                         id=f"{lic}-u{k}", feature="api_calls", quantity=1) for k in range(5)]
    return out


def test_two_workers_take_whole_tenants_and_one_that_leaves_hands_its_tenant_over(
        wiring_factory: Callable[..., Wiring], postgres_url: str, kafka_bootstrap: str) -> None:
    names = {"inbound_topic": unique("billing"), "rejected_topic": unique("rejected"),
             "consumer_group": unique("consume")}
    ensure_topics(kafka_bootstrap, [names["inbound_topic"], names["rejected_topic"]],
                  partitions=PARTITIONS)
    wirings = [wiring_factory(postgres_url, kafka_bootstrap=kafka_bootstrap, **names)
               for _ in range(2)]
    wirings[0].ledger.ingest([catalog_envelope(tenant=t) for t in TENANTS], None)
    members = [Member(w, f"consume-{n}") for n, w in enumerate(wirings)]
    try:
        # the group's current assignment, not every one seen: a member that got all four
        # partitions before the other joined has seen four of its own and then two
        wait_for(lambda: all(m.consumer.assignment() for m in members) and
                 sum(len(m.consumer.assignment()) for m in members) == PARTITIONS,
                 "both members assigned")
        first = [e for t in TENANTS for e in stories(t, 0, 20)]
        send(kafka_bootstrap, names["inbound_topic"], first)
        store = wirings[0].store
        wait_for(lambda: store.max_position() >= len(TENANTS) + len(first), "first half recorded")
        # each tenant was taken by one worker, and the two tenants by different workers
        assert sorted(sorted(m.tenants) for m in members) == [["tenant-0"], ["tenant-1"]]

        leaving = members.pop()
        left_with = set(leaving.tenants)
        leaving.leave()
        second = [e for t in TENANTS for e in stories(t, 20, 20)]
        send(kafka_bootstrap, names["inbound_topic"], second)
        total = len(TENANTS) + len(first) + len(second)
        wait_for(lambda: store.max_position() >= total, "second half recorded by the one left")
        assert members[0].tenants == set(TENANTS) and left_with <= members[0].tenants
    finally:
        for member in members:
            member.leave()

    facts = store.facts_after(0, 10_000)
    assert len(facts) == total  # each accepted event once: nothing lost, nothing doubled
    assert len({(f.tenant, f.source_event_id) for f in facts}) == total
    sent_order = [e["id"] for e in first + second]
    for tenant in TENANTS:  # each license's events in the order billing sent them
        recorded = [f.source_event_id for f in facts if f.tenant == tenant and f.type != "catalog.published"]
        assert recorded == [i for i in sent_order if i.startswith(tenant)]
