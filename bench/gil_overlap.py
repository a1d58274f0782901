"""Whether SQLite's inserts could run beside the ingest's Python in a second thread (issue 12).

Python's sqlite3 lets go of the GIL inside each `sqlite3_step` and takes it back after every
row of an `executemany`; beside a thread busy in Python, each take-back waits for that thread
to let go. This gives a `ledger_facts`-like table (its b-trees) batches of rows to insert in
one thread and, in another, as much pure-Python work as the inserts take alone, and times
both done side by side against the same two done one after the other (perfect overlap would
take half as long, the longer of the two).

Usage: python -m bench.gil_overlap [--batches N] [--rounds R]   (500 rows a batch)
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

_TABLE = ("CREATE TABLE f (tenant TEXT NOT NULL, sequence INTEGER NOT NULL, position INTEGER "
          "NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, month TEXT, customer TEXT, source "
          "TEXT NOT NULL, source_event_id TEXT NOT NULL, feature TEXT, quantity INTEGER, "
          "effective_at INTEGER, recorded_at INTEGER, PRIMARY KEY (tenant, sequence), "
          "UNIQUE (tenant, source_event_id, source))")
Rows = list[tuple[object, ...]]


def _rows(batch: int) -> Rows:
    return [("acme", n, n, "usage", f"lic-{n % 200:05d}", "2026-01", None, "billing",
             f"evt-{n:09d}", "api_calls", 3, 1_700_000_000 + n, 1_700_000_000)
            for n in range(batch * 500, batch * 500 + 500)]


def _python_work(loops: int) -> None:
    for _ in range(loops):
        sum(range(1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "g.db", check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        for statement in (_TABLE, "CREATE INDEX fs ON f (tenant, subject, kind, month)",
                          "CREATE UNIQUE INDEX fp ON f (position)"):
            db.execute(statement)
        batches = iter([_rows(k) for k in range(2 * args.rounds * args.batches)])  # built first

        def insert() -> float:
            start = time.perf_counter()
            for _ in range(args.batches):
                rows = next(batches)
                db.execute("BEGIN")
                db.executemany("INSERT INTO f VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                db.execute("COMMIT")
            return time.perf_counter() - start

        def timed(work: object) -> float:
            start = time.perf_counter()
            work()  # type: ignore[operator]
            return time.perf_counter() - start

        probe = timed(lambda: _python_work(1000))
        serial, side, inserts = [], [], []
        for _ in range(args.rounds):
            alone = insert()
            loops = max(1, round(alone / probe * 1000))  # Python work as long as the inserts
            python = timed(lambda n=loops: _python_work(n))
            thread = threading.Thread(target=_python_work, args=(loops,))
            start = time.perf_counter()
            thread.start()
            beside = insert()
            thread.join()
            side.append(time.perf_counter() - start)
            serial.append(alone + python)
            inserts.append((alone, beside))
        rows = args.batches * 500
        version = ".".join(map(str, sys.version_info[:3]))
        print(f"{rows} rows in batches of 500 and as long a pure-Python loop, {args.rounds} rounds, "
              f"medians; Python {version}, SQLite {sqlite3.sqlite_version}")
        alone_us = statistics.median(a for a, _ in inserts) / rows * 1e6
        beside_us = statistics.median(b for _, b in inserts) / rows * 1e6
        print(f"the inserts alone:             {alone_us:8.1f} us per row")
        print(f"the inserts beside the loop:   {beside_us:8.1f} us per row")
        print(f"one after the other:           {statistics.median(serial):8.3f} s")
        print(f"side by side:                  {statistics.median(side):8.3f} s "
              f"(perfect overlap: {statistics.median(serial) / 2:.3f} s)")


if __name__ == "__main__":
    main()
