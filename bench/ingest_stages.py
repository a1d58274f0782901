"""Where an ingest's CPU goes, stage by stage, beside the library's insert of the same facts.

`bench/ingest.py` gives the wall-clock ratio; this gives the CPU (`time.process_time`) of each
step of `Ledger.ingest` per event, so a change to one stage is seen in that stage and not lost
in the machine's noise. The steps are timed by wrapping the functions that make them, each
called once per batch (the timers cost nothing per event); a step a version of the code does
not have is left out. `--against DIR` runs the same in a copy of another version (say
`git archive main | tar -x -C DIR`), the two alternated process by process, medians. `--text`
hands each envelope over as its JSON text, as `ledger ingest` and Kafka do (parsing then
includes decoding it), instead of as an object, as in-process callers and HTTP do.

Usage: python -m bench.ingest_stages [--events N] [--runs R] [--workload usage|lifecycle|interleaved|both]
       [--against DIR] [--database-url URL] [--text]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
# (label, module, attribute path) of each timed step, outermost first
STEPS = [
    ("ingest", "ledger.service", "Ledger.ingest"),
    ("write", "ledger.store.eventstore", "LedgerStore.write"),
    ("reads", "ledger.judging", "BatchJudgement.__init__"),
    ("reads", "ledger.service", "_Judging.__init__"),  # before ledger/judging.py
    ("catalogs", "ledger.store.eventstore", "LedgerStore.catalogs"),
    ("chain", "ledger.store.eventstore", "LedgerStore._chained"),
    ("head", "ledger.store.eventstore", "LedgerStore.head"),
    ("index rows", "ledger.store.eventstore", "index_rows"),  # before the insert, or in it:
    ("index rows in insert", "ledger.store.recorders", "index_values"),
    ("index rows in insert", "ledger.store.pgrecorder", "index_values"),
    ("insert", "ledger.store.recorders", "_SQLiteWriter.insert"),
    ("insert", "ledger.store.pgrecorder", "_PostgresWriter.insert"),
    ("insert", "ledger.store.recorders", "_PostgresWriter.insert"),  # before pgrecorder.py
    ("facts insert", "ledger.store.recorders", "insert_facts"),
    ("facts insert", "ledger.store.pgrecorder", "PostgresLedgerRecorder._insert_stored_events"),
    ("facts insert", "ledger.store.recorders", "PostgresLedgerRecorder._insert_stored_events"),
    ("tree", "ledger.store.treeindex", "TreeIndex.extend_trees"),
    ("commit", "eventsourcing.sqlite", "SQLiteConnection.commit"),
]
# what each figure is: the steps nest, so some are differences
ROWS = [
    ("parse and validate (before the lock)", lambda t: t["ingest"] - t["write"]),
    ("the batch's reads", lambda t: t["reads"]),
    ("judging (the catalogs' read apart)", lambda t: t["judge"] - t["reads"] - t["catalogs"]),
    ("the catalogs' read (in judging)", lambda t: t["catalogs"]),
    ("the chain step (the head's read apart)", lambda t: t["chain"] - t["head"]),
    ("the head's read and check", lambda t: t["head"]),
    ("index rows", lambda t: t["index rows"] + t["index rows in insert"]),
    ("the facts' insert", lambda t: t["facts insert"]),
    ("the index rows' insert",
     lambda t: t["insert"] - t["facts insert"] - t["tree"] - t["index rows in insert"]),
    ("the tree", lambda t: t["tree"]),
    ("the commit", lambda t: t["commit"]),
    ("the rest of the write (lock, positions)",
     lambda t: t["write"] - t["judge"] - t["chain"] - t["index rows"] - t["insert"] - t["commit"]),
    ("**`Ledger.ingest` in all**", lambda t: t["ingest"]),
    ("the library's `insert_events` of the same facts", lambda t: t["library"]),
]


def _timed(spent: dict[str, float], label: str, function: Any) -> Any:
    """`function`, adding its CPU time to `spent[label]`; a commit only within a write (the
    store's creation commits too)."""
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if label == "commit" and not spent["writing"]:
            return function(*args, **kwargs)
        spent["writing"] += label == "write"
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started
            spent["writing"] -= label == "write"
    return timed


def instrument(spent: dict[str, float]) -> None:
    """Wrap every step this version of the code has (and the judge `write` is given)."""
    import importlib

    for label, module_name, path in STEPS:
        try:  # a version of the code without the module (or the step) has not that step
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        *outer, name = path.split(".")
        try:
            for part in outer:
                owner = getattr(owner, part)
            setattr(owner, name, _timed(spent, label, getattr(owner, name)))
        except AttributeError:
            continue
    from ledger.store.eventstore import LedgerStore

    write = LedgerStore.write

    def write_timing_judge(self: Any, tenants: Any, judge: Any) -> Any:
        return write(self, tenants, _timed(spent, "judge", judge))

    LedgerStore.write = write_timing_judge  # type: ignore[method-assign]


def one_run(workload: str, events: int, batch: int, database_url: str | None,
            text: bool = False) -> dict[str, float]:
    """CPU microseconds per event of each step of one ingest of `events` on a fresh store, and
    of the library's insert of the same payloads. `text`: each envelope handed over as its
    JSON text, as `ledger ingest` and Kafka do (else as an object, as in-process callers and
    HTTP do)."""
    from bench.ingest import WORKLOADS, fresh_url, library, ours

    spent: dict[str, float] = defaultdict(float)
    instrument(spent)
    envelopes: list[Any] = WORKLOADS[workload](events)
    if text:
        envelopes = [json.dumps(e).encode() for e in envelopes]
    _, payloads = ours(fresh_url(database_url), envelopes, batch)
    started = time.process_time()
    library(fresh_url(database_url), payloads, batch)
    spent["library"] = time.process_time() - started
    return {label: 1e6 * seconds / len(envelopes) for label, seconds in spent.items()}


def _child(root: Path, workload: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, "-P", str(Path(__file__).resolve()), "--child", workload,
               "--events", str(args.events), "--batch", str(args.batch)]
    if args.database_url:
        command += ["--database-url", args.database_url]
    if args.text:
        command.append("--text")
    env = {**os.environ, "PYTHONPATH": str(root)}  # -P: not this file's folder on the path
    done = subprocess.run(command, env=env, cwd=root, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workload", choices=["usage", "lifecycle", "interleaved", "both"],
                        default="both", help="both: usage and lifecycle")
    parser.add_argument("--against", type=Path, default=None, help="another version's tree")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--text", action="store_true",
                        help="envelopes as JSON text (as ledger ingest and Kafka hand them over)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.child, args.events, args.batch, args.database_url,
                                 args.text)))
        return
    roots = {"this": HERE} if args.against is None else {"base": args.against.resolve(), "this": HERE}
    workloads = ["usage", "lifecycle"] if args.workload == "both" else [args.workload]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.events} events "
          f"{'as JSON text' if args.text else 'as objects'}, batches of {args.batch}, "
          f"{args.runs} runs alternated, medians (us of CPU per event)\n")
    for workload in workloads:
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
        for _ in range(args.runs):
            for name, root in roots.items():
                runs[name].append(_child(root, workload, args))
        shown = workload if workload == "interleaved" else f"{workload}-heavy"
        header = " | ".join(f"{shown}, {name}" for name in roots)
        print(f"| stage (us/event, CPU) | {header} |\n|---|" + "---|" * len(roots))
        for label, figure in ROWS:
            cells = []
            for name in roots:
                values = [figure(defaultdict(float, r)) for r in runs[name]]
                cells.append(f"{statistics.median(values):.1f}")
            print(f"| {label} | {' | '.join(cells)} |")
        ratio = " | ".join(
            f"{statistics.median(r['library'] / r['ingest'] for r in runs[name]):.3f}" for name in roots)
        print(f"| CPU ratio, library / ours | {ratio} |\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
