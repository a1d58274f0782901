"""What the index rows cost on SQLite, index by index, beside the library's own insert.

`bench.ingest_stages` shows the index rows' insert as one of the largest stages on SQLite; this
says which of the table's b-trees the time goes to. The same rows (shaped like the usage-heavy
workload's: one tenant, `--licenses` licenses taking turns, sequential event ids) are inserted
in batches of `--batch`, one transaction each, into `ledger_facts` built up index by index from
`factstable.ddl` (the table alone, then with its primary key, its receipts' uniqueness, the
subject index, then everything as shipped), alternated round by round, medians of this
process's CPU per row. Beside them, the library's `insert_events` of as many records of the
usage workload's size into a store of its own: the figure `bench.ingest` divides by.

Usage: python -m bench.index_rows [--rows N] [--rounds R] [--batch B] [--licenses L]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from ledger.store.factstable import COLUMNS, FACTS_TABLE, ddl

TABLE, *INDEXES = ddl(FACTS_TABLE, "INTEGER")
KEYS = ", PRIMARY KEY (tenant, sequence), UNIQUE (tenant, source_event_id, source)"
RECEIPTS = ", UNIQUE (tenant, source_event_id, source)"
LAYOUTS: dict[str, list[str]] = {
    "the table alone": [TABLE.replace(KEYS, "")],
    "+ primary key (tenant, sequence)": [TABLE.replace(RECEIPTS, "")],
    "+ receipts unique (tenant, source_event_id, source)": [TABLE],
    "+ subject index (tenant, subject, kind, month)": [TABLE, INDEXES[0]],
    "as shipped (+ customer, position, catalog, governance)": [TABLE, *INDEXES],
}
INSERT = (f"INSERT INTO {FACTS_TABLE} ({', '.join(COLUMNS)}) "
          f"VALUES ({', '.join('?' * len(COLUMNS))})")


def rows(first: int, count: int, licenses: int) -> list[tuple[object, ...]]:
    """Index rows of usage facts as `records.index_values` makes them (COLUMNS order)."""
    return [("tenant-acme", n, n, "usage", f"lic-{n % licenses:05d}", "2026-11", None, "billing",
             f"evt-{n:09d}", "api_calls", 3, 1_764_000_000 + n, 1_764_000_000 + n)
            for n in range(first, first + count)]


def indexed(statements: list[str], args: argparse.Namespace, folder: Path) -> float:
    """CPU us per row of inserting `args.rows` rows after as many already there."""
    path = folder / f"{uuid.uuid4().hex}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in statements:
        conn.execute(statement)
    conn.execute("BEGIN")
    conn.executemany(INSERT, rows(1, args.rows, args.licenses))  # not an empty tree
    conn.execute("COMMIT")
    measured = rows(args.rows + 1, args.rows, args.licenses)
    started = time.process_time()
    for at in range(0, len(measured), args.batch):
        conn.execute("BEGIN")
        conn.executemany(INSERT, measured[at:at + args.batch])
        conn.execute("COMMIT")
    spent = time.process_time() - started
    conn.close()
    return spent / len(measured) * 1e6


def library(args: argparse.Namespace, folder: Path) -> float:
    """CPU us per record of the library's `insert_events`, records of ~usage facts' size."""
    factory = InfrastructureFactory.construct(Environment(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(folder / f"{uuid.uuid4().hex}.db")}))
    recorder = factory.application_recorder()  # as bench.ingest's baseline
    stream, state = uuid.uuid4(), b"x" * 520  # a usage fact's stored record is ~520 bytes

    def batch(first: int) -> list[StoredEvent]:
        return [StoredEvent(originator_id=stream, originator_version=n, topic="ledger:usage",
                            state=state) for n in range(first, first + args.batch)]

    try:
        for at in range(1, args.rows + 1, args.batch):
            recorder.insert_events(batch(at))
        started = time.process_time()
        for at in range(args.rows + 1, 2 * args.rows + 1, args.batch):
            recorder.insert_events(batch(at))
        return (time.process_time() - started) / args.rows * 1e6
    finally:
        factory.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--licenses", type=int, default=200)
    args = parser.parse_args()
    cells: dict[str, Callable[[Path], float]] = {
        name: (lambda folder, s=statements: indexed(s, args, folder))
        for name, statements in LAYOUTS.items()}
    cells["the library's insert_events (its whole insert of a record)"] = (
        lambda folder: library(args, folder))
    found: dict[str, list[float]] = {name: [] for name in cells}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for name, cell in cells.items():
                found[name].append(cell(Path(folder)))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{args.rows:,} index rows after {args.rows:,}, {args.licenses} licenses taking turns, "
          f"batches of {args.batch}, {args.rounds} rounds alternated, medians\n")
    print("| ledger_facts with | CPU us per row |\n|---|---|")
    for name, values in found.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
