"""Whether SQLite's inserts could run beside the ingest's Python in a second thread (issue 12).

Python's sqlite3 lets go of the GIL inside each `sqlite3_step` and takes it back after every
row of an `executemany`. Beside a thread that keeps the GIL busy, each take-back waits for the
interpreter's switch interval (5 ms), so the insert crawls. This times one `ledger_facts`-like
table with its b-trees: the inserts alone, then the same number of rows while a pure-Python
thread spins, and how fast the spinner ran in each case.

Usage: python -m bench.gil_overlap [--batches N]   (500 rows each; 4 batches take ~20 s)
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

_TABLE = ("CREATE TABLE f (tenant TEXT NOT NULL, sequence INTEGER NOT NULL, position INTEGER "
          "NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, month TEXT, customer TEXT, source "
          "TEXT NOT NULL, source_event_id TEXT NOT NULL, feature TEXT, quantity INTEGER, "
          "effective_at INTEGER, recorded_at INTEGER, PRIMARY KEY (tenant, sequence), "
          "UNIQUE (tenant, source_event_id, source))")


def _rows(batch: int) -> list[tuple[object, ...]]:
    return [("acme", n, n, "usage", f"lic-{n % 200:05d}", "2026-01", None, "billing",
             f"evt-{n:09d}", "api_calls", 3, 1_700_000_000 + n, 1_700_000_000)
            for n in range(batch * 500, batch * 500 + 500)]


def _beside_a_spinner(work: Callable[[], object]) -> tuple[float, float]:
    """Run `work` while another thread spins in pure Python: (the spinner's loops per second,
    the seconds `work` took)."""
    stop, loops = threading.Event(), [0]

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))
            loops[0] += 1

    thread = threading.Thread(target=spin)
    start = time.perf_counter()
    thread.start()
    work()
    took = time.perf_counter() - start
    stop.set()
    thread.join()
    return loops[0] / (time.perf_counter() - start), took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=4)
    batches = parser.parse_args().batches
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "g.db", check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        for statement in (_TABLE, "CREATE INDEX fs ON f (tenant, subject, kind, month)",
                          "CREATE UNIQUE INDEX fp ON f (position)"):
            db.execute(statement)
        work = [_rows(k) for k in range(2 * batches)]

        def insert(chunk: list[list[tuple[object, ...]]]) -> float:
            start = time.perf_counter()
            for rows in chunk:
                db.execute("BEGIN")
                db.executemany("INSERT INTO f VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                db.execute("COMMIT")
            return time.perf_counter() - start

        alone = insert(work[:batches])
        rate_alone, _ = _beside_a_spinner(lambda: time.sleep(alone))
        rate_beside, beside = _beside_a_spinner(lambda: insert(work[batches:]))
        rows = batches * 500
        python = ".".join(map(str, sys.version_info[:3]))
        print(f"{rows} rows in batches of 500, Python {python}, SQLite {sqlite3.sqlite_version}")
        print(f"insert alone:              {alone / rows * 1e6:10.1f} us per row")
        print(f"insert beside a spinner:   {beside / rows * 1e6:10.1f} us per row")
        print(f"the spinner, alone / beside the insert: {rate_alone:,.0f} / {rate_beside:,.0f} loops/s")
        # what the two did side by side, done one after the other instead
        serial = alone + rate_beside * beside / rate_alone
        print(f"side by side {beside:.2f} s; the same work one after the other {serial:.2f} s: "
              f"overlap {'gains' if beside < serial else 'loses'} {abs(serial - beside) / serial:.0%}")


if __name__ == "__main__":
    main()
