"""`ledger serve` as its own process: keys made by `ledger apikey create` work, writes go
through the ledger, and without Kafka the read models follow in the same process, also for
events another process recorded. With Kafka configured, /healthz reports it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import catalog_envelope, envelope

LEDGER = str(Path(sys.executable).with_name("ledger"))
Serve = Callable[[dict[str, str]], str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATABASE_URL=database_url, LEDGER_DATA_DIR=str(tmp_path / "data"),
               LEDGER_TENANT="acme", **extra)
    return env


def admin_key(env: dict[str, str]) -> str:
    made = subprocess.run([LEDGER, "apikey", "create", "--role", "admin", "--format", "json"],
                          env=env, capture_output=True, text=True, check=True)
    return str(json.loads(made.stdout)["key"])


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str]) -> str:
        port = free_port()
        process = subprocess.Popen([LEDGER, "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                return url
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("ledger serve did not answer in time")

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def eventually(probe: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.05)
    return False


def test_ledger_serve_embedded_follows_its_own_writes_and_those_of_other_processes(
        tmp_path: Path, serve: Serve) -> None:
    env = environment(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    client = httpx.Client(base_url=serve(env),
                          headers={"Authorization": f"Bearer {admin_key(env)}"})
    posted = client.post("/v1/events", json=[catalog_envelope(), envelope(
        "license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="pro")])
    assert [r["status"] for r in posted.json()["results"]] == ["accepted", "accepted"]
    ask = {"customer_id": "cust-7", "feature": "sso"}
    assert client.post("/v1/check", json=ask).json()["allowed"] is True

    lines = tmp_path / "events.jsonl"
    lines.write_text(json.dumps(envelope("license.suspended", "2026-03-01", "lic-1",
                                         reason="payment_failed")) + "\n", encoding="utf-8")
    subprocess.run([LEDGER, "ingest", str(lines)], env=env, check=True, capture_output=True)
    assert eventually(lambda: client.post("/v1/check", json=ask).json()["reason"] == "suspended")


@pytest.mark.postgres
@pytest.mark.kafka
def test_ledger_serve_with_kafka_reports_it_in_health(postgres_url: str, kafka_bootstrap: str,
                                                      tmp_path: Path, serve: Serve) -> None:
    env = environment(postgres_url, tmp_path, LEDGER_KAFKA_BOOTSTRAP=kafka_bootstrap)
    url = serve(env)
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ok" and health["checks"]["kafka"]["ok"] is True
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key(env)}"})
    assert client.post("/v1/events", json=catalog_envelope()).json()["results"][0][
        "status"] == "accepted"


@pytest.mark.postgres
def test_ledger_serve_reports_an_unreachable_kafka_as_degraded(postgres_url: str, tmp_path: Path,
                                                               serve: Serve) -> None:
    env = environment(postgres_url, tmp_path, LEDGER_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    answer = httpx.get(f"{serve(env)}/healthz")
    assert answer.status_code == 503 and answer.json()["checks"]["kafka"]["ok"] is False
