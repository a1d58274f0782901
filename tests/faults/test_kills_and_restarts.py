"""The Kafka pipeline under faults: while a billing system publishes, `consume`, `relay` and the
two `project` workers are SIGKILLed at random points and started again (as a supervisor would),
PostgreSQL is restarted once and the broker once. Afterwards nothing is lost and nothing doubled:
`ledger verify` and `ledger projections verify` pass, every accepted event is in the ledger
exactly once and on `entitlements.events` at least once, every other record is on
`billing.events.rejected`.

A short run is part of `make test`; `make soak` runs the long one (LEDGER_FAULT_LICENSES=13000,
about 100,000 events, LEDGER_FAULT_KILLS=24). The figures of the run are written to
LEDGER_FAULT_REPORT (default .cache/faults/report.json) for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from consumers.clients import ensure_topics
from ledger.bootstrap import bootstrap
from ledger.integrity import verify
from ledger.settings import Settings
from projections.readmodel import ReadModels
from tests.builders import CATALOG
from tests.conftest import unique
from tests.e2e.test_pipeline import LEDGER, TENANT, Billing, Pipeline, at, ingested, rejected
from tests.faults.services import ROOT, OwnServices
from tests.integration.kafka_topics import read_all

LICENSES = int(os.environ.get("LEDGER_FAULT_LICENSES", "150"))
KILLS = int(os.environ.get("LEDGER_FAULT_KILLS", "6"))
REPORT = Path(os.environ.get("LEDGER_FAULT_REPORT", str(ROOT / ".cache" / "faults" / "report.json")))
WORKERS = {"consume": ("consume",), "relay": ("relay",), "project-1": ("project",),
           "project-2": ("project",)}


@pytest.fixture(scope="module")
def services() -> Iterator[OwnServices]:
    OwnServices.stop_leftovers()
    own = OwnServices()
    try:
        own.up()
        yield own
    finally:
        own.down()


class Supervised(Pipeline):
    """The e2e pipeline, with a patient producer and a supervisor that starts dead workers again."""

    def __init__(self, env: dict[str, str], logs: Path, bootstrap: str, topic: str):
        super().__init__(env, logs, bootstrap, topic)
        self.producer.close()
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all",
                                      retries=20, retry_backoff_ms=500, request_timeout_ms=15000)
        self.kills, self.crashes, self.starts = 0, 0, 0

    def start(self, name: str, *args: str) -> None:
        self.starts += 1
        super().start(f"{name}-{self.starts}", *args)
        self.processes[name] = self.processes.pop(f"{name}-{self.starts}")

    def supervise(self) -> None:
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.crashes += 1
                self.start(name, *WORKERS[name])

    def verify(self) -> subprocess.CompletedProcess[str]:
        """`ledger projections verify`, given the time a long run's replay of every license takes."""
        return subprocess.run([str(LEDGER), "projections", "verify"], env=self.env, cwd=self.logs,
                              capture_output=True, text=True, timeout=300 + LICENSES / 10)

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()
        self.kills += 1
        self.start(name, *WORKERS[name])


def outbound_positions(bootstrap: str, topic: str) -> list[int]:
    return [json.loads(r.value)["position"] for r in read_all(bootstrap, topic)]


