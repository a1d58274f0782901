"""What an SRE sees of the Kafka deployment: `ledger consume`, `relay` and `project` running
against the real broker and PostgreSQL, each serving Prometheus /metrics on its own port, and
`ledger status` telling where every part stands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from consumers.clients import ensure_topics
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique
from tests.e2e.cli import LEDGER
from tests.e2e.test_up import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


def eventually(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    until = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < until, f"{what}: not within {seconds}s"
        time.sleep(0.3)


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATABASE_URL=postgres_url, LEDGER_KAFKA_BOOTSTRAP=kafka_bootstrap,
               LEDGER_INBOUND_TOPIC=unique("in"), LEDGER_REJECTED_TOPIC=unique("rej"),
               LEDGER_OUTBOUND_TOPIC=unique("out"), LEDGER_CONSUMER_GROUP=unique("gc"),
               LEDGER_PROJECTION_GROUP=unique("gp"), LEDGER_TENANT="acme")
    ensure_topics(kafka_bootstrap, [env["LEDGER_INBOUND_TOPIC"], env["LEDGER_REJECTED_TOPIC"],
                                    env["LEDGER_OUTBOUND_TOPIC"]], partitions=2)
    yield env


def test_each_worker_serves_its_metrics_and_status_shows_where_everything_stands(
        deployment: dict[str, str], tmp_path: Path, kafka_bootstrap: str) -> None:
    env = deployment
    good = [catalog_envelope(tenant="acme"),
            *[envelope("license.granted", "2026-03-01", f"lic-{n}", tenant="acme",
                       customer_id=f"c-{n}", plan="pro") for n in range(3)]]
    records = [*good, good[1], envelope("license.granted", "2026-03-01", "lic-9", tenant="acme",
                                        customer_id="c-9", plan="gold")]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for record in records:  # one key: one partition, so the catalog is judged first
        producer.send(env["LEDGER_INBOUND_TOPIC"], key=b"acme", value=json.dumps(record).encode())
    producer.flush()
    producer.close()

    ports = {name: free_port() for name in ("consume", "relay", "project")}
    processes = {name: subprocess.Popen([LEDGER, name, "--metrics-port", str(port)], env=env,
                                        cwd=tmp_path, stdout=subprocess.DEVNULL,
                                        stderr=(tmp_path / f"{name}.log").open("wb"))
                 for name, port in ports.items()}
    try:
        def scrape(name: str) -> str:
            try:
                return httpx.get(f"http://127.0.0.1:{ports[name]}/metrics", timeout=5).text
            except httpx.HTTPError:
                return ""

        eventually("consume counted every outcome", lambda: sample(
            scrape("consume"), "ledger_worker_events_total", status="accepted") == 4)
        consumed = scrape("consume")
        assert sample(consumed, "ledger_worker_events_total", status="duplicate") == 1
        assert sample(consumed, "ledger_worker_events_total", status="rejected", code="unknown_plan") == 1
        assert sample(consumed, "ledger_state_transitions_total", type="license.granted") == 3
        assert sample(consumed, "ledger_state_transitions_total", type="catalog.published") == 1
        assert (sample(consumed, "ledger_judge_duration_seconds_count") or 0) >= 1
        assert (sample(consumed, "ledger_worker_batch_size_sum", worker="consume")) == len(records)

        def caught_up(name: str, position: str, behind: str) -> Callable[[], bool]:
            def check() -> bool:
                text = scrape(name)
                return (sample(text, position) or 0) > 0 and sample(text, behind) == 0
            return check

        eventually("relay caught up", caught_up("relay", "ledger_relay_position", "ledger_relay_behind"))
        eventually("projection caught up", caught_up("project", "ledger_projection_position",
                                                     "ledger_projection_behind"))
        projected = scrape("project")
        assert (sample(projected, "ledger_worker_batch_size_sum", worker="project") or 0) >= 4
        assert sample(projected, "ledger_consumer_lag", worker="project") == 0

        def settled() -> bool:
            done = subprocess.run([LEDGER, "status", "--format", "json"], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout)
            groups = report["consumer_groups"]
            return (report["relay"]["behind"] == 0 and report["read_models"]["behind"] == 0
                    and groups[env["LEDGER_CONSUMER_GROUP"]]["lag"] == 0
                    and groups[env["LEDGER_PROJECTION_GROUP"]]["lag"] == 0)

        eventually("status shows everything caught up", settled)
        report = json.loads(subprocess.run([LEDGER, "status", "--format", "json"], env=env, cwd=tmp_path,
                                           capture_output=True, text=True, timeout=60).stdout)
        assert report["mode"] == "kafka"
        assert report["ledger"]["tenants"]["acme"]["sequence"] == 4
        assert report["last_rejection"]["code"] == "unknown_plan" and report["last_error"] is None
        text = subprocess.run([LEDGER, "status"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60).stdout
        assert "tenant acme" in text and "last rejection" in text and "unknown_plan" in text
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
