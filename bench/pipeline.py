"""End to end through Kafka: billing.events -> `ledger consume` -> ledger -> `ledger relay` ->
entitlements.events -> `ledger project` workers -> read models, every process on this machine
with the broker and PostgreSQL.

Two modes:

- **backlog** (default): a usage-heavy load is published first, then the workers start; the
  figures are when each stage holds everything (start-up and the first rebalance included),
  the start-up alone (until the first event is in the ledger) and the steady rate (between
  10 % and 90 % held).
- **offered rate** (`--rate N`): the workers start first; once every one has its partitions,
  the load is published at N events/s and the lag from publication to the ledger and to the
  read models is reported (p50/p99, resolved to the 50 ms sampling; see `bench.stages`).

Also reported, where the time went: per process (each worker, the shared PostgreSQL and
broker, this bench's samplers) its CPU seconds, CPU seconds per 1,000 events, share of a core
and the seconds it waited for a core (the run queue: the cores are saturated when processes
wait there), then the machine's busy share and how much of it was other work; per `consume`
worker its events, batches, seconds in `Ledger.ingest` and assignments; the worker-seconds
spent waiting for the tenants' write locks (pg_locks); and the batches `consume` judged again
(`consume.busy`: it waited for a tenant's lock beyond the lock timeout). `--key tenant` sends
each tenant's envelopes to its partition (`consumers.routing`), `--key license` (default) as
billing keys them by default. Run with `--consumers 1` and `--consumers 2` to see what a second
`consume` worker adds.

Usage: python -m bench.pipeline --database-url postgresql://... --bootstrap HOST:PORT
       [--events N] [--consumers C] [--projectors P] [--tenants T] [--rate N] [--key tenant]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer

from bench.ingest import usage_heavy
from bench.stages import (
    LockWaits,
    Processes,
    Samples,
    advisory_key,
    cpu_by_command,
    machine_busy,
    percentile,
    steady_rate,
    waited_on_cpu,
)
from consumers.clients import ensure_topics
from consumers.routing import tenant_partition
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from ledger.store.pgrecorder import lock_key
from projections.readmodel import ReadModels

LEDGER = Path(sys.executable).with_name("ledger")
PARTITIONS = 4


def publish(producer: KafkaProducer, topic: str, events: list[dict[str, Any]], key: str,
            rate: float) -> list[float]:
    """Send the events (at `rate` events/s if given); the moment each one was sent. Encoded
    before the first is sent, so the publisher's JSON takes no CPU from the workers meanwhile."""
    records = [(event["subject"].encode(), json.dumps(event).encode(),
                tenant_partition(event["tenantid"], PARTITIONS) if key == "tenant" else None)
               for event in events]
    sent = []
    started = time.monotonic()
    for n, (record_key, value, partition) in enumerate(records):
        if rate:
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        sent.append(time.monotonic())
        producer.send(topic, key=record_key, value=value, partition=partition)
    producer.flush()
    return sent


