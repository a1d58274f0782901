"""The whole Kafka pipeline, driven from outside as a billing system would drive it.

`ledger consume`, `ledger relay` and two `ledger project` processes run against the real broker
and PostgreSQL. A billing system publishes a catalog, then a few thousand envelopes for hundreds
of licenses (duplicates, late records and bad records mixed in); the read models must come to
equal a replay of the ledger (`ledger projections verify`). Then one projection worker is killed
with SIGKILL mid-stream while billing keeps publishing, and they must converge again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumers.clients import ensure_topics
from ledger.bootstrap import Wiring
from projections.readmodel import ReadModels
from tests.builders import CATALOG
from tests.conftest import unique

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LEDGER = Path(sys.executable).with_name("ledger")
TENANT = "acme"
START = datetime(2026, 1, 1, tzinfo=UTC)
PLANS = ["basic", "pro", "enterprise"]


def at(days: float) -> str:
    return (START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Billing:
    """A billing system's stream: license stories interleaved, each in its own order."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.ids = 0

    def envelope(self, type_: str, day: float, subject: str, **data: Any) -> dict[str, Any]:
        self.ids += 1
        return {"specversion": "1.0", "id": f"inv-{self.ids}", "source": "billing/e2e",
                "type": type_, "time": at(day), "subject": subject, "tenantid": TENANT,
                "data": data}

    def story(self, n: int) -> list[dict[str, Any]]:
        """One license's life: mostly valid, now and then breaking a rule, sometimes late."""
        rng, lic, day = self.rng, f"lic-{n:04d}", float(30 + n % 60)
        tier, seats, suspended = rng.randrange(2), rng.randint(2, 5), False
        users: list[str] = []
        ends = day + 365 if rng.random() < 0.5 else None
        grant: dict[str, Any] = {"customer_id": f"cust-{n % 120}", "plan": PLANS[tier],
                                 "seats": seats, "region": rng.choice(["DE", "US", "KP"])}
        if ends is not None:
            grant["ends_at"] = at(ends)
        events = [self.envelope("license.granted", day, lic, **grant)]
        for _ in range(rng.randint(4, 10)):
            day += rng.uniform(0.5, 20)
            roll = rng.random()
            if roll < 0.3:
                events.append(self.envelope("usage.recorded", day, lic, feature="api_calls",
                                            quantity=rng.randint(1, 400)))
            elif roll < 0.45:
                users.append(f"u-{len(users)}")
                events.append(self.envelope("seat.assigned", day, lic, user_id=users[-1]))
            elif roll < 0.5 and users:
                events.append(self.envelope("seat.released", day, lic, user_id=users.pop()))
            elif roll < 0.6 and tier < 2:
                tier += 1
                events.append(self.envelope("license.upgraded", day, lic, plan=PLANS[tier]))
            elif roll < 0.65:
                events.append(self.envelope("license.downgraded", day, lic, plan="basic"))
            elif roll < 0.75:
                seats += rng.choice([-1, 1, 2])
                events.append(self.envelope("license.seats_changed", day, lic, seats=max(seats, 1)))
            elif roll < 0.85:
                kind = "license.reinstated" if suspended else "license.suspended"
                suspended = not suspended
                data = {} if kind == "license.reinstated" else {"reason": "payment_failed"}
                events.append(self.envelope(kind, day, lic, **data))
            elif roll < 0.9 and ends is not None:
                ends += 365
                events.append(self.envelope("license.renewed", day, lic, ends_at=at(ends)))
            elif roll < 0.95:  # late: effective before what was already sent
                events.append(self.envelope("license.suspended", day - 15, lic, reason="late_payment"))
            else:
                events.append(self.envelope("license.revoked", day, lic, reason="fraud"))
        return events

    def stream(self, licenses: range) -> list[Any]:
        """Stories interleaved at random; duplicates and bad records mixed in."""
        pending = [self.story(n) for n in licenses]
        out: list[Any] = []
        while pending:
            story = self.rng.choice(pending)
            event = story.pop(0)
            out.append(event)
            if self.rng.random() < 0.04:
                out.append(event)  # delivered twice
            if self.rng.random() < 0.02:
                out.append(self.bad(event))
            if not story:
                pending.remove(story)
        return out

    def bad(self, event: dict[str, Any]) -> Any:
        broken = self.rng.choice(["json", "zone", "plan", "field", "tenant"])
        if broken == "json":
            return b'{"specversion": "1.0", "id": '
        self.ids += 1
        copy = {**event, "id": f"inv-{self.ids}"}
        if broken == "zone":
            return {**copy, "time": copy["time"].rstrip("Z")}
        if broken == "plan":
            return {**copy, "type": "license.upgraded", "data": {"plan": "platinum"}}
        if broken == "field":
            return {k: v for k, v in copy.items() if k != "subject"}
        return {k: v for k, v in copy.items() if k != "tenantid"}


