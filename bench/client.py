"""The in-process client (`ledger.client`) against `ledger up`: the time of one local check
(p50/p99 over many, no I/O) and how long a change made through the API takes to reach the
client over the stream (from sending the event, and from its answer). Bounded loops.

Usage: python -m bench.client [--checks N] [--changes N]"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime

import httpx

from bench.http import start
from ledger.client import EntitlementClient
from schemas.times import format_time
from tests.builders import envelope


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    proc, base, key = start()
    try:
        client = EntitlementClient(base, key)
        assert client.watch("cust-acme"), "no first state streamed"
        clock = time.perf_counter_ns
        took = []
        for _ in range(args.checks):
            started = clock()
            client.check("cust-acme", "api_calls")
            took.append((clock() - started) / 1000)
        seen = threading.Event()
        client.on_change = lambda customer: seen.set()
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        from_send, from_answer = [], []
        for n in range(args.changes):
            kind = "license.suspended" if n % 2 == 0 else "license.reinstated"
            want = "suspended" if n % 2 == 0 else "ok"
            seen.clear()
            sent = time.perf_counter()
            data = {"reason": "bench"} if kind == "license.suspended" else {}
            results = api.post("/v1/events", json=[envelope(
                kind, format_time(datetime.now(UTC)), "lic-acme-1", **data)]).json()["results"]
            assert results[0]["status"] == "accepted", results
            answered = time.perf_counter()
            deadline = sent + 5
            while client.check("cust-acme", "sso").reason != want and time.perf_counter() < deadline:
                seen.wait(0.001)
                seen.clear()
            arrived = time.perf_counter()
            from_send.append((arrived - sent) * 1000)
            from_answer.append(max(0.0, arrived - answered) * 1000)
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"| in-process check ({args.checks:,} calls) | p50 {statistics.median(took):.1f} us, "
          f"p99 {percentile(took, .99):.1f} us, max {max(took):.0f} us |")
    print(f"| change -> client over the stream ({args.changes} changes), from the POST | "
          f"p50 {statistics.median(from_send):.0f} ms, p99 {percentile(from_send, .99):.0f} ms |")
    print(f"| same, from the POST's answer (the change is in the read models) | "
          f"p50 {statistics.median(from_answer):.0f} ms, p99 {percentile(from_answer, .99):.0f} ms |")


if __name__ == "__main__":
    main()
