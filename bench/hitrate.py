"""The cache's hit rate for the customers being checked while usage for *other* customers
flows at 1,000 events/s through Kafka: the ledger appends it (as `ledger consume` would),
`ledger relay` publishes it to a topic of this run, `ledger project` applies it to the read
models, and `ledger serve` (Kafka mode) follows the read models' change feed. The checks come
from wrk at 16 connections over 50 customers, paced (each connection waits between requests,
`check_rate` checks/s at most in all; 0: as fast as they go), so that the usage path keeps
the cores it needs on a small machine. Bounded: one run of `seconds`.

The usage is made before the clock starts and appended on a schedule: every tick, whatever
the schedule owes by then (`RATE` x elapsed, less what was sent), up to `MAX_BATCH` events
in one append, so a slow append is caught up by the next, larger one; the rate reached is
reported beside the rate offered.

Usage: python -m bench.hitrate [SECONDS] [CHECKS_PER_SECOND]"""

from __future__ import annotations

import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.check import lua, wrk
from bench.http import free_port
from ledger.api.remembered_keys import ApiKeys
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from projections.readmodel import ReadModels
from schemas.times import format_time
from tests.builders import catalog_envelope, envelope

LEDGER = str(Path(sys.executable).parent / "ledger")
CHECKED, OTHERS, RATE = 50, 500, 1000  # customers checked, other customers, usage events/s
TICK, MAX_BATCH, CONNECTIONS = 0.25, 2000, 16


def _cache_counts(base: str, key: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"}).text
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'ledger_check_cache_total\{result="(hit|miss)"\} ([\d.e+]+)', text)}


def _usage(n: int) -> dict[str, Any]:
    lic = f"oth-{random.randrange(OTHERS)}"
    return envelope("usage.recorded", format_time(datetime.now(UTC)), lic, tenant="bench",
                    id=f"use-{secrets.token_hex(6)}-{n}", feature="api_calls", quantity=1)


def run(seconds: float, kafka: str | None = None, env: dict[str, str] | None = None,
        check_rate: int = 1000) -> dict[str, Any]:
    """One bounded run; `env` runs the processes of another checkout (a baseline)."""
    kafka = kafka or os.environ.get("LEDGER_KAFKA_BOOTSTRAP") or \
        os.environ.get("LEDGER_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    run_id = secrets.token_hex(4)
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-hit-')) / 'ledger.db'}"
    env = {**(env or os.environ), "LEDGER_DATABASE_URL": url, "LEDGER_KAFKA_BOOTSTRAP": kafka,
           "LEDGER_OUTBOUND_TOPIC": f"bench-{run_id}.entitlements",
           "LEDGER_PROJECTION_GROUP": f"bench-{run_id}", "LEDGER_LOG_LEVEL": "warning",
           "LEDGER_TENANT": "bench"}
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    grants = [catalog_envelope(tenant="bench", id="catalog")]
    grants += [envelope("license.granted", "2026-01-02", f"chk-{n}", tenant="bench",
                        id=f"g-chk-{n}", customer_id=f"chk-{n}", plan="pro") for n in range(CHECKED)]
    grants += [envelope("license.granted", "2026-01-02", f"oth-{n}", tenant="bench",
                        id=f"g-oth-{n}", customer_id=f"oth-{n}", plan="basic") for n in range(OTHERS)]
    wiring.ledger.ingest(grants, None)
    key = ApiKeys.open(url).create("bench", "admin").key
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = [subprocess.Popen([LEDGER, *command], env=env, stderr=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL)
             for command in (["relay"], ["project"], ["serve", "--port", str(port)])]
    sent = [0]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every grant relayed and projected
            try:
                answer = httpx.post(f"{base}/v1/check", json={"customer_id": f"oth-{OTHERS - 1}",
                                                              "feature": "reports"},
                                    headers={"Authorization": f"Bearer {key}"}, timeout=2)
                if answer.status_code == 200 and answer.json()["allowed"]:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("the pipeline did not project the grants within 120 s")
        stop = threading.Event()
        usage = [_usage(n) for n in range(int(RATE * (seconds + 5)))]  # made before the clock

        def usage_flow() -> None:
            begun = time.monotonic()
            while not stop.is_set() and sent[0] < len(usage):
                owed = min(MAX_BATCH, int(RATE * (time.monotonic() - begun)) - sent[0])
                if owed > 0:
                    wiring.ledger.ingest(usage[sent[0]:sent[0] + owed], None)
                    sent[0] += owed
                stop.wait(TICK)

        before = _cache_counts(base, key)
        flow = threading.Thread(target=usage_flow, daemon=True)
        started = time.monotonic()
        flow.start()
        pause = round(1000 * CONNECTIONS / check_rate) if check_rate else 0
        measured = wrk(base, lua(key, [f"chk-{n}" for n in range(CHECKED)], "sso", pause),
                       CONNECTIONS, seconds)
        stop.set()
        flow.join()
        elapsed = time.monotonic() - started
        after = _cache_counts(base, key)
        time.sleep(2)
        models = ReadModels.open(url)
        lag = wiring.store.max_position() - models.newest_applied()
        models.close()
        hits = after.get("hit", 0) - before.get("hit", 0)
        misses = after.get("miss", 0) - before.get("miss", 0)
        return {"usage events/s offered": RATE,
                "usage events/s reached (other customers)": round(sent[0] / elapsed),
                "checks/s offered": check_rate or "as fast as they go",
                "checks/s": round(measured["rps"]), "check p99 ms": round(measured["p99"], 2),
                "hit rate": round(hits / max(1.0, hits + misses), 4),
                "hits": hits, "misses": misses,
                "ledger positions not yet in the read models 2 s after": max(0, lag)}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        wiring.close()


if __name__ == "__main__":
    print(run(float(sys.argv[1]) if len(sys.argv) > 1 else 15.0,
              check_rate=int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
