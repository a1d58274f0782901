"""The Kafka workers' guarantees with fake clients: what becomes durable in which order."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from consumers import inbound
from consumers.inbound import InboundConsumer, original_value
from consumers.outbound import decode_fact, encode_fact, fact_of
from consumers.partitions import FencedError, Growth, PartitionLoop, SeekToTracked
from consumers.project import Projector, UnreadableMessageError
from consumers.relay import Relay
from ledger.bootstrap import Wiring
from ledger.store.eventstore import ConcurrentAppendError
from schemas.outbound import OutboundEvent
from tests.builders import catalog_envelope, envelope

TOPIC = "billing.events"
KEY = f"{TOPIC}:0"
CONTRACT_FIELDS = {"position", "tenant", "license_id", "type", "effective_at", "recorded_at",
                   "source", "source_event_id", "data", "sequence", "hash", "prev_hash", "head"}


@dataclass(frozen=True)
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = None
    topic: str = TOPIC
    partition: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


class Sent:
    def __init__(self, fails: bool):
        self.fails = fails

    def get(self, timeout: float | None = None) -> None:
        if self.fails:
            raise RuntimeError("broker refused the record")


class FakeProducer:
    def __init__(self, on_flush: Callable[[], None] = lambda: None, fails: bool = False):
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.on_flush = on_flush
        self.fails = fails

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> Sent:
        self.sent.append((topic, key, value))
        return Sent(self.fails)

    def flush(self, timeout: float | None = None) -> None:
        self.on_flush()

    def values(self) -> list[dict[str, Any]]:
        return [json.loads(v) for _, _, v in self.sent]


def records(*values: Any) -> list[Record]:
    return [Record(i, v if isinstance(v, bytes) else json.dumps(v).encode())
            for i, v in enumerate(values)]


@pytest.fixture
def wiring(wiring_factory: Callable[..., Wiring], sqlite_url: str) -> Wiring:
    return wiring_factory(sqlite_url)


def a_batch() -> list[Record]:
    return records(catalog_envelope(tenant="acme"),
                   envelope("license.granted", "2026-03-01", "lic-1", tenant="acme",
                            customer_id="c-1", plan="pro"),
                   envelope("license.upgraded", "2026-03-02", "lic-404", tenant="acme",
                            plan="enterprise"),
                   b"{not json",
                   envelope("license.granted", "2026-03-01", "lic-2", customer_id="c-2",
                            plan="pro"))


def test_rejections_reach_the_broker_before_the_batch_is_tracked(wiring: Wiring) -> None:
    tracked_at_flush: list[int | None] = []
    producer = FakeProducer(on_flush=lambda: tracked_at_flush.append(
        wiring.store.recorder.max_tracking_id(KEY)))
    InboundConsumer(wiring.ledger, producer, "rejected").take(KEY, a_batch())
    assert tracked_at_flush == [None]
    assert wiring.store.recorder.max_tracking_id(KEY) == 5


def test_a_tenant_lock_that_stays_taken_makes_the_worker_wait_not_exit(
        wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> None:
    real, busy = wiring.ledger.ingest, [2]

    def contended(*args: Any, **kwargs: Any) -> Any:
        if busy[0]:
            busy[0] -= 1
            raise ConcurrentAppendError("a tenant's write lock stayed taken")
        return real(*args, **kwargs)

    monkeypatch.setattr(inbound, "BUSY_BACKOFF", 0.0)
    monkeypatch.setattr(wiring.ledger, "ingest", contended)
    InboundConsumer(wiring.ledger, FakeProducer(), "rejected").take(KEY, a_batch())
    assert busy == [0] and wiring.store.recorder.max_tracking_id(KEY) == 5
    assert [f.type for f in wiring.store.facts_after(0)] == ["catalog.published", "license.granted"]


def test_each_rejection_carries_the_original_the_reason_and_where_it_came_from(
        wiring: Wiring) -> None:
    producer = FakeProducer()
    worker = InboundConsumer(wiring.ledger, producer, "rejected")
    worker.take(KEY, a_batch())
    unknown, not_json, no_tenant = producer.values()
    assert {t for t, _, _ in producer.sent} == {"rejected"}
    assert unknown["code"] == "unknown_license" and unknown["envelope"]["subject"] == "lic-404"
    assert (unknown["topic"], unknown["partition"], unknown["offset"]) == (TOPIC, 0, 2)
    assert not_json["code"] == "invalid_event" and not_json["envelope"] == "{not json"
    assert "not JSON" in not_json["message"] and not_json["offset"] == 3
    assert no_tenant["code"] == "invalid_event" and "tenantid" in no_tenant["message"]
    assert worker.counts == {"accepted": 2, "rejected": 3}


def test_a_record_that_is_not_utf8_keeps_its_exact_bytes_in_the_rejection(wiring: Wiring) -> None:
    producer = FakeProducer()
    InboundConsumer(wiring.ledger, producer, "rejected").take(KEY, records(b"\xff\xfe{x"))
    (rejection,) = producer.values()
    assert rejection["code"] == "invalid_event" and "UTF-8" in rejection["message"]
    assert base64.b64decode(rejection["envelope_base64"]) == b"\xff\xfe{x"


def test_a_batch_read_again_after_a_crash_records_nothing_twice_and_loses_no_rejection(
        wiring: Wiring) -> None:
    batch = a_batch()
    with pytest.raises(RuntimeError):
        InboundConsumer(wiring.ledger, FakeProducer(fails=True), "rejected").take(KEY, batch)
    assert wiring.store.recorder.max_tracking_id(KEY) is None
    producer = FakeProducer()
    again = InboundConsumer(wiring.ledger, producer, "rejected")
    again.take(KEY, batch)
    assert again.counts == {"duplicate": 2, "rejected": 3}
    assert len(producer.sent) == 3
    assert [f.subject for f in wiring.store.facts_after(0)] == ["2026-03", "lic-1"]


def test_a_batch_behind_the_tracking_record_is_fenced(wiring: Wiring) -> None:
    worker = InboundConsumer(wiring.ledger, FakeProducer(), "rejected")
    batch = a_batch()
    worker.take(KEY, batch)
    with pytest.raises(FencedError):
        worker.take(KEY, batch[:2])


def test_a_rejection_too_big_for_a_record_keeps_the_start_of_the_original(wiring: Wiring) -> None:
    huge = envelope("license.granted", "2026-03-01", "lic-1", tenant="acme", customer_id="c",
                    plan="pro", notes="x" * 2_000_000)
    producer = FakeProducer()
    InboundConsumer(wiring.ledger, producer, "rejected").take(KEY, records(huge))
    (_, _, value), = producer.sent
    message = json.loads(value)
    assert len(value) < 1_000_000 and message["envelope_truncated"] is True
    assert message["envelope"].startswith('{"specversion": "1.0"')
    assert (message["code"], message["offset"]) == ("invalid_event", 0)


def test_a_value_is_kept_as_json_when_it_is_json_and_as_text_otherwise() -> None:
    assert original_value(b'{"id": 1}') == {"id": 1}
    assert original_value(b"[1, 2]") == [1, 2]
    assert original_value(b"\xff{oops") == "\ufffd{oops"
    assert original_value(None) is None


def test_an_outbound_message_carries_every_contract_field_and_gives_the_fact_back(
        wiring: Wiring) -> None:
    wiring.ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-03-01T10:00:00.5Z",
                                                       customer_id="c", plan="pro", seats=3)],
                         "acme")
    fact = wiring.store.facts_after(0)[-1]
    key, value = encode_fact(fact)
    message = json.loads(value)
    assert CONTRACT_FIELDS <= set(message)
    assert message["head"] == {"sequence": fact.sequence, "hash": fact.hash}
    assert message["effective_at"] == "2026-03-01T10:00:00.500000Z"
    assert message["license_id"] == "lic-1" and message["position"] == fact.position
    assert decode_fact(encode_fact(fact)[1]) == fact
    assert fact_of(OutboundEvent.model_validate({**message, "added_later": 1})) == fact


def test_the_relay_records_its_position_only_after_the_broker_acknowledged(
        wiring: Wiring) -> None:
    wiring.ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-03-01",
                                                       customer_id="c", plan="pro")], "acme")
    refused = Relay(wiring.store, FakeProducer(fails=True), "out")
    with pytest.raises(RuntimeError):
        refused.publish_next()
    assert refused.position() == 0
    producer = FakeProducer()
    relay = Relay(wiring.store, producer, "out")
    assert relay.publish_next() == 2 and relay.publish_next() == 0
    assert relay.position() == wiring.store.facts_after(0)[-1].position
    assert [(k, m["type"]) for (_, k, _), m in zip(producer.sent, producer.values(), strict=True)] \
        == [(b"catalog:acme", "catalog.published"), (b"lic-1", "license.granted")]


def test_the_relay_resumes_after_the_last_acknowledged_position(wiring: Wiring) -> None:
    ledger = wiring.ledger
    ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-03-01", customer_id="c",
                                                plan="pro")], "acme")
    Relay(wiring.store, FakeProducer(), "out").publish_next()
    ledger.ingest([envelope("license.suspended", "2026-03-05", reason="payment_failed")], "acme")
    producer = FakeProducer()
    Relay(wiring.store, producer, "out").publish_next()
    assert [m["type"] for m in producer.values()] == ["license.suspended"]


def test_the_relay_waits_out_a_broker_outage_instead_of_exiting(wiring: Wiring) -> None:
    wiring.ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-03-01",
                                                       customer_id="c", plan="pro")], "acme")
    outage = iter([True, True])

    def flush() -> None:
        if next(outage, False):
            raise KafkaTimeoutError("Timeout waiting for future")

    producer = FakeProducer(on_flush=flush)
    relay = Relay(wiring.store, producer, "out")
    stop = threading.Event()
    threading.Timer(10, stop.set).start()  # a bound, should the relay never finish
    relay.run(stop=stop, max_idle=0.3, wait=0.05)
    stop.set()
    assert relay.position() == wiring.store.facts_after(0)[-1].position
    assert relay.published == 2 and len(producer.sent) == 6  # the page went out three times


class FakeModels:
    def __init__(self) -> None:
        self.applied: dict[int, Any] = {}
        self.tracking: dict[str, int] = {}

    def apply(self, facts: Any, *, tracking: tuple[str, int] | None = None,
              trackings: Any = ()) -> int:
        new = [f for f in facts if f.position not in self.applied]
        self.applied.update((f.position, f) for f in new)
        for key, value in [*([tracking] if tracking else []), *trackings]:
            self.tracking[key] = max(value, self.tracking.get(key, 0))
        return len(new)

    def tracked(self, key: str) -> int | None:
        return self.tracking.get(key)


def test_the_projector_applies_each_fact_once_with_its_partition_offset(wiring: Wiring) -> None:
    wiring.ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-03-01",
                                                       customer_id="c", plan="pro")], "acme")
    messages = [Record(i, encode_fact(f)[1]) for i, f in enumerate(wiring.store.facts_after(0))]
    models = FakeModels()
    projector = Projector(models)
    projector.take("out:0", messages)
    projector.take("out:0", messages)
    assert projector.applied == 2 and models.tracking == {"out:0": 2}
    with pytest.raises(UnreadableMessageError, match="out:0 offset 7"):
        projector.take("out:0", [Record(7, b'{"hello": "world"}')])


class FakeConsumer:
    """Assigns partition 0 on subscribe, then serves the batches it was given."""

    def __init__(self, *batches: list[Record]):
        self.batches = list(batches)
        self.sought: list[tuple[int, int]] = []
        self.committed: list[tuple[int, int]] = []
        self.tp = TopicPartition(TOPIC, 0)

    def subscribe(self, topics: list[str], listener: SeekToTracked) -> None:
        listener.on_partitions_assigned({self.tp})

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append((tp.partition, offset))

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        return {self.tp: self.batches.pop(0)} if self.batches else {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.committed += [(tp.partition, o.offset) for tp, o in offsets.items()]


class ListWorker:
    def __init__(self, tracked: int | None, fenced_at: int | None = None):
        self.position = tracked
        self.taken: list[int] = []
        self.fenced_at = fenced_at

    def tracked(self, key: str) -> int | None:
        return self.position

    def take(self, key: str, batch: Any) -> None:
        if batch[0].offset == self.fenced_at:
            self.position = 10
            raise FencedError("someone else is ahead")
        self.taken += [r.offset for r in batch]


def test_a_partition_starts_at_its_tracked_offset_and_commits_after_each_batch() -> None:
    consumer = FakeConsumer(records(1, 2, 3, 4)[2:], records(1, 2, 3, 4, 5, 6))
    worker = ListWorker(tracked=3)
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1).run()
    assert consumer.sought == [(0, 3)]
    assert worker.taken == [3, 4, 5]  # offset 2 lies below the tracking record: already taken
    assert consumer.committed == [(0, 4), (0, 6)]


def test_a_fenced_partition_is_sought_to_the_tracking_record_and_not_committed() -> None:
    consumer = FakeConsumer(records(1, 2))
    PartitionLoop(consumer, TOPIC, ListWorker(tracked=None, fenced_at=0), max_idle=0,
                  poll_ms=1).run()
    assert consumer.sought == [(0, 10)] and consumer.committed == []


class BatchWorker(ListWorker):
    def __init__(self) -> None:
        super().__init__(tracked=None)
        self.batches: list[list[int]] = []

    def take(self, key: str, batch: Any) -> None:
        self.batches.append([r.offset for r in batch])


def test_a_backlog_is_taken_in_batches_that_grow_to_the_size_bound() -> None:
    fetched = records(*range(7))
    consumer = FakeConsumer(fetched[:2], fetched[1:4], fetched[4:6], fetched[6:])
    worker = BatchWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=4)).run()
    # polls kept coming while the batch was short of 4; the re-fetched offset 1 was taken once
    assert worker.batches == [[0, 1, 2, 3], [4, 5, 6]]
    assert consumer.committed == [(0, 4), (0, 7)]


def test_a_poll_larger_than_the_size_bound_is_taken_in_batches_of_that_size_then_committed_once(
        ) -> None:
    consumer = FakeConsumer(records(*range(5)))
    worker = BatchWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=2)).run()
    assert worker.batches == [[0, 1], [2, 3], [4]]
    assert consumer.committed == [(0, 5)]  # one commit per poll, after all its batches


def test_a_light_load_is_taken_at_once_when_the_next_poll_brings_nothing() -> None:
    consumer = FakeConsumer(records(1, 2))
    worker = BatchWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=500)).run()
    assert worker.batches == [[0, 1]] and consumer.committed == [(0, 2)]


def test_a_worker_without_a_kafka_bootstrap_fails_with_a_one_line_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_KAFKA_BOOTSTRAP"}
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = subprocess.run([str(Path(sys.executable).with_name("ledger")), "consume"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("ledger: LEDGER_KAFKA_BOOTSTRAP is not set;")
    assert done.stderr.count("\n") == 1


class TwoPartitions(FakeConsumer):
    """One poll brings partitions 0 and 1; every commit call is kept as one entry."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[int, int]] = []
        self.served = False

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        if self.served:
            return {}
        self.served = True
        later = [Record(5 + r.offset, r.value) for r in records(5, 6)]  # offsets 5 and 6
        return {self.tp: records(0, 1), TopicPartition(TOPIC, 1): later}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.calls.append({tp.partition: o.offset for tp, o in offsets.items()})


