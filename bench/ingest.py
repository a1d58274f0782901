"""Ingest beside its baseline: the eventsourcing library's own `insert_events` of the same number
of facts with the same payloads, in the same batches, on the same database, alternated round by
round (A, B, A, B, ...), medians reported. The ratio is the figure; the machine is noisy.

`--path cli` measures the same workload through `ledger ingest` instead: the CLI command run
in-process (no interpreter start-up) on a JSON Lines file of the envelopes, the bytes of each
line going through the parser every channel shares (`parse_envelope` with text), timed from
the command's start (its bootstrap on an already created schema) to its summary.

Usage: python -m bench.ingest [--database-url URL] [--events N] [--rounds R] [--batch B]
       [--workload usage|lifecycle|interleaved|both] [--path inprocess|cli|both] [--profile FILE] [--cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from ledger.bootstrap import bootstrap
from ledger.cli.main import cli
from ledger.settings import Settings
from ledger.store.codec import encode, fact_record
from ledger.store.database import ensure_schema, library_settings
from tests.builders import catalog_envelope, envelope

START = datetime(2026, 1, 1, tzinfo=UTC)
# What each figure is timed with: the wall clock, or with --cpu this process's CPU time (on
# SQLite all the work is in this process; a loaded machine spreads wall clock, less CPU time).
clock = time.perf_counter


def usage_heavy(events: int, tenant: str = "bench") -> list[dict[str, Any]]:
    """A grant, then 49 usage records, per license."""
    out = [catalog_envelope(tenant=tenant, id="catalog")]
    n = 0
    while len(out) < events:
        lic = f"lic-{n}"
        out.append(envelope("license.granted", "2026-01-02", lic, tenant=tenant, id=f"{lic}-g",
                            customer_id=f"cust-{n // 3}", plan="pro", seats=5))
        for k in range(49):
            moment = (START + timedelta(days=2 + k % 80, minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(envelope("usage.recorded", moment, lic, tenant=tenant, id=f"{lic}-u{k}",
                                feature="api_calls", quantity=1))
        n += 1
    return out[:events]


def lifecycle_heavy(events: int, tenant: str = "bench") -> list[dict[str, Any]]:
    """A grant, an upgrade, 18 seat assignments, per license: every event folds the license."""
    out = [catalog_envelope(tenant=tenant, id="catalog")]
    n = 0
    while len(out) < events:
        lic = f"lic-{n}"
        out.append(envelope("license.granted", "2026-01-02", lic, tenant=tenant, id=f"{lic}-g",
                            customer_id=f"cust-{n // 3}", plan="basic", seats=40))
        out.append(envelope("license.upgraded", "2026-01-03", lic, tenant=tenant, id=f"{lic}-up",
                            plan="pro"))
        for k in range(18):
            out.append(envelope("seat.assigned", f"2026-01-{4 + k:02d}", lic, tenant=tenant,
                                id=f"{lic}-s{k}", user_id=f"user-{k}"))
        n += 1
    return out[:events]


def interleaved(events: int, tenant: str = "bench", licenses: int = 200) -> list[dict[str, Any]]:
    """200 grants, then usage records of the 200 licenses taking turns: every batch touches
    every license, as a billing stream of many customers does (the two workloads above give a
    batch of 500 its 10 or 25 licenses, each new)."""
    out = [catalog_envelope(tenant=tenant, id="catalog")]
    out += [envelope("license.granted", "2026-01-02", f"lic-{n}", tenant=tenant, id=f"lic-{n}-g",
                     customer_id=f"cust-{n // 3}", plan="pro", seats=5) for n in range(licenses)]
    k = 0
    while len(out) < events:
        moment = START + timedelta(days=2 + (k // licenses) % 80, minutes=k % 1000)
        out.append(envelope("usage.recorded", moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            f"lic-{k % licenses}", tenant=tenant, id=f"u{k}",
                            feature="api_calls", quantity=1))
        k += 1
    return out[:events]


WORKLOADS = {"usage": usage_heavy, "lifecycle": lifecycle_heavy, "interleaved": interleaved}


def durability(url: str | None) -> str:
    """What the store's commits wait for: the figures differ several-fold between a PostgreSQL
    that flushes each commit to disk and one that does not (the test cluster's default)."""
    if not url:
        return ("durability: SQLite, journal_mode=WAL (the library's), synchronous at SQLite's "
                "default, FULL (the library sets none)")
    import psycopg

    with psycopg.connect(url.partition("?")[0]) as conn:
        rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', "
                            "'synchronous_commit', 'full_page_writes') ORDER BY name").fetchall()
    return "durability: PostgreSQL " + ", ".join(f"{name}={setting}" for name, setting in rows)


