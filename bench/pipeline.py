"""End to end through Kafka: billing.events -> `ledger consume` -> ledger -> `ledger relay` ->
entitlements.events -> `ledger project` workers -> read models, every process on this machine
with the broker and PostgreSQL. A usage-heavy load is published first (the backlog), then the
workers start; the figures are how fast each stage drains it. Run it with `--consumers 1`
and `--consumers 2` to see what a second `consume` worker adds (one tenant, or `--tenants 2`).

Usage: python -m bench.pipeline --database-url postgresql://... --bootstrap HOST:PORT
       [--events N] [--consumers C] [--projectors P] [--tenants T]
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
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from bench.ingest import usage_heavy
from consumers.clients import ensure_topics
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from projections.readmodel import ReadModels

LEDGER = Path(sys.executable).with_name("ledger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--projectors", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=1)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    topics = {"LEDGER_INBOUND_TOPIC": f"bench-billing-{run}", "LEDGER_REJECTED_TOPIC": f"bench-rej-{run}",
              "LEDGER_OUTBOUND_TOPIC": f"bench-ent-{run}", "LEDGER_CONSUMER_GROUP": f"bench-c-{run}",
              "LEDGER_PROJECTION_GROUP": f"bench-p-{run}"}
    ensure_topics(args.bootstrap, [topics["LEDGER_INBOUND_TOPIC"], topics["LEDGER_REJECTED_TOPIC"],
                                   topics["LEDGER_OUTBOUND_TOPIC"]], partitions=4)
    base = args.database_url.split("?")[0]
    db_url, read_url = f"{base}?schema=bench_l_{run}", f"{base}?schema=bench_r_{run}"
    wiring = bootstrap(Settings(database_url=db_url, _env_file=None))  # type: ignore[call-arg]
    models = ReadModels.open(read_url)
    per_tenant = args.events // args.tenants
    events: list[dict[str, Any]] = [e for n in range(args.tenants)
                                    for e in usage_heavy(per_tenant, tenant=f"tenant-{n}")]
    # The catalogs are the tenants' setup, recorded first: on 4 partitions a grant could
    # otherwise overtake its catalog and the benchmark would measure rejections.
    wiring.ledger.ingest([e for e in events if e["type"] == "catalog.published"], None)
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20, batch_size=256_000)
    for event in (e for e in events if e["type"] != "catalog.published"):
        producer.send(topics["LEDGER_INBOUND_TOPIC"], key=event["subject"].encode(),
                      value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}, **topics,
           "LEDGER_DATABASE_URL": db_url, "LEDGER_READ_DATABASE_URL": read_url,
           "LEDGER_KAFKA_BOOTSTRAP": args.bootstrap, "LEDGER_LOG_FORMAT": "json"}
    logs = Path(f".cache/bench-pipeline-{run}")
    logs.mkdir(parents=True, exist_ok=True)
    roles = ([("consume", f"consume-{i}") for i in range(args.consumers)] + [("relay", "relay")]
             + [("project", f"project-{i}") for i in range(args.projectors)])
    started = time.monotonic()
    processes = [subprocess.Popen([str(LEDGER), role, "--max-idle", "20"], env=env,
                                  stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
                 for role, name in roles]
    reached: dict[str, float] = {}
    try:
        while len(reached) < 2 and any(p.poll() is None for p in processes):
            time.sleep(0.5)
            if "ledger" not in reached and wiring.store.max_position() >= len(events):
                reached["ledger"] = time.monotonic() - started
            if "read models" not in reached and len(models.applied_positions()) >= len(events):
                reached["read models"] = time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        models.close()
        wiring.close()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{len(events)} usage-heavy events of {args.tenants} tenant(s), 4 partitions, "
          f"{args.consumers} consume, 1 relay, {args.projectors} project worker(s); backlog drained\n")
    print("| stage reached | seconds from start | events/s |\n|---|---|---|")
    for stage, seconds in reached.items():
        print(f"| {stage} | {seconds:.1f} | {len(events) / seconds:,.0f} |")


if __name__ == "__main__":
    main()