def test_every_partition_of_a_poll_is_committed_in_one_call_after_all_its_batches() -> None:
    consumer = TwoPartitions()
    worker = BatchWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1).run()
    assert worker.batches == [[0, 1], [5, 6]]
    assert consumer.calls == [{0: 2, 1: 7}]


def test_a_fenced_partition_is_left_out_of_the_poll_s_commit_while_the_others_go_in() -> None:
    consumer = TwoPartitions()
    worker = ListWorker(tracked=None, fenced_at=0)
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1).run()
    assert worker.taken == [5, 6] and consumer.calls == [{1: 7}]
    assert consumer.sought == [(0, 10)]


def test_several_partitions_batches_are_judged_in_one_transaction_then_each_is_tracked(
        wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[int] = []
    real = wiring.ledger.ingest
    monkeypatch.setattr(wiring.ledger, "ingest",
                        lambda raws, *a, **k: judged.append(len(raws)) or real(raws, *a, **k))
    other = [Record(r.offset, r.value, partition=1) for r in records(
        envelope("license.granted", "2026-03-01", "lic-9", tenant="acme", customer_id="c-9",
                 plan="pro"), b"[1]")]
    producer = FakeProducer()
    worker = InboundConsumer(wiring.ledger, producer, "rejected")
    assert worker.take_all({KEY: a_batch(), f"{TOPIC}:1": other}) == set()
    assert judged == [7]  # one judgement, one ledger transaction, for both partitions
    assert [wiring.store.recorder.max_tracking_id(k) for k in (KEY, f"{TOPIC}:1")] == [5, 2]
    assert worker.counts == {"accepted": 3, "rejected": 4}
    assert {(m["partition"], m["offset"]) for m in producer.values()} == {(0, 2), (0, 3), (0, 4), (1, 1)}


def test_a_partition_tracked_beyond_its_batch_is_reported_fenced_and_the_others_advance(
        wiring: Wiring) -> None:
    worker = InboundConsumer(wiring.ledger, FakeProducer(), "rejected")
    worker.take(f"{TOPIC}:1", records(catalog_envelope(tenant="acme"), b"x", b"y"))
    fenced = worker.take_all({KEY: a_batch(), f"{TOPIC}:1": records(b"x")})
    assert fenced == {f"{TOPIC}:1"}
    assert wiring.store.recorder.max_tracking_id(KEY) == 5
    assert wiring.store.recorder.max_tracking_id(f"{TOPIC}:1") == 3


class Highwater(TwoPartitions):
    def highwater(self, tp: TopicPartition) -> int | None:
        return None


def test_measured_batches_of_a_worker_that_takes_one_partition_at_a_time_go_one_by_one() -> None:
    from consumers.metrics import MeasuredPartitions, WorkerMetrics

    consumer, worker = Highwater(), BatchWorker()
    metrics = WorkerMetrics("project")
    PartitionLoop(consumer, TOPIC, MeasuredPartitions(worker, consumer, metrics), max_idle=0,
                  poll_ms=1).run()
    assert worker.batches == [[0, 1], [5, 6]] and consumer.calls == [{0: 2, 1: 7}]
    assert metrics.registry.get_sample_value("ledger_worker_batch_size_count",
                                             {"worker": "project"}) == 2


def test_a_partition_fenced_in_a_later_batch_of_a_poll_commits_nothing_and_takes_no_more() -> None:
    # Batches of 2 out of one poll of 6: the second is fenced (another member is ahead), so the
    # first's offset must not be committed (it would move that member's hint back) and the third
    # is not taken.
    consumer = FakeConsumer(records(*range(6)))
    worker = ListWorker(tracked=None, fenced_at=2)
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=2)).run()
    assert worker.taken == [0, 1]
    assert consumer.committed == [] and consumer.sought == [(0, 10)]