class Pipeline:
    def __init__(self, env: dict[str, str], logs: Path, bootstrap: str, topic: str):
        self.env, self.logs, self.topic = env, logs, topic
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.sent: list[tuple[Any, Any]] = []

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen([str(LEDGER), *args], env=self.env,
                                                cwd=self.logs, stdout=log, stderr=log)

    def publish(self, values: list[Any], pause: float = 0.0, chunk: int = 200,
                between: Callable[[int], None] = lambda _: None) -> None:
        for i in range(0, len(values), chunk):
            futures = [(v, self.producer.send(self.topic, key=_key(v), value=_value(v)))
                       for v in values[i:i + chunk]]
            self.producer.flush()
            self.sent += [(v, f.get(timeout=10)) for v, f in futures]
            between(i // chunk)
            time.sleep(pause)

    def verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LEDGER), "projections", "verify"], env=self.env,
                              cwd=self.logs, capture_output=True, text=True, timeout=60)

    def alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        assert not dead, f"workers died: {dead}; see {self.logs}"


def _key(value: Any) -> bytes:
    return str(value.get("subject", "-")).encode() if isinstance(value, dict) else b"-"


def _value(value: Any) -> bytes:
    return json.dumps(value).encode() if isinstance(value, dict) else value


def wait_until(what: str, check: Callable[[], bool], deadline: float, pipeline: Pipeline) -> None:
    until = time.monotonic() + deadline
    while not check():
        pipeline.alive()
        assert time.monotonic() < until, f"{what}: not within {deadline}s; logs in {pipeline.logs}"
        time.sleep(0.5)


