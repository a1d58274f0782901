"""The hot path over real HTTP: `ledger up` on a free loopback port, a bounded number of
`POST /v1/check` calls (sequential, then from a few threads), and event ingestion in batches.
Every loop is bounded in count; the server is stopped at the end."""

from __future__ import annotations

import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

LEDGER = str(Path(sys.executable).parent / "ledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, str]:
    """`ledger up` on a free port (with `env`, e.g. PYTHONPATH of another checkout for a
    baseline); its process, base URL and the admin key it printed."""
    port = free_port()
    cwd = tempfile.mkdtemp(prefix="bench-up-")
    proc = subprocess.Popen([LEDGER, "up", "--port", str(port)], cwd=cwd, text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    key = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if match := re.search(r"(ldg_[A-Za-z0-9_-]+)", line):
            key = match.group(1)
        if key and "Ctrl-C" in line:
            break
    assert key, "ledger up did not print an admin key"
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    return proc, base, key


class Client:
    """A bare HTTP/1.1 keep-alive client (http.client), so that the numbers are mostly the
    server's: httpx costs about a millisecond a call on its own on this machine."""

    def __init__(self, base: str, key: str):
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(self, path: str, payload: Any) -> Any:
        self.conn.request("POST", path, body=json.dumps(payload), headers=self.headers)
        response = self.conn.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {answer}")
        return answer


def run(checks: int = 3000, threads: int = 4) -> list[tuple[str, str]]:
    proc, base, key = start()
    rows: list[tuple[str, str]] = []
    body = {"customer_id": "cust-acme", "feature": "api_calls", "quantity": 1}
    try:
        client = Client(base, key)
        assert client.post("/v1/check", body)["allowed"] is True
        latencies = []
        for _ in range(checks):
            started = time.perf_counter()
            client.post("/v1/check", body)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        rows.append(("POST /v1/check, one client, keep-alive",
                     f"median {statistics.median(latencies):.2f} ms, p95 "
                     f"{latencies[int(len(latencies) * .95)]:.2f} ms, p99 "
                     f"{latencies[int(len(latencies) * .99)]:.2f} ms ({checks} calls)"))
        done = [0] * threads

        def hammer(n: int) -> None:
            own = Client(base, key)
            for _ in range(checks // threads):
                own.post("/v1/check", body)
                done[n] += 1

        started = time.perf_counter()
        workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds = time.perf_counter() - started
        rows.append((f"POST /v1/check, {threads} clients", f"{sum(done) / seconds:,.0f} checks/s"))
        events = [_usage(i) for i in range(1000)]
        client = Client(base, key)  # the first one idled past the server's keep-alive
        started = time.perf_counter()
        for i in range(0, len(events), 100):
            results = client.post("/v1/events", events[i:i + 100])["results"]
            assert all(r["status"] == "accepted" for r in results), results[:3]
        seconds = time.perf_counter() - started
        rows.append(("POST /v1/events, 100 per call (embedded, read-your-writes)",
                     f"{len(events) / seconds:,.0f} events/s"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def _usage(i: int) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"bench-{time.time_ns()}-{i}", "source": "bench",
            "type": "usage.recorded", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "subject": "lic-acme-1", "data": {"feature": "api_calls", "quantity": 1}}