class Rebalancing(TwoPartitions):
    """The first poll brings partitions 0 and 1; each later poll is scripted: what it does to
    the assignment (through the listener, as the client does) and what it returns."""

    def __init__(self, *script: Callable[[Rebalancing], dict[TopicPartition, list[Record]]]):
        super().__init__()
        self.owned = {self.tp, TopicPartition(TOPIC, 1)}
        self.script = list(script)

    def subscribe(self, topics: list[str], listener: SeekToTracked) -> None:
        self.listener = listener
        listener.on_partitions_assigned(set(self.owned))

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        if not self.served:
            return super().poll(timeout_ms)
        return self.script.pop(0)(self) if self.script else {}

    def lose(self, *partitions: int) -> None:
        """The member evicted (`on_partitions_lost`): the partitions leave the assignment at
        once, positions and all."""
        lost = {tp for tp in self.owned if tp.partition in partitions}
        self.listener.on_partitions_lost(lost)
        self.owned -= lost


class RebalancingConsumer(Rebalancing):
    """The poll's commit is refused (a rebalance under way); the rejoin then revokes partition 1."""

    def __init__(self) -> None:
        super().__init__(self.partition_1_to_another_member)

    @staticmethod
    def partition_1_to_another_member(consumer: Rebalancing) -> dict[TopicPartition, list[Record]]:
        revoked = {TopicPartition(TOPIC, 1)}
        consumer.listener.on_partitions_revoked(revoked)
        consumer.owned -= revoked
        return {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if not self.calls:
            self.calls.append({})
            from kafka.errors import CommitFailedError
            raise CommitFailedError("the group is rebalancing")
        super().commit(offsets)


def test_a_commit_refused_in_a_rebalance_is_sent_again_for_the_partitions_still_owned() -> None:
    consumer = RebalancingConsumer()
    PartitionLoop(consumer, TOPIC, BatchWorker(), max_idle=0, poll_ms=1).run()
    # partition 0 stays ours: its offset is committed after the rejoin; partition 1's is not
    # (its new owner commits from its tracking record)
    assert consumer.calls == [{}, {0: 2}]


class KeyedWorker(BatchWorker):
    def take(self, key: str, batch: Any) -> None:
        self.batches.append([key, *(r.offset for r in batch)])  # type: ignore[list-item]


def more_of_0(offsets: range) -> dict[TopicPartition, list[Record]]:
    return {TopicPartition(TOPIC, 0): [Record(o, b"{}") for o in offsets]}


def test_partitions_lost_while_a_batch_grows_are_neither_taken_nor_committed() -> None:
    # the client's eviction: everything lost at once, and the poll brings nothing
    consumer, worker = Rebalancing(lambda c: c.lose(0, 1) or {}), KeyedWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=10)).run()
    assert worker.batches == [] and consumer.calls == []