def ingested(wiring: Wiring, bootstrap: str, topic: str) -> Callable[[], bool]:
    """True once the ledger's tracking records reach the end of every inbound partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]

    def check() -> bool:
        ends = consumer.end_offsets(partitions)
        return all((wiring.store.recorder.max_tracking_id(f"{topic}:{tp.partition}") or 0) >= end
                   for tp, end in ends.items())
    return check


def converged(pipeline: Pipeline, wiring: Wiring, bootstrap: str, deadline: float) -> None:
    wait_until("consume took every record", ingested(wiring, bootstrap, pipeline.topic), deadline,
               pipeline)
    outcome: list[subprocess.CompletedProcess[str]] = []

    def verified() -> bool:
        outcome.append(pipeline.verify())
        return outcome[-1].returncode == 0

    wait_until("read models equal a replay", verified, deadline, pipeline)
    assert outcome[-1].stdout.startswith("ok: read models match")


def rejected(bootstrap: str, topic: str) -> Iterator[dict[str, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        for batch in consumer.poll(timeout_ms=500).values():
            yield from (json.loads(r.value) for r in batch)
    consumer.close()


@pytest.fixture
def pipeline(tmp_path: Path, postgres_url: str, kafka_bootstrap: str,
             wiring_factory: Callable[..., Wiring]) -> Iterator[tuple[Pipeline, Wiring]]:
    names = {"LEDGER_INBOUND_TOPIC": unique("billing"), "LEDGER_REJECTED_TOPIC": unique("rejected"),
             "LEDGER_OUTBOUND_TOPIC": unique("entitlements"),
             "LEDGER_CONSUMER_GROUP": unique("consume"), "LEDGER_PROJECTION_GROUP": unique("project")}
    ensure_topics(kafka_bootstrap, [names["LEDGER_INBOUND_TOPIC"], names["LEDGER_REJECTED_TOPIC"],
                                    names["LEDGER_OUTBOUND_TOPIC"]], partitions=4)
    read_url = f"{postgres_url.split('?')[0]}?schema={unique('rm')}"
    env = {**os.environ, **names, "LEDGER_DATABASE_URL": postgres_url,
           "LEDGER_READ_DATABASE_URL": read_url, "LEDGER_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "LEDGER_TENANT": TENANT, "LEDGER_LOG_FORMAT": "json"}
    # Schemas and tables exist before the workers start, so they do not race to create them.
    wiring = wiring_factory(postgres_url)
    ReadModels.open(read_url).close()
    help_text = subprocess.run([str(LEDGER), "consume", "--help"], env=env, capture_output=True,
                               text=True)
    if help_text.returncode != 0:
        pytest.fail(f"`ledger consume` is not registered: {help_text.stderr.strip()}")
    running = Pipeline(env, tmp_path, kafka_bootstrap, names["LEDGER_INBOUND_TOPIC"])
    yield running, wiring
    for process in running.processes.values():
        if process.poll() is None:
            process.kill()
            process.wait()
    running.producer.close()


def test_read_models_converge_to_replay_and_survive_a_killed_projection_worker(
        pipeline: tuple[Pipeline, Wiring], kafka_bootstrap: str) -> None:
    running, wiring = pipeline
    billing = Billing(seed=20260301)
    running.start("consume", "consume")
    running.start("relay", "relay")
    running.start("project-1", "project")
    running.start("project-2", "project")

    running.publish([{"specversion": "1.0", "id": "catalog-2026-03", "source": "billing/e2e",
                      "type": "catalog.published", "time": at(0), "subject": CATALOG["version"],
                      "tenantid": TENANT, "data": CATALOG}])
    wait_until("the catalog is in force", lambda: wiring.store.catalogs(TENANT).facts != (), 30,
               running)
    running.publish(billing.stream(range(0, 300)))
    converged(running, wiring, kafka_bootstrap, deadline=60)

    def kill_a_projection_worker(chunk: int) -> None:
        if chunk == 2:
            running.processes.pop("project-1").send_signal(signal.SIGKILL)

    running.publish(billing.stream(range(300, 450)), pause=0.3, between=kill_a_projection_worker)
    assert "project.batch" in (running.logs / "project-1.log").read_text()  # it had work to lose
    converged(running, wiring, kafka_bootstrap, deadline=60)

    # Nothing was dropped silently: every record is in the ledger or on the rejected topic.
    rejections = {(r["partition"], r["offset"]) for r in rejected(kafka_bootstrap,
                                                                   running.env["LEDGER_REJECTED_TOPIC"])}
    keys = [(v["tenantid"], v["source"], v["id"]) if isinstance(v, dict) and "tenantid" in v else None
            for v, _ in running.sent]
    recorded = wiring.store.receipts(k for k in keys if k is not None)
    for (value, sent), key in zip(running.sent, keys, strict=True):
        assert key in recorded or (sent.partition, sent.offset) in rejections, f"lost: {value}"
    assert len(running.sent) > 3000 and len(rejections) > 50

    # SIGTERM stops the survivors cleanly, after the batch in hand.
    for process in running.processes.values():
        process.send_signal(signal.SIGTERM)
    assert {n: p.wait(timeout=30) for n, p in running.processes.items()} == \
        {"consume": 0, "relay": 0, "project-2": 0}
