"""`make bench-proofs`: what the verifiable log costs, each figure beside its baseline.

1. Ingest with and without bringing the tree up to date after each batch (A/B alternated,
   medians): the tree is appended off the ingest path, on the next head or proof, so this is
   what that catch-up adds per event.
2. An audit pack of the ingested tenant exported and verified, beside `ledger verify`.
3. A tree of --leaves leaves (1,000,000 by default) stored in the node table, then inclusion
   and consistency proofs and roots read from it, beside recomputing the root from all leaves
   in memory (what a proof would cost without stored nodes), and the event lookup a proof
   also makes, on the real store.

Usage: python -m bench.proofs [--leaves N] [--rounds N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import statistics
import tempfile
from pathlib import Path

from bench.__main__ import timed, workload
from ledger.bootstrap import bootstrap
from ledger.domain import merkle
from ledger.proofs import VerifiableLog
from ledger.settings import Settings


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"median {statistics.median(ordered) * 1000:.2f} ms, "
            f"p95 {ordered[int(len(ordered) * .95)] * 1000:.2f} ms")


def ingest_rows(log: VerifiableLog, rounds: int, batch: int) -> list[tuple[str, str]]:
    """A: ingest a batch; B: ingest a batch, then bring the tree up to date (timed apart, so
    the catch-up is also given per event beside ingest's own cost per event)."""
    from ledger.service import Ledger

    events = workload(rounds * 2 * batch // 23 + 2, 20)  # 23 events per license
    ledger = Ledger(log.store)
    ledger.ingest(events[:1], None)
    log.sync("bench")
    plain: list[float] = []
    with_tree: list[float] = []
    catch_up: list[float] = []
    at = 1
    for _ in range(rounds):  # A/B alternated
        for samples, sync in ((plain, False), (with_tree, True)):
            chunk = events[at:at + batch]
            at += batch
            ingesting, _ = timed(lambda chunk=chunk: ledger.ingest(chunk, None))
            syncing = timed(lambda: log.sync("bench"))[0] if sync else 0.0
            samples.append(len(chunk) / (ingesting + syncing))
            if sync:
                catch_up.append(syncing / ingesting)
    a, b = statistics.median(plain), statistics.median(with_tree)
    return [(f"ingest, batches of {batch} (A)", f"median {a:,.0f} events/s"),
            ("ingest + tree catch-up after each batch (B)",
             f"median {b:,.0f} events/s ({(a - b) / a * 100:+.1f} % against A)"),
            ("catch-up time / ingest time of the same batch (B)",
             f"median {statistics.median(catch_up) * 100:.1f} %, max {max(catch_up) * 100:.1f} %")]


def tree_rows(log: VerifiableLog, leaves: int) -> list[tuple[str, str]]:
    tenant = "bench-big"
    compact = merkle.CompactRange()
    pending: list[tuple[int, int, bytes]] = []
    leaf_hashes = [hashlib.sha256(b"\x00" + i.to_bytes(32, "big")).digest() for i in range(leaves)]

    def build() -> None:
        for leaf in leaf_hashes:
            pending.extend(compact.append(leaf))
            if len(pending) >= 50_000:
                log.tables.add_nodes(tenant, pending)
                pending.clear()
        log.tables.add_nodes(tenant, pending)

    seconds, _ = timed(build)
    rows = [(f"store a tree of {leaves:,} leaves (nodes table)", f"{leaves / seconds:,.0f} leaves/s "
             f"({seconds:.1f} s)")]
    rng = random.Random(7)
    inclusion, consistency, roots = [], [], []
    for _ in range(200):
        index = rng.randrange(leaves)
        inclusion.append(timed(lambda i=index: log._compute(tenant, lambda p: merkle.inclusion_path(
            i, leaves, p)))[0])
        first = rng.randrange(1, leaves)
        consistency.append(timed(lambda m=first: log._compute(tenant, lambda p: merkle.consistency_path(
            m, leaves, p)))[0])
        roots.append(timed(lambda: log._compute(tenant, lambda p: merkle.root(leaves, p)))[0])
    baseline, _ = timed(lambda: _root_in_memory(leaf_hashes))
    lookups = [timed(lambda s=s: log.store.fact_at_sequence("bench", s))[0]
               for s in rng.sample(range(1, log.tables.size("bench") + 1), 200)]
    return rows + [
        ("inclusion proof from stored nodes", _ms(inclusion)),
        ("consistency proof from stored nodes", _ms(consistency)),
        ("root from stored nodes", _ms(roots)),
        ("the event a proof names (fact_at_sequence)", _ms(lookups)),
        (f"baseline: root recomputed from {leaves:,} leaf hashes in memory", f"{baseline * 1000:.0f} ms"),
    ]


def pack_rows(log: VerifiableLog) -> list[tuple[str, str]]:
    """Export and verify an audit pack of the ingested tenant, beside `ledger verify`'s chain
    check of the same store."""
    from datetime import UTC, datetime

    from ledger.audit.pack import export
    from ledger.audit.verify import verify_pack
    from ledger.integrity import verify
    from ledger.licensefile import KeyRing, SigningKey
    from ledger.service import Ledger

    key = SigningKey.generate()
    ring = KeyRing([key], key.key_id)
    signing = VerifiableLog(log.store, ring)
    directory = Path(tempfile.mkdtemp()) / "pack"
    seconds, manifest = timed(lambda: export(
        Ledger(log.store), signing, ring, "bench", datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC), directory, now=datetime.now(UTC)))
    events = manifest["manifest"]["events"]
    checked, _ = timed(lambda: verify_pack(directory, key.public_key_base64()))
    chain, verdict = timed(lambda: verify(log.store, "bench"))
    return [(f"audit export ({events:,} events, proofs included)", f"{events / seconds:,.0f} events/s"),
            ("audit verify (offline)", f"{events / checked:,.0f} events/s"),
            ("baseline: `ledger verify` chains of the same store",
             f"{verdict.checked / chain:,.0f} events/s")]


def _root_in_memory(leaf_hashes: list[bytes]) -> bytes:
    compact = merkle.CompactRange()
    for leaf in leaf_hashes:
        compact.append(leaf)
    return compact.root()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    log = VerifiableLog(wiring.store)
    rows = ingest_rows(log, args.rounds, args.batch) + pack_rows(log) + tree_rows(log, args.leaves)
    wiring.close()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"store: {url.split('://')[0]}\n")
    print("| path | result |\n|---|---|")
    for name, result in rows:
        print(f"| {name} | {result} |")


if __name__ == "__main__":
    main()