def test_of_a_grown_batch_only_the_partitions_the_client_no_longer_holds_are_left_out() -> None:
    # the rule on its own (the client as configured loses all or none; a cooperative
    # rebalance would take some): partition 1 gone, partition 0 kept with what it brought
    consumer = Rebalancing(lambda c: c.lose(1) or more_of_0(range(2, 4)))
    worker = KeyedWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=10)).run()
    # the client forgot partition 1's position: whoever gets it next reads it from its
    # tracking record or the committed offset
    assert worker.batches == [[KEY, 0, 1, 2, 3]]
    assert consumer.calls == [{0: 4}]


def revoke_all(consumer: Rebalancing) -> dict[TopicPartition, list[Record]]:
    """The client's default (eager) rebalance begins: every partition revoked, still listed
    with its position until the group has re-formed; the poll fetches nothing."""
    consumer.listener.on_partitions_revoked(set(consumer.owned))
    return {}


def rejoined(consumer: Rebalancing) -> dict[TopicPartition, list[Record]]:
    """The group re-formed with both partitions ours again, positions kept."""
    consumer.listener.on_partitions_assigned(set(consumer.owned))
    return more_of_0(range(2, 4))


def test_partitions_revoked_but_still_held_while_a_batch_grows_are_taken() -> None:
    consumer = Rebalancing(revoke_all, rejoined, lambda c: more_of_0(range(4, 6)))
    worker = KeyedWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=10)).run()
    # taken, not left out: a partition the client keeps keeps its position past them
    assert worker.batches == [[KEY, 0, 1], [f"{TOPIC}:1", 5, 6], [KEY, 2, 3, 4, 5]]
    assert consumer.calls == [{0: 2, 1: 7}, {0: 6}]