def fresh_url(base: str | None) -> str:
    if base is None:
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    return f"{base.split('?')[0]}?schema=bench_{uuid.uuid4().hex[:10]}"


def ours(url: str, events: list[Any], batch: int) -> tuple[float, list[bytes]]:
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        started = clock()
        for i in range(0, len(events), batch):
            outcomes = wiring.ledger.ingest(events[i:i + batch], None)
            assert all(o.status == "accepted" for o in outcomes), [o for o in outcomes if o.code][:1]
        seconds = clock() - started
        payloads = [encode(fact_record(f)) for f in wiring.store.facts_after(0, len(events) + 1)]
        return seconds, payloads
    finally:
        wiring.close()


def through_cli(url: str, events: list[dict[str, Any]], batch: int) -> tuple[float, list[bytes]]:
    """`ledger ingest FILE` on the envelopes as JSON Lines (its batches are its own, of 500)."""
    assert batch == 500, "ledger ingest takes batches of 500"
    lines = Path(tempfile.mkdtemp()) / "events.jsonl"
    lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    bootstrap(Settings(database_url=url, _env_file=None)).close()  # type: ignore[call-arg]
    started = clock()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its summary is not the bench's output
            cli.main(["--database-url", url, "ingest", str(lines), "--format", "json"],
                     standalone_mode=False)
    except SystemExit as exc:  # the command exits non-zero if a line was rejected
        raise AssertionError("a line was rejected") from exc
    seconds = clock() - started
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        found = wiring.store.facts_after(0, len(events) + 1)
        assert len(found) == len(events), f"{len(found)} of {len(events)} recorded"
        return seconds, [encode(fact_record(f)) for f in found]
    finally:
        wiring.close()


PATHS = {"inprocess": ours, "cli": through_cli}


def library(url: str, payloads: list[bytes], batch: int) -> float:
    """The library's application recorder, as it comes, writing the same payloads."""
    ensure_schema(url)
    settings = {k: v for k, v in library_settings(url).items() if k != "PROCESS_RECORDER_TOPIC"}
    factory = InfrastructureFactory.construct(Environment(env=settings))
    recorder = factory.application_recorder()
    stream = uuid.uuid4()
    stored = [StoredEvent(stream, n + 1, "fact:bench", p) for n, p in enumerate(payloads)]
    try:
        started = clock()
        for i in range(0, len(stored), batch):
            recorder.insert_events(stored[i:i + batch])
        return clock() - started
    finally:
        factory.close()


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """What every figure of these benchmarks is measured with (shared by bench.project)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--database-url", default=None, help="postgresql://... (default: SQLite)")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--profile", default=None, help="write a cProfile of the measured path here")
    return parser


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--workload", choices=[*WORKLOADS, "both"], default="both",
                        help="both: usage and lifecycle (the issue's two)")
    parser.add_argument("--path", choices=[*PATHS, "both"], default="inprocess",
                        help="Ledger.ingest in-process, or `ledger ingest` on JSON Lines")
    parser.add_argument("--cpu", action="store_true",
                        help="time with this process's CPU time (SQLite; PostgreSQL's is not counted)")
    args = parser.parse_args()
    if args.cpu:
        global clock
        clock = time.process_time
    names = ["usage", "lifecycle"] if args.workload == "both" else [args.workload]
    paths = list(PATHS) if args.path == "both" else [args.path]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"store: {(args.database_url or 'sqlite').split('://')[0]}, {args.events} events, "
          f"batches of {args.batch}, {args.rounds} rounds alternated, medians")
    print(f"{durability(args.database_url)}\n")
    print("| workload | path | ours (events/s) | library insert_events (events/s) | ratio |\n"
          "|---|---|---|---|---|")
    for name in names:
        events = WORKLOADS[name](args.events)
        for path in paths:
            mine, theirs = [], []
            for _ in range(args.rounds):
                seconds, payloads = PATHS[path](fresh_url(args.database_url), events, args.batch)
                mine.append(len(events) / seconds)
                theirs.append(len(payloads) / library(fresh_url(args.database_url), payloads,
                                                      args.batch))
            a, b = statistics.median(mine), statistics.median(theirs)
            shown = name if name == "interleaved" else f"{name}-heavy"
            print(f"| {shown} | {path} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(PATHS[paths[0]], fresh_url(args.database_url),
                         WORKLOADS[names[0]](args.events), args.batch)
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
