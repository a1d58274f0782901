"""The projection follower's apply beside its baseline, merely reading the same facts from the
ledger in the same batches, alternated round by round, medians reported.

Usage: python -m bench.project [--database-url URL] [--events N] [--rounds R] [--batch B]
       [--profile FILE]
"""

from __future__ import annotations

import cProfile
import os
import platform
import statistics
import time
from typing import Any

from bench.ingest import arguments, fresh_url, usage_heavy
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from projections.readmodel import ReadModels


def read_only(store: Any, batch: int) -> float:
    started, position = time.perf_counter(), 0
    while facts := store.facts_after(position, batch):
        position = facts[-1].position
    return time.perf_counter() - started


def applied(store: Any, url: str, batch: int) -> float:
    models = ReadModels.open(url)
    try:
        started, position = time.perf_counter(), 0
        while facts := store.facts_after(position, batch):
            position = facts[-1].position
            models.apply(facts, tracking=("bench", position))
        return time.perf_counter() - started
    finally:
        models.close()


def main() -> None:
    args = arguments(__doc__).parse_args()
    url = fresh_url(args.database_url)
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    events = usage_heavy(args.events)
    for i in range(0, len(events), 500):
        wiring.ledger.ingest(events[i:i + 500], None)
    reads, applies = [], []
    for _ in range(args.rounds):
        reads.append(args.events / read_only(wiring.store, args.batch))
        applies.append(args.events / applied(wiring.store, fresh_url(args.database_url), args.batch))
    if args.profile:
        cProfile.runctx("applied(wiring.store, fresh_url(args.database_url), args.batch)",
                        globals(), locals(), args.profile)
    wiring.close()
    a, b = statistics.median(applies), statistics.median(reads)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"store: {(args.database_url or 'sqlite').split('://')[0]}, {args.events} usage-heavy "
          f"events, batches of {args.batch}, {args.rounds} rounds alternated, medians\n")
    print("| path | facts/s | ratio to reading |\n|---|---|---|")
    print(f"| read the facts | {b:,.0f} | 1 |\n| apply to the read models | {a:,.0f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
