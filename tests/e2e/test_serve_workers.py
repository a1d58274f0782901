"""`ledger serve --workers 2` from outside: both processes answer, each from its own cache,
and a key revoked with `ledger apikey revoke` stops in every one of them within a second."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.builders import catalog_envelope, envelope
from tests.e2e.test_up import free_port

LEDGER = str(Path(sys.executable).with_name("ledger"))


def test_two_serving_processes_answer_and_a_revoked_key_stops_in_both_within_a_second(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'ledger.db'}"

    def ledger(*args: str) -> str:
        return subprocess.run([LEDGER, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, check=True, timeout=60).stdout

    admin = json.loads(ledger("apikey", "create", "--tenant", "acme", "--role", "admin",
                              "--format", "json"))
    service = json.loads(ledger("apikey", "create", "--tenant", "acme", "--role", "service",
                                "--format", "json"))
    port = free_port()
    server = subprocess.Popen([LEDGER, "serve", "--port", str(port), "--workers", "2"], env=env,
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.2)
        posted = httpx.post(f"{base}/v1/events", headers={"Authorization": f"Bearer {admin['key']}"},
                            json=[catalog_envelope(), envelope("license.granted", "2026-02-01",
                                                               "lic-1", customer_id="c1",
                                                               plan="pro")], timeout=30)
        assert [r["status"] for r in posted.json()["results"]] == ["accepted", "accepted"]
        body = {"customer_id": "c1", "feature": "sso"}

        def checks() -> list[int]:  # a new connection each: the two processes share the calls
            return [httpx.post(f"{base}/v1/check", json=body, timeout=10,
                               headers={"Authorization": f"Bearer {service['key']}"}).status_code
                    for _ in range(20)]

        deadline = time.monotonic() + 5  # the other process projects within its poll interval
        while httpx.post(f"{base}/v1/check", json=body, timeout=10, headers={
                "Authorization": f"Bearer {service['key']}"}).json()["reason"] != "ok":
            assert time.monotonic() < deadline
        assert checks() == [200] * 20
        pids = {line.split("[")[1].split("]")[0] for line in _started(server)}
        assert len(pids) == 2
        ledger("apikey", "revoke", service["key_id"])
        time.sleep(1.0)
        assert checks() == [401] * 20
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)


def _started(server: subprocess.Popen[str]) -> list[str]:
    """The workers' "Started server process [PID]" lines, read from the log so far."""
    assert server.stderr is not None
    found: list[str] = []
    deadline = time.monotonic() + 10
    while len(found) < 2 and time.monotonic() < deadline:
        line = server.stderr.readline()
        if "Started server process" in line:
            found.append(line)
    return found