def test_a_batch_stops_growing_at_a_poll_that_moved_partitions() -> None:
    # a poll of the gather completes a rebalance and brings records: the batch is taken as
    # it is then, and what the client fetches after comes as the next batch
    consumer = Rebalancing(rejoined, lambda c: more_of_0(range(4, 6)))
    worker = KeyedWorker()
    PartitionLoop(consumer, TOPIC, worker, max_idle=0, poll_ms=1, growth=Growth(size=10)).run()
    assert worker.batches == [[KEY, 0, 1, 2, 3], [f"{TOPIC}:1", 5, 6], [KEY, 4, 5]]
    assert consumer.calls == [{0: 4, 1: 7}, {0: 6}]


def test_with_tracing_on_a_poll_s_partitions_are_still_judged_in_one_transaction(
        wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger import tracing

    judged: list[int] = []
    real = wiring.ledger.ingest
    monkeypatch.setattr(wiring.ledger, "ingest",
                        lambda raws, *a, **k: judged.append(len(raws)) or real(raws, *a, **k))
    consumer = TwoPartitions()
    worker = InboundConsumer(wiring.ledger, FakeProducer(), "rejected")
    PartitionLoop(consumer, TOPIC, tracing.traced_partitions(worker, "ledger consume"),
                  max_idle=0, poll_ms=1).run()
    assert judged == [4]  # both partitions' batches, one judgement and one transaction
    assert consumer.calls == [{0: 2, 1: 7}]
    assert worker.counts == {"rejected": 4}


def test_a_traced_worker_that_takes_one_partition_at_a_time_still_does() -> None:
    from ledger import tracing

    consumer, worker = TwoPartitions(), BatchWorker()
    PartitionLoop(consumer, TOPIC, tracing.traced_partitions(worker, "read models apply"),
                  max_idle=0, poll_ms=1).run()
    assert worker.batches == [[0, 1], [5, 6]] and consumer.calls == [{0: 2, 1: 7}]


def test_a_poll_s_partitions_are_projected_in_one_transaction_with_each_tracking_record(
        wiring: Wiring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from projections.readmodel import ReadModels

    wiring.ledger.ingest([catalog_envelope(), *(envelope("license.granted", "2026-03-01", f"lic-{n}",
                                                         customer_id=f"c-{n}", plan="pro")
                                                for n in range(4))], "acme")
    facts = wiring.store.facts_after(0)
    models = ReadModels.open(f"sqlite:///{tmp_path / 'read.db'}")
    transactions: list[int] = []
    real = models.db.transaction
    monkeypatch.setattr(models.db, "transaction", lambda: transactions.append(1) or real())
    batches = {"out:0": [Record(7 + i, encode_fact(f)[1]) for i, f in enumerate(facts[:2])],
               "out:1": [Record(i, encode_fact(f)[1]) for i, f in enumerate(facts[2:])]}
    projector = Projector(models)
    assert projector.take_all(batches) == set()
    assert len(transactions) == 1
    assert (models.tracked("out:0"), models.tracked("out:1")) == (9, 3)
    assert projector.applied == 5 and models.watermark() == 5  # the changes counted once
    assert projector.take_all(batches) == set() and projector.applied == 5  # applied once
    assert models.license_state("acme", "lic-3", facts[-1].recorded_at) is not None
    models.close()
