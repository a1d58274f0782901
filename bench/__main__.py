"""`make bench`: throughput and latency of the ledger's main paths, printed as a table.

Usage: python -m bench [--licenses N] [--usage N] [--database-url URL] [--no-http]
Numbers go into docs/benchmarks.md with the machine and the command; nothing asserts them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.bootstrap import bootstrap
from ledger.integrity import verify
from ledger.settings import Settings
from tests.builders import catalog_envelope, envelope

START = datetime(2026, 1, 1, tzinfo=UTC)


def workload(licenses: int, usage_per_license: int) -> list[dict[str, Any]]:
    events = [catalog_envelope(tenant="bench", id="catalog")]
    for n in range(licenses):
        lic = f"lic-{n}"
        events.append(envelope("license.granted", "2026-01-02", lic, tenant="bench", id=f"{lic}-g",
                               customer_id=f"cust-{n % (licenses // 2 or 1)}", plan="basic", seats=5,
                               ends_at="2027-01-02T00:00:00Z"))
        events.append(envelope("license.upgraded", "2026-02-01", lic, tenant="bench", id=f"{lic}-u",
                               plan="pro"))
        events.append(envelope("seat.assigned", "2026-02-02", lic, tenant="bench", id=f"{lic}-s",
                               user_id="u1"))
        for k in range(usage_per_license):
            moment = (START + timedelta(days=40 + k % 60, minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
            events.append(envelope("usage.recorded", moment, lic, tenant="bench", id=f"{lic}-use-{k}",
                                   feature="api_calls", quantity=1))
    return events


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--licenses", type=int, default=200)
    parser.add_argument("--usage", type=int, default=20, help="usage records per license")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP check benchmark")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    events = workload(args.licenses, args.usage)
    rows: list[tuple[str, str]] = []

    def ingest_all() -> int:
        accepted = 0
        for i in range(0, len(events), args.batch):
            outcomes = wiring.ledger.ingest(events[i:i + args.batch], None)
            accepted += sum(o.status == "accepted" for o in outcomes)
        return accepted

    seconds, accepted = timed(ingest_all)
    assert accepted == len(events), f"only {accepted} of {len(events)} accepted"
    rows.append((f"ingest, batches of {args.batch}", f"{len(events) / seconds:,.0f} events/s "
                 f"({len(events)} events in {seconds:.1f} s)"))
    seconds, _ = timed(lambda: wiring.ledger.ingest(events[: args.batch], None))
    rows.append(("redelivery (all duplicates)", f"{args.batch / seconds:,.0f} events/s"))
    one_by_one = [envelope("license.suspended", "2026-03-01", f"lic-{n}", tenant="bench", id=f"s{n}",
                           reason="bench") for n in range(min(args.licenses, 200))]
    seconds, _ = timed(lambda: [wiring.ledger.ingest([e], None) for e in one_by_one])
    rows.append(("ingest, one event per transaction", f"{len(one_by_one) / seconds:,.0f} events/s"))
    latencies = []
    as_of = datetime(2026, 3, 15, tzinfo=UTC)
    for n in range(min(args.licenses, 200)):
        seconds, _ = timed(lambda n=n: wiring.ledger.state("bench", f"lic-{n}", as_of))
        latencies.append(seconds * 1000)
    rows.append(("replay one license (state as of)", f"median {statistics.median(latencies):.2f} ms, "
                 f"p95 {sorted(latencies)[int(len(latencies) * .95)]:.2f} ms"))
    seconds, states = timed(lambda: wiring.ledger.replay("bench", as_of))
    rows.append(("replay --all", f"{len(states)} licenses in {seconds:.2f} s"))
    seconds, verdict = timed(lambda: verify(wiring.store))
    rows.append(("verify", f"{verdict.checked / seconds:,.0f} events/s ({verdict.checked} events)"))
    wiring.close()
    if not args.no_http:
        from bench.http import run as http_rows

        rows += http_rows()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"store: {url.split('://')[0]}, {args.licenses} licenses, {args.usage} usage records each\n")
    print("| path | result |\n|---|---|")
    for name, result in rows:
        print(f"| {name} | {result} |")


if __name__ == "__main__":
    main()
