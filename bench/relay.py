"""The relay's (or a projector's) CPU per event (issue 12), this code beside another version's,
A/B alternated process by process, medians: the relay is the largest user of CPU in the
end-to-end pipeline, the projectors next, so a change to their per-record work is measured
here, where the machine's noise is smallest.

Each run, in a fresh process: a SQLite ledger of `--events` usage-heavy events, a fresh topic
of 4 partitions on a real broker, one warm-up pass of the relay, then `--passes` passes of
the whole log, each under a new relay name (so each publishes everything again); the figure
is the median pass's CPU time of the whole process (`time.process_time`: kafka-python's
sender thread included) per event. `--against DIR` runs the same in a copy of another
version (`git archive <commit> | tar -x -C DIR`).

`--worker project`: instead, a projector (`consumers.project.Projector.take_all`, the path of
`ledger project`) applies the relay's messages of the same ledger, as records of one
partition in polls of 500, to fresh PostgreSQL read models (`--database-url`), each pass into
a new schema; no broker is needed.

Usage: python -m bench.relay --bootstrap HOST:PORT [--events N] [--runs R] [--against DIR]
       python -m bench.relay --worker project --database-url URL [...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def one_run(bootstrap_servers: str, events: int, passes: int, worker: str = "relay",
            database_url: str = "") -> float:
    """CPU microseconds per event of the median pass of the worker over a fresh ledger."""
    import structlog

    from bench.ingest import usage_heavy
    from consumers.clients import ensure_topics, idempotent_producer
    from consumers.relay import Relay
    from ledger.bootstrap import bootstrap
    from ledger.settings import Settings

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        wiring = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'l.db'}",
                                    _env_file=None))  # type: ignore[call-arg]
        envelopes = usage_heavy(events)
        for n in range(0, len(envelopes), 500):
            wiring.ledger.ingest(envelopes[n:n + 500], None)
        if worker == "project":
            spent = _projector_passes(wiring, database_url, passes)
            wiring.close()
            return statistics.median(spent)
        topic = f"bench-relay-{uuid.uuid4().hex[:8]}"
        ensure_topics(bootstrap_servers, [topic], partitions=4)
        producer = idempotent_producer(bootstrap_servers, "bench-relay")
        relay = Relay(wiring.store, producer, topic)
        spent = []
        for n in range(passes + 1):  # the first warms up: metadata, connections
            relay.name = f"relay:{uuid.uuid4().hex}"
            started = time.process_time()
            while relay.publish_next():
                pass
            if n:
                spent.append(1e6 * (time.process_time() - started) / len(envelopes))
        producer.close()
        wiring.close()
    return statistics.median(spent)


def _projector_passes(wiring: Any, database_url: str, passes: int) -> list[float]:
    from collections import namedtuple

    from consumers.outbound import encode_fact
    from consumers.project import Projector
    from projections.readmodel import ReadModels

    record = namedtuple("record", "value offset")
    facts = wiring.store.facts_after(0, 10**9)
    records = [record(encode_fact(f)[1], n) for n, f in enumerate(facts)]
    spent = []
    for n in range(passes + 1):  # the first warms up: connections, prepared statements
        models = ReadModels.open(f"{database_url.partition('?')[0]}?schema=bench_project_"
                                 f"{uuid.uuid4().hex[:10]}")
        projector = Projector(models)
        started = time.process_time()
        for at in range(0, len(records), 500):
            projector.take_all({"entitlements.events:0": records[at:at + 500]})
        if n:
            spent.append(1e6 * (time.process_time() - started) / len(records))
        models.close()
    return spent


def _child(root: Path, args: argparse.Namespace) -> float:
    command = [sys.executable, "-P", str(Path(__file__).resolve()), "--child", "--bootstrap",
               args.bootstrap, "--events", str(args.events), "--passes", str(args.passes),
               "--worker", args.worker, "--database-url", args.database_url]
    env = {**os.environ, "PYTHONPATH": str(root)}  # -P: not this file's folder on the path
    done = subprocess.run(command, env=env, cwd=root, check=True, capture_output=True, text=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="", help="the broker (the relay's runs)")
    parser.add_argument("--worker", choices=["relay", "project"], default="relay")
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL for the projector's read models (--worker project)")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another version's tree, alternated with this")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.bootstrap, args.events, args.passes, args.worker,
                                 args.database_url)))
        return
    trees = {"this": HERE, **({"against": args.against.resolve()} if args.against else {})}
    figures: dict[str, list[float]] = {name: [] for name in trees}
    for run in range(args.runs):
        for name in (list(trees) if run % 2 == 0 else list(trees)[::-1]):
            figures[name].append(_child(trees[name], args))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}; {args.events} "
          f"usage-heavy events, {args.runs} runs alternated, medians\n")
    print(f"| {args.worker}, CPU us per event | median | runs |\n|---|---|---|")
    for name, values in figures.items():
        print(f"| {name} | {statistics.median(values):.1f} | "
              f"{', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
