"""Replay and verify at audit scale, each beside a baseline in the same run, alternated round by
round (baseline, ours, baseline, ours, ...), medians reported. The ratio is the figure: the
2-core machine is shared and noisy.

- one license with N usage records, its state as of a moment (`Ledger.state`), beside a SELECT
  + decode of the same facts (that license's lifecycle and usage facts, into `Fact`s);
- `replay --all` over L licenses (`Ledger.replay`), beside a SELECT + decode of every lifecycle
  and usage fact of the tenant (one query per kind);
- `verify` (`ledger.integrity.verify`), beside reading and decoding every stored record.

Usage: python -m bench.replay [--database-url URL] [--usage N] [--licenses L] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.bootstrap import Wiring, bootstrap
from ledger.integrity import verify
from ledger.settings import Settings
from ledger.store.records import LIFECYCLE, USAGE
from tests.builders import catalog_envelope, envelope

START = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 4, 15, tzinfo=UTC)
TENANT = "bench"


def workload(usage: int, licenses: int) -> list[dict[str, Any]]:
    """A catalog; `lic-big` with `usage` usage records over three months; `licenses` more
    licenses with a grant and one usage record each."""
    out = [catalog_envelope(tenant=TENANT, id="catalog"),
           envelope("license.granted", "2026-01-02", "lic-big", tenant=TENANT, id="big-g",
                    customer_id="cust-big", plan="pro", seats=5)]
    for k in range(usage):
        moment = (START + timedelta(days=30 + k % 90, seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(envelope("usage.recorded", moment, "lic-big", tenant=TENANT, id=f"big-u{k}",
                            feature="api_calls", quantity=1))
    for n in range(licenses):
        lic = f"lic-{n}"
        out.append(envelope("license.granted", "2026-01-02", lic, tenant=TENANT, id=f"{lic}-g",
                            customer_id=f"cust-{n // 3}", plan="pro", seats=5))
        out.append(envelope("usage.recorded", "2026-04-02", lic, tenant=TENANT, id=f"{lic}-u",
                            feature="api_calls", quantity=2))
    return out


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(rounds: int, baseline: Callable[[], Any], ours: Callable[[], Any]
              ) -> tuple[float, float]:
    """Median seconds of the baseline and of ours, run alternately."""
    base, mine = [], []
    for _ in range(rounds):
        base.append(timed(baseline))
        mine.append(timed(ours))
    return statistics.median(base), statistics.median(mine)


def read_license(wiring: Wiring, license_id: str) -> int:
    """The baseline of one state: SELECT + decode of the same facts, nothing folded."""
    return len(wiring.store.license_facts(TENANT, license_id)) + len(
        wiring.store.usage_facts(TENANT, license_id))


def read_tenant(wiring: Wiring) -> int:
    """The baseline of replay --all: every lifecycle and usage fact of the tenant, decoded."""
    return sum(len(wiring.store._facts(TENANT, kind)) for kind in (LIFECYCLE, USAGE))


def read_records(wiring: Wiring) -> int:
    """The baseline of verify: every stored record, read and decoded, nothing checked."""
    return sum(1 for _ in wiring.store.all_records())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="postgresql://... (a fresh schema "
                        "is used); default: a fresh SQLite file")
    parser.add_argument("--usage", type=int, default=10_000, help="usage records of the one license")
    parser.add_argument("--licenses", type=int, default=10_000, help="licenses for replay --all")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.database_url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    else:
        url = f"{args.database_url.split('?')[0]}?schema=bench_{uuid.uuid4().hex[:10]}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    events = workload(args.usage, args.licenses)
    started = time.perf_counter()
    for i in range(0, len(events), 500):
        outcomes = wiring.ledger.ingest(events[i:i + 500], None)
        assert all(o.status == "accepted" for o in outcomes), outcomes
    loaded = time.perf_counter() - started

    state = wiring.ledger.state(TENANT, "lic-big", AS_OF)
    assert state is not None
    states = wiring.ledger.replay(TENANT, AS_OF)
    assert len(states) == args.licenses + 1, len(states)
    rows = []
    for name, baseline, ours, unit in (
        (f"state as of, one license with {args.usage:,} usage records",
         lambda: read_license(wiring, "lic-big"),
         lambda: wiring.ledger.state(TENANT, "lic-big", AS_OF), "ms"),
        (f"replay --all, {args.licenses + 1:,} licenses", lambda: read_tenant(wiring),
         lambda: wiring.ledger.replay(TENANT, AS_OF), "s"),
        (f"verify, {len(events):,} events", lambda: read_records(wiring),
         lambda: verify(wiring.store), "s"),
    ):
        base, mine = alternate(args.rounds, baseline, ours)
        scale = 1000 if unit == "ms" else 1
        rows.append((name, f"{mine * scale:,.{1 if unit == 'ms' else 2}f} {unit}",
                     f"{base * scale:,.{1 if unit == 'ms' else 2}f} {unit}", f"{base / mine:.2f}"))
    wiring.close()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; store: {url.split('://')[0]}; {len(events):,} events "
          f"loaded in {loaded:.1f} s; medians of {args.rounds} alternated rounds\n")
    print("| path | ours | baseline: SELECT + decode of the same facts | ratio (baseline / ours) |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
