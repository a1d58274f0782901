"""`make bench-proofs`: what the verifiable log costs, each figure beside its baseline.

1. Ingest without tree work (A: the recorder's `extends_trees` off, tenant `bench-plain`) and
   with the tree appended in the ingest transaction (B: tenant `bench`), batches alternated
   (which of the two goes first drawn each round), medians: the cut B makes in A's
   throughput. After each B batch the tree is also synced as a head or proof does first
   (`VerifiableLog.sync`: nothing left to append), timed apart.
2. An audit pack of the ingested tenant exported and verified, beside `ledger verify`.
3. A tree of --leaves leaves (1,000,000 by default) stored in the node table (subtrees of 16
   leaves and up), then inclusion and consistency proofs and roots read from it, beside
   recomputing the root from all leaves in memory (what a proof would cost without stored
   nodes).
4. A real tenant of --leaves events, loaded through the store's write path (the tree appended
   in each batch's transaction, as ingest does, without the service's judging), then what a
   proof reads there: `sync` (beside the two reads it made before, alternated), the event it
   names, the chain hashes of the blocks of 16 its lower nodes lie in, and whole proofs.

Usage: python -m bench.proofs [--leaves N] [--rounds N] [--database-url URL] (PostgreSQL: a
fresh schema per run)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import statistics
import tempfile
import uuid
from pathlib import Path

from bench.__main__ import timed, workload
from ledger.bootstrap import bootstrap
from ledger.domain import merkle
from ledger.proofs import VerifiableLog
from ledger.settings import Settings
from ledger.store.treeindex import STORED_FROM, kept


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"median {statistics.median(ordered) * 1000:.2f} ms, "
            f"p95 {ordered[int(len(ordered) * .95)] * 1000:.2f} ms")


def ingest_rows(log: VerifiableLog, rounds: int, batch: int) -> list[tuple[str, str]]:
    """A: a batch of tenant `bench-plain` ingested without tree work; B: a batch of tenant
    `bench` ingested with its tree appended in the same transaction (the same events, the same
    positions in their tenants' histories), then the sync a head or proof does first."""
    from ledger.service import Ledger

    events = workload(rounds * batch // 23 + 2, 20)  # 23 events per license
    tenants = {"bench-plain": [{**e, "tenantid": "bench-plain"} for e in events], "bench": events}
    ledger = Ledger(log.store)
    recorder = log.store.recorder
    for tenant, own in tenants.items():
        recorder.extends_trees = tenant == "bench"
        ledger.ingest(own[:1], None)
    assert log.sync("bench") == 1 and log.tables.size("bench-plain") == 0
    plain: list[float] = []
    with_tree: list[float] = []
    syncs: list[float] = []
    inside: list[float] = []  # the tree's own time in each B batch's transaction
    extend = recorder.extend_trees

    def timed_extend(leaves: object) -> None:
        inside.append(timed(lambda: extend(leaves))[0])

    recorder.extend_trees = timed_extend
    shares: list[float] = []
    at = 1
    order = random.Random(11)
    for _ in range(rounds):  # A/B alternated, which goes first drawn each round:
        # with a fixed order, SQLite's WAL checkpoint (run by the commit that takes the log
        # past 1,000 pages, a fixed number of batches apart for this workload) fell on the
        # same side's batches every time, B's here, charging it A's pages' share too.
        pair = [(plain, "bench-plain"), (with_tree, "bench")]
        order.shuffle(pair)
        for samples, tenant in pair:
            chunk = tenants[tenant][at:at + batch]
            recorder.extends_trees = tenant == "bench"
            ingesting, _ = timed(lambda chunk=chunk: ledger.ingest(chunk, None))
            samples.append(len(chunk) / ingesting)
            if tenant == "bench":
                shares.append(inside[-1] / ingesting)
                syncs.append(timed(lambda: log.sync("bench"))[0])
        at += batch
    recorder.extends_trees = True
    del recorder.extend_trees
    assert log.tables.size("bench") == at - at % 16 and log.tables.size("bench-plain") == 0
    a, b = statistics.median(plain), statistics.median(with_tree)
    return [(f"ingest without tree work, batches of {batch} (A)", f"median {a:,.0f} events/s"),
            ("ingest with the tree appended in its transaction (B)",
             f"median {b:,.0f} events/s ({abs(a - b) / a * 100:.1f} % {'below' if b < a else 'above'} A)"),
            ("the tree's own time inside each B batch's transaction / that batch's ingest time",
             f"median {statistics.median(shares) * 100:.1f} %, max {max(shares) * 100:.1f} %"),
            ("sync before a head or proof after each B batch (nothing left to append)",
             _ms(syncs))]


def tree_rows(log: VerifiableLog, leaves: int) -> list[tuple[str, str]]:
    tenant = "bench-big"
    compact = merkle.CompactRange()
    pending: list[tuple[int, int, bytes]] = []
    leaf_hashes = [hashlib.sha256(b"\x00" + i.to_bytes(32, "big")).digest() for i in range(leaves)]

    def build() -> None:
        for leaf in leaf_hashes:
            pending.extend(kept(compact.append(leaf)))
            if len(pending) >= 50_000:
                log.tables.add_nodes(tenant, pending)
                pending.clear()
        log.tables.add_nodes(tenant, pending)

    seconds, _ = timed(build)
    rows = [(f"store a tree of {leaves:,} leaves (nodes table)", f"{leaves / seconds:,.0f} leaves/s "
             f"({seconds:.1f} s)")]
    # This tree has no chain: a proof's nodes below the stored levels come from the leaf
    # hashes in memory here; the chain read they cost a real proof is timed on the real tenant.
    log.lower_nodes = lambda tenant, keys, seen=None: {(level, i): merkle.perfect_hash(  # type: ignore[method-assign]
        leaf_hashes[i << level:(i + 1) << level]) for level, i in keys}
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
    del log.lower_nodes
    return rows + [
        ("inclusion proof from stored nodes", _ms(inclusion)),
        ("consistency proof from stored nodes", _ms(consistency)),
        ("root from stored nodes", _ms(roots)),
        (f"baseline: root recomputed from {leaves:,} leaf hashes in memory", f"{baseline * 1000:.0f} ms"),
    ] + chain_rows(log, leaves, rng)


def bulk_load(log: VerifiableLog, tenant: str, events: int, batch: int = 10_000) -> float:
    """`events` usage facts of one tenant recorded through the store's own write path (the
    recorder's inserts, the tree appended in each batch's transaction), without the ingest
    service's judging: a real chain and tree of that size in a minute or two. Events/s."""
    from datetime import UTC, datetime

    from ledger.domain.facts import Fact

    moment = datetime(2026, 1, 1, tzinfo=UTC)

    def load() -> None:
        for start in range(0, events, batch):
            log.store.append([Fact(
                tenant=tenant, subject=f"lic-{i % 1000}", type="usage.recorded", effective_at=moment,
                recorded_at=moment, source="bench", source_event_id=f"u{i}",
                data={"feature": "api_calls", "quantity": 1})
                for i in range(start, min(events, start + batch))])

    return events / timed(load)[0]


def chain_rows(log: VerifiableLog, events: int, rng: random.Random) -> list[tuple[str, str]]:
    """Proofs end to end in a real tenant of `events` events; `sync` beside the two reads it
    made before (the chain head, checked, and the stored tree's reach, one query each),
    alternated."""
    tenant = "bench-chain"
    rate = bulk_load(log, tenant, events)
    assert log.sync(tenant) == events and log.tables.size(tenant) == events - events % 16
    syncs, before = [], []
    for _ in range(200):
        before.append(timed(lambda: (log.store.head(tenant), log.tables.size(tenant)))[0])
        syncs.append(timed(lambda: log.sync(tenant))[0])
    lookups = [timed(lambda s=s: log.store.fact_at_sequence(tenant, s))[0]
               for s in rng.sample(range(1, events + 1), 200)]

    def below(index: int) -> set[tuple[int, int]]:
        needed = merkle.needed(lambda p: merkle.inclusion_path(index, events, p))
        return {k for k in needed if k[0] < STORED_FROM}

    lower = [timed(lambda s=s: log.lower_nodes(tenant, below(s)))[0]
             for s in rng.sample(range(events), 200)]
    whole = [timed(lambda s=s: log.inclusion(tenant, s))[0]
             for s in rng.sample(range(1, events + 1), 200)]
    return [
        (f"load a tenant of {events:,} events (store write path, tree in each transaction)",
         f"{rate:,.0f} events/s"),
        (f"sync before a head or proof ({events:,}-event tenant): head and reach in one query",
         _ms(syncs)),
        ("baseline, alternated: the chain head and the reach read one query each (as before)",
         _ms(before)),
        (f"the event a proof names (fact_at_sequence, {events:,}-event tenant)", _ms(lookups)),
        (f"a proof's nodes below level {STORED_FROM}, from the chain ({events:,}-event tenant)",
         _ms(lower)),
        (f"inclusion proof end to end (sync, event, nodes; {events:,}-event tenant)", _ms(whole)),
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
    if args.database_url:
        url = f"{url.split('?')[0]}?schema=benchproofs_{uuid.uuid4().hex[:10]}"
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