def ready(logs: Path, names: list[str]) -> bool:
    """Every group member has its partitions and the relay follows the log."""
    def says(name: str, what: str) -> bool:
        path = logs / f"{name}.log"
        return path.exists() and what in path.read_text(errors="replace")
    return all(says(n, "relay.start" if n == "relay" else "partitions.assigned") for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--projectors", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s offered (0: a backlog)")
    parser.add_argument("--key", choices=("license", "tenant"), default="license")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers-from", type=Path, default=None, metavar="DIR",
                        help="run the workers from this source tree (a baseline from git archive, "
                             "first on PYTHONPATH); this bench and its load stay the same")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    topics = {"LEDGER_INBOUND_TOPIC": f"bench-billing-{run}", "LEDGER_REJECTED_TOPIC": f"bench-rej-{run}",
              "LEDGER_OUTBOUND_TOPIC": f"bench-ent-{run}", "LEDGER_CONSUMER_GROUP": f"bench-c-{run}",
              "LEDGER_PROJECTION_GROUP": f"bench-p-{run}"}
    ensure_topics(args.bootstrap, [topics["LEDGER_INBOUND_TOPIC"], topics["LEDGER_REJECTED_TOPIC"],
                                   topics["LEDGER_OUTBOUND_TOPIC"]], partitions=PARTITIONS)
    base = args.database_url.split("?")[0]
    db_url, read_url = f"{base}?schema=bench_l_{run}", f"{base}?schema=bench_r_{run}"
    wiring = bootstrap(Settings(database_url=db_url, _env_file=None))  # type: ignore[call-arg]
    models = ReadModels.open(read_url)
    per_tenant = args.events // args.tenants
    events: list[dict[str, Any]] = [e for n in range(args.tenants)
                                    for e in usage_heavy(per_tenant, tenant=f"tenant-{n}")]
    # The catalogs are the tenants' setup, recorded first: on 4 partitions a grant could
    # otherwise overtake its catalog and the benchmark would measure rejections.
    catalogs = [e for e in events if e["type"] == "catalog.published"]
    wiring.ledger.ingest(catalogs, None)
    load = [e for e in events if e["type"] != "catalog.published"]
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=5, batch_size=256_000)
    published: list[float] = []
    if not args.rate:
        publish(producer, topics["LEDGER_INBOUND_TOPIC"], load, args.key, 0)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}, **topics,
           "LEDGER_DATABASE_URL": db_url, "LEDGER_READ_DATABASE_URL": read_url,
           "LEDGER_KAFKA_BOOTSTRAP": args.bootstrap, "LEDGER_LOG_FORMAT": "json"}
    if args.workers_from:
        env["PYTHONPATH"] = os.pathsep.join([str(args.workers_from.resolve()),
                                             *filter(None, [env.get("PYTHONPATH")])])
    logs = Path(f".cache/bench-pipeline-{run}")
    logs.mkdir(parents=True, exist_ok=True)
    roles = ([("consume", f"consume-{i}") for i in range(args.consumers)] + [("relay", "relay")]
             + [("project", f"project-{i}") for i in range(args.projectors)])
    samples = Samples()
    held = {"ledger": lambda: wiring.store.max_position() - len(catalogs),
            "read models": lambda: _applied(models, topics["LEDGER_OUTBOUND_TOPIC"]) - len(catalogs)}
    busy_before, total_before = machine_busy()
    shared_before = cpu_by_command(["postgres", "java"])
    queued_before = cpu_by_command(["postgres", "java"], measure=waited_on_cpu)
    own_before = time.process_time()
    started = time.monotonic()
    processes = [subprocess.Popen([str(LEDGER), role, "--max-idle", "20", "--batch-size",
                                   str(args.batch_size)], env=env,
                                  stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
                 for role, name in roles]
    shared: dict[str, float] = {"postgres": 0.0, "java": 0.0}
    exited: dict[str, int] = {}
    queued: dict[str, float] = {"postgres": 0.0, "java": 0.0}
    busy_after, total_after, own = busy_before, total_before, 0.0
    workers = Processes({name: p.pid for (_, name), p in zip(roles, processes, strict=True)})
    locks = LockWaits(lambda: psycopg.connect(base, autocommit=True),
                      [advisory_key(lock_key(f"tenant-{n}")) for n in range(args.tenants)])
    try:
        samples.watch(held)
        workers.watch(samples.stop)
        locks.watch(samples.stop)
        if args.rate:
            while not ready(logs, [n for _, n in roles]):
                time.sleep(0.2)
            published = publish(producer, topics["LEDGER_INBOUND_TOPIC"], load, args.key, args.rate)
        while (samples.reached("read models", len(load)) is None
               and any(p.poll() is None for p in processes)):
            time.sleep(0.2)
        # before the workers stop: their PostgreSQL backends end with them
        exited = {name: code for (_, name), p in zip(roles, processes, strict=True)
                  if (code := p.poll()) is not None}
        workers.sample()
        shared = cpu_by_command(["postgres", "java"], since=shared_before)
        queued = cpu_by_command(["postgres", "java"], since=queued_before, measure=waited_on_cpu)
        busy_after, total_after = machine_busy()
        own = time.process_time() - own_before
    finally:
        samples.stop.set()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        producer.close()
        models.close()
        wiring.close()
    report(args, samples, load, started, published, Usage(
        workers, shared, queued, own, busy_after - busy_before, total_after - total_before,
        locks), logs)
    _say_exited(exited, logs)


def _say_exited(exited: dict[str, int], logs: Path) -> None:
    """A worker that failed before the load was through makes the run another run than the
    one asked for (one consume worker fewer, say): said loudly, with its last words, and the
    bench exits 1. One that stopped cleanly (`--max-idle`: no records for it in 20 s, e.g.
    partitions that hold none of the load) is only noted."""
    for name, code in exited.items():
        lines = (logs / f"{name}.log").read_text(errors="replace").strip().splitlines()
        last = lines[-1] if lines else ""
        if code == 0:
            print(f"\n{name} stopped idle during the run (exit status 0). Its last line: {last}")
            continue
        print(f"\n**{name} FAILED during the run (exit status {code})**: the figures above are "
              f"not those of the workers asked for. Its last line: {last}")
    if any(code != 0 for code in exited.values()):
        sys.exit(1)


@dataclass
class Usage:
    """Where the machine's time went over the run: each worker's CPU and run-queue seconds, the
    shared PostgreSQL's and broker's, this bench's own (publisher, samplers), the machine's."""

    workers: Processes
    shared: dict[str, float]
    queued: dict[str, float]
    own: float
    busy: float
    total: float
    locks: LockWaits


def _applied(models: ReadModels, topic: str) -> int:
    """Records of the outbound topic applied: the sum of the projection's tracking records (a
    cheap read, unlike counting a million applied positions every 50 ms)."""
    with models.db.reading() as cur:
        row = cur.execute("SELECT COALESCE(SUM(value), 0) FROM rm_tracking WHERE tracking_key LIKE ?",
                          (f"{topic}:%",)).fetchone()
    return int(row[0]) if row else 0


def _logged(logs: Path, prefix: str, what: str) -> int:
    return sum(p.read_text(errors="replace").count(f'"{what}"') for p in logs.glob(f"{prefix}*.log"))


def _batches(log: Path) -> tuple[int, int, float]:
    """(batches, events, seconds in `Ledger.ingest`) of one consume worker's log."""
    count, events, seconds = 0, 0, 0.0
    for line in log.read_text(errors="replace").splitlines():
        if '"consume.batch"' in line:
            entry = json.loads(line)
            count += 1
            events += entry["accepted"] + entry["duplicate"] + entry["rejected"]
            seconds += entry.get("ingest_seconds", 0.0)
    return count, events, seconds


def where_the_time_went(usage: Usage, total: int, wall: float, logs: Path) -> None:
    """Per process: CPU seconds, per 1,000 events, the seconds it waited for a core; then the
    machine: how busy, how much of it these processes, how much the rest of the machine."""
    cores = os.cpu_count() or 1
    rows = [(name, seconds, usage.workers.queued.get(name, 0.0))
            for name, seconds in usage.workers.cpu.items()]
    rows += [("PostgreSQL (all its clients)", usage.shared["postgres"], usage.queued["postgres"]),
             ("broker", usage.shared["java"], usage.queued["java"]),
             ("this bench (samplers)", usage.own, 0.0)]
    print(f"\nWhere the time went over the run ({wall:.1f} s wall, {cores} cores = "
          f"{wall * cores:.1f} core-seconds):\n")
    print("| process | CPU s | CPU s / 1,000 events | share of a core | waited for a core, s |"
          "\n|---|---|---|---|---|")
    for name, seconds, waited in rows:
        print(f"| {name} | {seconds:.1f} | {seconds / total * 1000:.3f} | {seconds / wall * 100:.0f} % "
              f"| {waited:.1f} |")
    ours = sum(r[1] for r in rows)
    others = max(usage.busy - ours, 0.0)
    print(f"| **all of the above** | {ours:.1f} | {ours / total * 1000:.3f} | "
          f"{ours / wall * 100:.0f} % | |")
    print(f"| the rest of the machine (other work) | {others:.1f} | | {others / wall * 100:.0f} % | |")
    busy = usage.busy / max(usage.total, 1e-9)
    print(f"\nmachine busy {busy * 100:.0f} % of its {cores} cores "
          f"({usage.busy:.1f} of {usage.total:.1f} core-seconds); "
          f"{'saturated' if busy >= 0.95 else 'not saturated'}")
    for log in sorted(logs.glob("consume-*.log")):
        batches, events, seconds = _batches(log)
        assigned = log.read_text(errors="replace").count('"partitions.assigned"')
        print(f"{log.stem}: {events:,} events in {batches} batches, {seconds:.1f} s in "
              f"Ledger.ingest (lock waits included), {assigned} assignment(s)")
    print(f"waiting for a tenant's write lock (pg_locks, sampled every {usage.locks.every} s): "
          f"{usage.locks.seconds():.1f} worker-seconds, some worker waiting "
          f"{usage.locks.share() * 100:.0f} % of the time")


def report(args: Any, samples: Samples, load: list[Any], started: float, published: list[float],
           usage: Usage, logs: Path) -> None:
    total = len(load)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    mode = f"offered at {args.rate:,.0f} events/s" if args.rate else "published first (a backlog)"
    print(f"{total} usage-heavy events of {args.tenants} tenant(s), {mode}, key {args.key}, "
          f"{PARTITIONS} partitions, {args.consumers} consume, 1 relay, {args.projectors} project "
          f"worker(s), batches of {args.batch_size}, workers from "
          f"{args.workers_from or 'this tree'}; logs in {logs}\n")
    print("| stage | holds all after (s from start) | events/s from start | first event after (s) "
          "| steady events/s (10-90 %) |\n|---|---|---|---|---|")
    for stage in ("ledger", "read models"):
        done, first = samples.reached(stage, total), samples.reached(stage, 1)
        steady = steady_rate(samples, stage, total)
        cells = [f"{done - started:.1f}" if done else "never",
                 f"{total / (done - started):,.0f}" if done else "",
                 f"{first - started:.1f}" if first else "never", f"{steady:,.0f}" if steady else ""]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    if published:
        print("\n| publication -> | lag p50 | lag p99 | max |\n|---|---|---|---|")
        for stage in ("ledger", "read models"):
            lags = samples.lags(stage, published)
            print(f"| {stage} | {percentile(lags, 0.5) * 1000:.0f} ms | "
                  f"{percentile(lags, 0.99) * 1000:.0f} ms | {max(lags, default=0) * 1000:.0f} ms |")
    done = samples.reached("read models", total)
    where_the_time_went(usage, total, (done or time.monotonic()) - started, logs)
    busy_batches = _logged(logs, "consume", "consume.busy")
    print(f"consume judged again after a lock wait (consume.busy): {busy_batches}; "
          f"fenced batches: {_logged(logs, 'consume', 'partitions.fenced')}")


if __name__ == "__main__":
    main()
