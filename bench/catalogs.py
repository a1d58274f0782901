"""A license's state read, and one usage record ingested, for a tenant of large catalogs.

Every read of a license folds it against its tenant's catalog history; this times that read
for a tenant with `--versions` catalog versions of `--plans` plans of 5 features each (one
license on one of the plans), medians of `--reads`, on SQLite. Run it in a copy of another
version (`cd DIR && python -m bench.catalogs` in `git archive REV | tar -x -C DIR`) for the
figure beside it.

Usage: python -m bench.catalogs [--plans N] [--versions V] [--reads R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from tests.builders import catalog_envelope, envelope, t


def catalog(version: str, plans: int) -> dict[str, Any]:
    return {"version": version, "plans": {
        f"p{i}": {"tier": i % 7 + 1, "features": {
            f"f{j}": {"limit": 100, "period": "month"} if j == 0 else {} for j in range(5)}}
        for i in range(plans)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plans", type=int, default=5000)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--reads", type=int, default=7)
    args = parser.parse_args()
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'catalogs.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        for n in range(args.versions):
            published = catalog_envelope(f"2026-01-{n + 1:02d}", catalog(f"v{n + 1}", args.plans))
            assert wiring.ledger.ingest([published], "big")[0].status == "accepted"
        grant = envelope("license.granted", "2026-02-01", "B1", customer_id="cb", plan="p5")
        assert wiring.ledger.ingest([grant], "big")[0].status == "accepted"
        times = []
        for _ in range(args.reads):
            started = time.perf_counter()
            wiring.ledger.state("big", "B1", t("2026-03-01"))
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        usage = envelope("usage.recorded", "2026-03-02", "B1", feature="f0", quantity=1)
        assert wiring.ledger.ingest([usage], "big")[0].status == "accepted"
        write = time.perf_counter() - started
    finally:
        wiring.close()
    print(f"{args.versions} versions of {args.plans} plans: the license's state, median of "
          f"{args.reads} {statistics.median(times) * 1000:.1f} ms (the first "
          f"{times[0] * 1000:.1f} ms); one usage record ingested {write * 1000:.1f} ms")


if __name__ == "__main__":
    main()