def test_kills_and_restarts_lose_nothing_and_double_nothing(services: OwnServices, tmp_path: Path) -> None:
    names = {"LEDGER_INBOUND_TOPIC": unique("billing"), "LEDGER_REJECTED_TOPIC": unique("rejected"),
             "LEDGER_OUTBOUND_TOPIC": unique("entitlements"),
             "LEDGER_CONSUMER_GROUP": unique("consume"), "LEDGER_PROJECTION_GROUP": unique("project")}
    ensure_topics(services.bootstrap, [names["LEDGER_INBOUND_TOPIC"], names["LEDGER_REJECTED_TOPIC"],
                                       names["LEDGER_OUTBOUND_TOPIC"]], partitions=4)
    db_url, read_url = (f"{services.postgres_url}?schema={unique(s)}" for s in ("ledger", "rm"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}, **names,
           "LEDGER_DATABASE_URL": db_url, "LEDGER_READ_DATABASE_URL": read_url,
           "LEDGER_KAFKA_BOOTSTRAP": services.bootstrap, "LEDGER_TENANT": TENANT,
           "LEDGER_LOG_FORMAT": "json"}
    first = bootstrap(Settings(database_url=db_url, _env_file=None))  # type: ignore[call-arg]
    ReadModels.open(read_url).close()  # tables exist before the workers start: no race to make them
    running = Supervised(env, tmp_path, services.bootstrap, names["LEDGER_INBOUND_TOPIC"])
    for name, args in WORKERS.items():
        running.start(name, *args)
    billing, rng = Billing(seed=20261201), random.Random(20261201)
    running.publish([{"specversion": "1.0", "id": "catalog-2026-03", "source": "billing/faults",
                      "type": "catalog.published", "time": at(0), "subject": CATALOG["version"],
                      "tenantid": TENANT, "data": CATALOG}])
    until = time.monotonic() + 60
    while not first.store.catalogs(TENANT).facts:  # the stories need their plans in force
        assert time.monotonic() < until, "the catalog was not ingested within 60 s"
        time.sleep(0.2)
    first.close()
    stream = billing.stream(range(LICENSES))
    chunks = max(1, len(stream) // 200)
    kill_at = [rng.randrange(chunks) for _ in range(KILLS)]
    restart_at = {chunks // 3: "postgres", (2 * chunks) // 3: "kafka"}
    away: dict[str, float] = {}

    def faults(chunk: int) -> None:
        for _ in range(kill_at.count(chunk)):
            time.sleep(rng.uniform(0, 0.3))  # somewhere inside a batch
            running.kill(rng.choice(list(WORKERS)))
        if chunk in restart_at:
            away[restart_at[chunk]] = services.restart(restart_at[chunk])
        running.supervise()

    started = time.monotonic()
    running.publish(stream, between=faults)
    published = time.monotonic()
    running.producer.flush()
    wiring = bootstrap(Settings(database_url=db_url, _env_file=None))  # type: ignore[call-arg]
    try:
        caught_up = ingested(wiring, services.bootstrap, running.topic)
        deadline = time.monotonic() + 180 + LICENSES / 20
        verdict = running.verify()
        while not (caught_up() and (verdict := running.verify()).returncode == 0):
            assert time.monotonic() < deadline, f"no convergence: {verdict.stdout}{verdict.stderr}"
            running.supervise()
            time.sleep(1)
        recovered = time.monotonic() - published
        facts = wiring.store.facts_after(0, 10_000_000)
        chain = verify(wiring.store)
        keys = [(f.tenant, f.source, f.source_event_id) for f in facts]
        on_topic = set(outbound_positions(services.bootstrap, names["LEDGER_OUTBOUND_TOPIC"]))
        rejections = {(r["partition"], r["offset"]) for r in rejected(
            services.bootstrap, names["LEDGER_REJECTED_TOPIC"])}
        sent_keys = [(v["tenantid"], v["source"], v["id"]) if isinstance(v, dict) and "tenantid" in v
                     else None for v, _ in running.sent]
        recorded = wiring.store.receipts(k for k in sent_keys if k is not None)
        lost = [v for (v, meta), k in zip(running.sent, sent_keys, strict=True)
                if k not in recorded and (meta.partition, meta.offset) not in rejections]
    finally:
        wiring.close()
        for process in running.processes.values():
            process.kill()
            process.wait()
        running.producer.close()
    figures: dict[str, Any] = {
        "records_published": len(running.sent), "events_accepted": len(facts),
        "rejections": len(rejections), "kills": running.kills,
        "worker_crashes_restarted": running.crashes, "postgres_restarts": services.restarts["postgres"],
        "kafka_restarts": services.restarts["kafka"], "lost": len(lost),
        "doubled": len(keys) - len(set(keys)),
        "missing_on_entitlements_events": len({f.position for f in facts} - on_topic),
        "publish_seconds": round(published - started, 1), "seconds_to_recover": round(recovered, 1),
        "away_seconds": {k: round(v, 1) for k, v in away.items()}, "licenses": LICENSES,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    assert chain.ok, chain.problem
    assert figures["lost"] == 0 and figures["doubled"] == 0, figures
    assert figures["missing_on_entitlements_events"] == 0, figures
    assert running.kills >= KILLS and services.restarts == {"postgres": 1, "kafka": 1}
