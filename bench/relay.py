"""The relay's CPU per event (issue 12), this code beside another version's, A/B alternated
process by process, medians: the relay is the largest user of CPU in the end-to-end pipeline,
so a change to its per-record work is measured here, where the machine's noise is smallest.

Each run, in a fresh process: a SQLite ledger of `--events` usage-heavy events, a fresh topic
of 4 partitions on a real broker, one warm-up pass of the relay, then `--passes` passes of
the whole log, each under a new relay name (so each publishes everything again); the figure
is the median pass's CPU time of the whole process (`time.process_time`: kafka-python's
sender thread included) per event. `--against DIR` runs the same in a copy of another
version (`git archive <commit> | tar -x -C DIR`).

Usage: python -m bench.relay --bootstrap HOST:PORT [--events N] [--runs R] [--against DIR]
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

HERE = Path(__file__).resolve().parent.parent


def one_run(bootstrap_servers: str, events: int, passes: int) -> float:
    """CPU microseconds per event of the median pass of the relay over a fresh ledger."""
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


def _child(root: Path, args: argparse.Namespace) -> float:
    command = [sys.executable, "-P", str(Path(__file__).resolve()), "--child", "--bootstrap",
               args.bootstrap, "--events", str(args.events), "--passes", str(args.passes)]
    env = {**os.environ, "PYTHONPATH": str(root)}  # -P: not this file's folder on the path
    done = subprocess.run(command, env=env, cwd=root, check=True, capture_output=True, text=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another version's tree, alternated with this")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.bootstrap, args.events, args.passes)))
        return
    trees = {"this": HERE, **({"against": args.against.resolve()} if args.against else {})}
    figures: dict[str, list[float]] = {name: [] for name in trees}
    for run in range(args.runs):
        for name in (list(trees) if run % 2 == 0 else list(trees)[::-1]):
            figures[name].append(_child(trees[name], args))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}; {args.events} "
          f"usage-heavy events, {args.runs} runs alternated, medians\n")
    print("| relay, CPU us per event | median | runs |\n|---|---|---|")
    for name, values in figures.items():
        print(f"| {name} | {statistics.median(values):.1f} | "
              f"{', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
