"""What it costs when two writers take turns at one tenant, as two `consume` workers on a
license-keyed load do, against one writer doing every batch.

Every batch of a second writer finds the tenant's head moved by the first, so whatever a writer
remembers of its tenant from its last batch (the tree's compact range, say) is stale. Here, in
one process and without Kafka, the same usage-heavy load of one tenant goes in batches of
`--batch` either all through one `Ledger` or through two alternating (each its own store and
connection pool, as two processes have), every writer warmed first; per event: this process's
CPU, PostgreSQL's (its processes' CPU from /proc), the wall time, and CPU by stage
(`bench.ingest_stages`' timers). Modes alternated round by round, medians.

Usage: python -m bench.turns --database-url postgresql://... [--events N] [--rounds R] [--batch B]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections import defaultdict

from bench.ingest import WORKLOADS, durability, fresh_url
from bench.ingest_stages import ROWS, instrument
from ledger.bootstrap import bootstrap
from ledger.settings import Settings

WARM = 2_000  # events every writer has written before the measured part (connections, plans)


def postgres_cpu() -> float:
    """CPU seconds of the machine's `postgres` processes so far (the server is on this host)."""
    total = 0
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    for pid in found.split():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a backend that ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def one_run(url: str, writers: int, events: int, batch: int,
            spent: dict[str, float]) -> dict[str, float]:
    """Per event (us): this process's CPU, PostgreSQL's, the wall time, and each timed step."""
    wirings = [bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
               for _ in range(writers)]
    load = WORKLOADS["usage"](events)
    try:
        for turn, at in enumerate(range(0, WARM, batch)):
            wirings[turn % writers].ledger.ingest(load[at:at + batch], None)
        spent.clear()
        cpu, server, wall = time.process_time(), postgres_cpu(), time.perf_counter()
        for turn, at in enumerate(range(WARM, events, batch)):
            outcomes = wirings[turn % writers].ledger.ingest(load[at:at + batch], None)
            assert all(o.status == "accepted" for o in outcomes)
        measured = events - WARM
        figures = {"cpu": time.process_time() - cpu, "postgres": postgres_cpu() - server,
                   "wall": time.perf_counter() - wall, **spent}
        return {name: seconds / measured * 1e6 for name, seconds in figures.items()}
    finally:
        for wiring in wirings:
            wiring.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    spent: dict[str, float] = defaultdict(float)
    instrument(spent)
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for writers in runs:
            runs[writers].append(one_run(fresh_url(args.database_url), writers, args.events,
                                         args.batch, spent))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; {durability(args.database_url)}")
    print(f"{args.events:,} usage-heavy events of one tenant ({WARM:,} of them to warm every "
          f"writer), batches of {args.batch}, {args.rounds} rounds alternated, medians\n")
    print("| us per event | one writer | two taking turns |\n|---|---|---|")

    def cell(writers: int, figure: object) -> str:
        values = [figure(defaultdict(float, r)) for r in runs[writers]]  # type: ignore[operator]
        return f"{statistics.median(values):.1f}"

    for label, key in (("this process's CPU", "cpu"), ("PostgreSQL's CPU", "postgres"),
                       ("wall", "wall")):
        print(f"| {label} | {cell(1, lambda t, k=key: t[k])} | {cell(2, lambda t, k=key: t[k])} |")
    for label, figure in ROWS[:-1]:
        print(f"| {label} | {cell(1, figure)} | {cell(2, figure)} |")


if __name__ == "__main__":
    main()
