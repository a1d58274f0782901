"""`ledger relay` and `ledger project` against the real broker and PostgreSQL: the ledger's facts
out to `entitlements.events`, and from there into read models that equal a replay.

Every test has its own topic, consumer group and schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumers.clients import ensure_topics, group_consumer, idempotent_producer
from consumers.partitions import PartitionLoop
from consumers.project import Projector
from consumers.relay import Relay
from ledger.bootstrap import Wiring
from projections.readmodel import ReadModels
from projections.verify import verify_projections
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique
from tests.integration.kafka_topics import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CONTRACT_FIELDS = {"position", "tenant", "license_id", "type", "effective_at", "recorded_at",
                   "source", "source_event_id", "data", "sequence", "hash", "prev_hash", "head"}
DEADLINE = 60.0


@pytest.fixture
def wiring(wiring_factory: Callable[..., Wiring], postgres_url: str, kafka_bootstrap: str) -> Wiring:
    topic = unique("entitlements")
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    return wiring_factory(postgres_url, kafka_bootstrap=kafka_bootstrap, outbound_topic=topic,
                          projection_group=unique("project"),
                          read_database_url=f"{postgres_url.split('?')[0]}?schema={unique('rm')}")


@pytest.fixture
def models(wiring: Wiring) -> Any:
    opened = ReadModels.open(wiring.settings.read_url)
    yield opened
    opened.close()


def history(wiring: Wiring, licenses: int = 12) -> None:
    """Grants, upgrades, seats, usage, suspensions and a late revocation for a few licenses."""
    ledger = wiring.ledger
    ledger.ingest([catalog_envelope()], "acme")
    for i in range(licenses):
        lic = f"lic-{i}"
        ledger.ingest([
            envelope("license.granted", "2026-03-01", lic, customer_id=f"c-{i % 5}", plan="basic",
                     seats=2),
            envelope("license.upgraded", "2026-03-05", lic, plan="pro"),
            envelope("seat.assigned", "2026-03-06", lic, user_id="u-1"),
            envelope("usage.recorded", "2026-03-07", lic, feature="api_calls", quantity=i + 1),
            envelope("license.suspended", "2026-03-08", lic, reason="payment_failed"),
        ], "acme")
        if i % 3 == 0:
            ledger.ingest([envelope("license.revoked", "2026-03-04", lic, reason="fraud")], "acme")


def relay_all(wiring: Wiring) -> Relay:
    assert wiring.settings.kafka_bootstrap is not None
    producer = idempotent_producer(wiring.settings.kafka_bootstrap, "test-relay")
    relay = Relay(wiring.store, producer, wiring.settings.outbound_topic, page=20)
    relay.run(max_idle=0)
    producer.close()
    return relay


class FromTheStart(Projector):
    """A member sought to offset 0 of every partition: the whole topic is delivered again."""

    def tracked(self, key: str) -> int | None:
        return 0


def project(wiring: Wiring, projector: Projector, expected: int) -> Projector:
    """Run a projection member until it has received `expected` records."""
    settings = wiring.settings
    assert settings.kafka_bootstrap is not None
    stop = threading.Event()

    class Watch:
        def tracked(self, key: str) -> int | None:
            return projector.tracked(key)

        def take(self, key: str, records: Sequence[Any]) -> None:
            projector.take(key, records)
            if projector.received >= expected:
                stop.set()

    consumer = group_consumer(settings.kafka_bootstrap, settings.projection_group, "test-project")
    timer = threading.Timer(DEADLINE, stop.set)
    timer.start()
    try:
        PartitionLoop(consumer, settings.outbound_topic, Watch(), stop).run()
    finally:
        timer.cancel()
        consumer.close(autocommit=False)
    assert projector.received >= expected, f"gave up after {DEADLINE}s"
    return projector


def test_relay_publishes_every_fact_once_in_ledger_order_per_license_with_the_contract_fields(
        wiring: Wiring, kafka_bootstrap: str) -> None:
    history(wiring)
    relay = relay_all(wiring)

    facts = wiring.store.facts_after(0, 10_000)
    messages = [(r.key.decode(), json.loads(r.value))
                for r in read_all(kafka_bootstrap, wiring.settings.outbound_topic)]
    assert relay.published == len(facts) == len(messages)
    assert sorted(m["position"] for _, m in messages) == [f.position for f in facts]
    for key, message in messages:
        assert CONTRACT_FIELDS <= set(message)
        if message["type"] == "catalog.published":
            assert message["license_id"] is None and key == f"catalog:{message['tenant']}"
        else:
            assert key == message["license_id"]
        assert message["head"] == {"sequence": message["sequence"], "hash": message["hash"]}
    for lic in {k for k, _ in messages}:
        positions = [m["position"] for k, m in messages if k == lic]
        assert positions == sorted(positions), f"{lic} out of ledger order"


def test_relay_resumes_after_its_last_acknowledged_position_when_restarted(
        wiring: Wiring, kafka_bootstrap: str) -> None:
    history(wiring, licenses=3)
    first = relay_all(wiring)
    outcome, = wiring.ledger.ingest([envelope("license.reinstated", "2026-03-09", "lic-1")], "acme")
    assert outcome.status == "accepted"
    second = relay_all(wiring)

    assert (first.published, second.published) == (len(wiring.store.facts_after(0, 1000)) - 1, 1)
    positions = [json.loads(r.value)["position"]
                 for r in read_all(kafka_bootstrap, wiring.settings.outbound_topic)]
    assert len(positions) == len(set(positions))


def test_project_builds_read_models_equal_to_a_replay_and_redelivery_changes_nothing(
        wiring: Wiring, models: Any) -> None:
    history(wiring)
    published = relay_all(wiring).published
    now = datetime.now(UTC)

    built = project(wiring, Projector(models), published)
    assert built.applied == published
    assert verify_projections(wiring.store, wiring.ledger, models, now) == []

    watermark = models.watermark()
    again = project(wiring, FromTheStart(models), published)
    assert (again.received, again.applied) == (published, 0)
    assert models.watermark() == watermark
    assert verify_projections(wiring.store, wiring.ledger, models, now) == []


def ledger_command(wiring: Wiring, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    settings = wiring.settings
    env = {**os.environ, "LEDGER_DATABASE_URL": settings.database_url,
           "LEDGER_READ_DATABASE_URL": settings.read_url,
           "LEDGER_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
           "LEDGER_OUTBOUND_TOPIC": settings.outbound_topic,
           "LEDGER_PROJECTION_GROUP": settings.projection_group, "LEDGER_LOG_FORMAT": "json"}
    return subprocess.run([str(Path(sys.executable).with_name("ledger")), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_project_rebuild_builds_the_read_models_from_the_ledger_and_verify_names_what_lags(
        wiring: Wiring, models: Any, tmp_path: Path) -> None:
    history(wiring)
    models.apply(wiring.store.facts_after(0, 5), tracking=("stale", 1))  # some old partial state

    rebuilt = ledger_command(wiring, tmp_path, "project", "--rebuild", "--max-idle", "1")
    assert rebuilt.returncode == 0, rebuilt.stderr
    verified = ledger_command(wiring, tmp_path, "projections", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: read models match a replay of the ledger as of ")

    wiring.ledger.ingest([envelope("license.reinstated", "2026-03-09", "lic-1")], "acme")
    behind = ledger_command(wiring, tmp_path, "projections", "verify")
    assert behind.returncode == 1 and behind.stdout == ""
    assert behind.stderr.startswith("ledger: read models differ from replay as of ")
    assert "read models are behind" in behind.stderr


def test_project_takes_a_backlog_in_batches_that_grow_past_one_poll(
        wiring: Wiring, models: Any, tmp_path: Path) -> None:
    """`ledger project`, like `consume`, keeps taking what its client has fetched until each
    partition's batch holds --batch-size records: a backlog goes in fewer, larger read-model
    transactions (one poll brings at most --batch-size records across all partitions)."""
    history(wiring)
    published = relay_all(wiring).published
    done = ledger_command(wiring, tmp_path, "project", "--batch-size", "5", "--max-idle", "1")
    assert done.returncode == 0, done.stderr
    logged = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()
              if line.startswith("{")]
    batches = [e for e in logged if e.get("event") == "project.batch"]
    assert sum(b["received"] for b in batches) == published
    assert max(b["received"] for b in batches) > 5  # more than one poll's records
    for batch in batches:  # yet no partition's part of a batch above the bound
        assert all(last - first < 5 for first, last in batch["partitions"].values()), batch
    assert verify_projections(wiring.store, wiring.ledger, models, datetime.now(UTC)) == []
