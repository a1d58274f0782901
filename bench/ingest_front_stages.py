"""CPU per event of each stage of `Ledger.ingest` on SQLite: parsing and validating the
envelopes, the batch's reads (receipts, the licenses' facts), the catalogs' read, judging
(which includes that read), and the rest (chain step, index rows, inserts, commit), by
`time.process_time` around each step; the timers add a few us per event.

Usage: python -m bench.ingest_front_stages usage|lifecycle dict|bytes [ROUNDS] [EVENTS]
(`bytes`: each envelope as its JSON text, as `ledger ingest` and Kafka hand it over). Prints
one JSON line of medians over the rounds, in us/event.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import ledger.service as service
import ledger.store.eventstore as eventstore
from bench.ingest import WORKLOADS, fresh_url
from ledger.bootstrap import bootstrap
from ledger.settings import Settings

spent: dict[str, float] = {}


def timed(stage: str, step: Callable[..., Any]) -> Callable[..., Any]:
    def timing(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return step(*args, **kwargs)
        finally:
            spent[stage] = spent.get(stage, 0.0) + time.process_time() - started

    return timing


def main() -> None:
    workload, kind = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    events = WORKLOADS[workload](int(sys.argv[4]) if len(sys.argv) > 4 else 10_000)
    items: list[Any] = [json.dumps(e).encode() for e in events] if kind == "bytes" else events
    service.parse_envelope = timed("parse", service.parse_envelope)  # type: ignore[assignment]
    service._Judging.__init__ = timed("reads", service._Judging.__init__)  # type: ignore[method-assign]
    service._Judging.consider = timed("judging", service._Judging.consider)  # type: ignore[method-assign]
    service.Ledger.ingest = timed("total", service.Ledger.ingest)  # type: ignore[method-assign]
    eventstore.LedgerStore.catalogs = timed(  # type: ignore[method-assign]
        "catalogs", eventstore.LedgerStore.catalogs)
    found: dict[str, list[float]] = {}
    for _ in range(rounds):
        spent.clear()
        wiring = bootstrap(Settings(database_url=fresh_url(None), _env_file=None))  # type: ignore[call-arg]
        try:
            for i in range(0, len(items), 500):
                outcomes = wiring.ledger.ingest(items[i:i + 500], None)
                assert all(o.status == "accepted" for o in outcomes)
        finally:
            wiring.close()
        for stage, seconds in spent.items():
            found.setdefault(stage, []).append(seconds / len(items) * 1e6)
    medians = {stage: round(statistics.median(v), 1) for stage, v in found.items()}
    medians["rest"] = round(medians["total"] - medians["parse"] - medians["reads"]
                            - medians["judging"], 1)
    print(json.dumps({"w": workload, "k": kind, **medians}))


if __name__ == "__main__":
    main()
