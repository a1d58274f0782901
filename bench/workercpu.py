"""CPU of the Kafka workers' own steps, in process, A/B alternated (issue 12): the relay's pages
with records placed by the kept key hash (`consumers.placement`) against the producer's own
partitioner, and `consume`'s outcome counting tallied per batch against one label lookup per
envelope. The relay sends to a real broker (a fresh topic), so kafka-python's sender thread is
counted too: time.process_time() covers every thread of this process.

Usage: python -m bench.workercpu --bootstrap HOST:PORT [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

from bench.ingest import usage_heavy
from consumers.clients import ensure_topics, idempotent_producer
from consumers.metrics import WorkerMetrics
from consumers.relay import Relay
from ledger.bootstrap import bootstrap
from ledger.settings import Settings


def relay_round(relay: Relay, placed: bool) -> float:
    """CPU seconds to publish every fact once (a fresh relay position each round)."""
    relay.name = f"relay:{uuid.uuid4().hex}"
    if not placed:
        relay.placement.partitioner = lambda producer, topic: None  # type: ignore[method-assign]
    started = time.process_time()
    while relay.publish_next():
        pass
    spent = time.process_time() - started
    if not placed:
        del relay.placement.partitioner  # back to the class's method
    return spent


def per_envelope(metrics: WorkerMetrics, raws: list[Any], outcomes: list[Any]) -> None:
    """The counting before this round: one label lookup and increment per envelope."""
    for raw, outcome in zip(raws, outcomes, strict=True):
        metrics.events.labels(metrics.worker, outcome.status, outcome.code or "").inc()
        if outcome.status == "accepted":
            kind = raw.get("type") if isinstance(raw, dict) else None
            metrics.transitions.labels(metrics.worker, str(kind or "unknown")).inc()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        wiring = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'l.db'}",
                                    _env_file=None))  # type: ignore[call-arg]
        events = usage_heavy(args.events, tenant="bench")
        outcomes = []
        for n in range(0, len(events), 500):
            outcomes += wiring.ledger.ingest(events[n:n + 500], None)
        topic = f"bench-cpu-{uuid.uuid4().hex[:8]}"
        ensure_topics(args.bootstrap, [topic], partitions=4)
        producer = idempotent_producer(args.bootstrap, "bench-workercpu")
        relay = Relay(wiring.store, producer, topic)
        relay_round(relay, True)  # warm: metadata, connections
        cpu: dict[str, list[float]] = {"relay, producer's partitioner": [], "relay, placed by kept hash": [],
                                       "consume counting, per envelope": [], "consume counting, tallied": []}
        for r in range(args.rounds):
            for placed in ((False, True) if r % 2 == 0 else (True, False)):
                name = "relay, placed by kept hash" if placed else "relay, producer's partitioner"
                cpu[name].append(relay_round(relay, placed))
            for tallied in ((False, True) if r % 2 == 0 else (True, False)):
                metrics = WorkerMetrics("consume")
                started = time.process_time()
                for n in range(0, len(events), 500):
                    batch, judged = events[n:n + 500], outcomes[n:n + 500]
                    if tallied:
                        metrics.observe_outcomes(batch, judged)
                    else:
                        per_envelope(metrics, batch, judged)
                name = "consume counting, tallied" if tallied else "consume counting, per envelope"
                cpu[name].append(time.process_time() - started)
        producer.close()
        wiring.close()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {len(events)} usage-heavy events, "
          f"{args.rounds} alternated rounds\n")
    print("| step | CPU us per event, median | rounds (us per event) |\n|---|---|---|")
    for name, spent in cpu.items():
        per = [s / len(events) * 1e6 for s in spent]
        print(f"| {name} | {statistics.median(per):.1f} | {', '.join(f'{p:.1f}' for p in per)} |")


if __name__ == "__main__":
    main()
