"""Proofs for a tenant's log, from stored perfect subtree hashes, so that a proof reads
O(log n) nodes however big the tenant (see `ledger.domain.merkle`).

Ingest appends the stored tree in its own transaction (`ledger.store.treeindex`); a tree that
lags its chain (nodes dropped to be rebuilt, a store from before that) is caught up by `sync`
before an answer (the nodes are deterministic, so concurrent writers agree). Only subtrees of
16 leaves and more are stored; a proof's lower nodes are computed from the chain hashes of the
at most two blocks of 16 events they lie in. The chain stays the source of truth: the nodes
can be dropped and rebuilt, and `audit` recomputes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ledger.domain import merkle
from ledger.domain.facts import Fact
from ledger.licensefile.keys import KeyRing
from ledger.licensefile.treehead import sign_tree_head
from ledger.proofs.audit import TreeAudit
from ledger.proofs.tables import TreeTables
from ledger.store.eventstore import LedgerStore
from ledger.store.treeindex import BLOCK, STORED_FROM


class ProofRequestError(ValueError):
    """A proof asked for sizes or sequences the log does not have; the message says which."""


class NoSuchEventError(LookupError):
    """No accepted event with that sequence, or that source and id, in the tenant; `code` is
    `no_events` when the tenant's log is empty, else `unknown_event`."""

    def __init__(self, message: str, code: str = "unknown_event"):
        super().__init__(message)
        self.code = code


CHUNK = 50_000  # events hashed into the tree per read and write


class VerifiableLog(TreeAudit):
    """A tenant's log as a Merkle tree over the store's chain: signed heads and proofs
    (contract section 7), and the audit that `ledger verify` runs."""

    def __init__(self, store: LedgerStore, keyring: KeyRing | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.store = store
        self.keyring = keyring
        self.tables = TreeTables(store.recorder)
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- the tree ----------------------------------------------------------------------------
    def sync(self, tenant: str, upto: int | None = None) -> int:
        """Bring the stored tree up to the chain's head (or to `upto`); returns the size."""
        head, stored = self.store.head_and_reach(tenant)  # one query for the two
        target = 0 if head is None else head.sequence if upto is None else min(upto, head.sequence)
        if stored >= target - target % BLOCK:  # what is not stored is computed from the chain
            return target
        ranges = merkle.perfect_ranges(stored)
        found = self.tables.nodes(tenant, ranges)
        compact = merkle.CompactRange(stored, [found[k] for k in ranges])
        for after in range(stored, target, CHUNK):  # a first build of a big tenant: bounded memory
            upto = min(after + CHUNK, target)
            hashes = self.store.event_hashes(tenant, upto, after=after)  # just the new links
            if len(hashes) != upto - after:
                raise RuntimeError(f"tenant {tenant!r}: the chain has gaps below sequence {upto}; "
                                   "run `ledger verify`")
            nodes = compact.extend([merkle.leaf_hash(h) for h in hashes], STORED_FROM)
            self.tables.add_nodes(tenant, nodes)  # each chunk durable: an interrupted build resumes
        return target

    def _compute(self, tenant: str, compute: Callable[[merkle.Perfect], Any],
                 seen: dict[int, str] | None = None) -> Any:
        wanted = merkle.needed(compute)
        stored = {k for k in wanted if k[0] >= STORED_FROM}
        found = self.tables.nodes(tenant, stored)
        if len(found) != len(stored):
            raise RuntimeError(f"tenant {tenant!r}: stored tree nodes are missing; run `ledger verify`")
        found.update(self.lower_nodes(tenant, wanted - stored, seen))
        return compute(lambda level, index: found[(level, index)])

    def lower_nodes(self, tenant: str, keys: set[tuple[int, int]],
                    seen: dict[int, str] | None = None) -> dict[tuple[int, int], bytes]:
        """The hashes of subtrees below the stored levels, from the chain hashes of the blocks
        of 16 events they lie in (consecutive blocks in one read); `seen` collects the chain
        hashes read, by leaf index (an inclusion proof's own event is usually among them)."""
        blocks = sorted({(index << level) // BLOCK for level, index in keys})
        leaves: dict[int, bytes] = {}
        runs: list[list[int]] = []
        for block in blocks:
            if runs and runs[-1][-1] == block - 1:
                runs[-1].append(block)
            else:
                runs.append([block])
        for run in runs:
            after = run[0] * BLOCK
            hashes = self.store.event_hashes(tenant, (run[-1] + 1) * BLOCK, after=after)
            if seen is not None:
                seen.update(enumerate(hashes, after))
            leaves.update((after + n, merkle.leaf_hash(h)) for n, h in enumerate(hashes))
        found = {}
        for level, index in keys:
            span = [leaves.get(i) for i in range(index << level, (index + 1) << level)]
            if any(leaf is None for leaf in span):
                raise RuntimeError(f"tenant {tenant!r}: events below the tree's size are missing; "
                                   "run `ledger verify`")
            found[(level, index)] = merkle.perfect_hash([s for s in span if s is not None])
        return found

    def _size(self, tenant: str, asked: int | None, name: str) -> tuple[int, int]:
        current = self.sync(tenant)
        if current == 0:
            raise NoSuchEventError(f"tenant {tenant!r} has no events yet: its log is empty", "no_events")
        size = current if asked is None else asked
        if not 0 < size <= current:
            raise ProofRequestError(f"{name} must be between 1 and the current tree size {current}, "
                                    f"not {size}")
        return size, current

    def root(self, tenant: str, size: int) -> str:
        return str(self._compute(tenant, lambda p: merkle.root(size, p)).hex())

    # -- answers (contract section 7) ---------------------------------------------------------
    def tree_head(self, tenant: str, tree_size: int | None = None) -> dict[str, Any]:
        """The signed head of the tree of `tree_size` (default: the current one). A head once
        signed for a size and key is handed out again, so its timestamp is when it was first
        signed."""
        if self.keyring is None:
            raise RuntimeError("no signing key: this log was built without a key ring")
        size, _ = self._size(tenant, tree_size, "tree_size")
        key_id = self.keyring.active.key_id
        kept = self.tables.head(tenant, size, key_id)
        if kept is not None:
            return dict(json.loads(kept))
        document = sign_tree_head(self.keyring, tenant, size, self.root(tenant, size), self.clock())
        return dict(json.loads(self.tables.add_head(tenant, size, key_id, json.dumps(document))))

    def sequence_of(self, tenant: str, source: str, event_id: str) -> int:
        found = self.store.sequence_of(tenant, source, event_id)
        if found is None:
            raise NoSuchEventError(f"no accepted event {event_id!r} from {source!r} in tenant {tenant!r}")
        return found

    def inclusion(self, tenant: str, sequence: int, tree_size: int | None = None) -> dict[str, Any]:
        """That the event of `sequence` is leaf `sequence - 1` of the tree of `tree_size`."""
        size, current = self._size(tenant, tree_size, "tree_size")
        if not 0 < sequence <= current:
            raise NoSuchEventError(f"tenant {tenant!r} has no event with sequence {sequence} "
                                   f"(its log has {current})")
        if sequence > size:
            raise ProofRequestError(f"sequence {sequence} is not in the tree of size {size}: "
                                    "ask for tree_size >= sequence")
        leaf, seen = sequence - 1, dict[int, str]()
        path = self._compute(tenant, lambda p: merkle.inclusion_path(leaf, size, p), seen)
        event_hash = seen.get(leaf)  # read with the lower nodes when they lie in its block
        if event_hash is None:
            fact = self.store.fact_at_sequence(tenant, sequence)
            if fact is None:
                raise RuntimeError(f"tenant {tenant!r}: sequence {sequence} is missing; run "
                                   "`ledger verify`")
            event_hash = fact.hash
        return _inclusion(tenant, sequence, size, event_hash, path)

    def proof_of(self, fact: Fact, size: int) -> dict[str, Any]:
        """The inclusion proof of a stored fact in the tree of `size` leaves, already synced."""
        return self.proofs_of([fact], size)[0]

    def proofs_of(self, facts: list[Fact], size: int) -> list[dict[str, Any]]:
        """Inclusion proofs of many stored facts of one tenant in the tree of `size` leaves
        (already synced), with one read of the nodes they all need (for audit packs)."""
        if not facts:
            return []
        tenant = facts[0].tenant

        def paths(perfect: merkle.Perfect) -> list[list[bytes]]:
            return [merkle.inclusion_path(f.sequence - 1, size, perfect) for f in facts]

        return [_inclusion(tenant, f.sequence, size, f.hash, path)
                for f, path in zip(facts, self._compute(tenant, paths), strict=True)]

    def consistency(self, tenant: str, first: int, second: int | None = None) -> dict[str, Any]:
        """That the tree of `first` leaves is a prefix of the tree of `second`."""
        size, _ = self._size(tenant, second, "to (second)")
        if not 0 < first <= size:
            raise ProofRequestError(f"from (first) must be between 1 and {size}, not {first}")
        path = self._compute(tenant, lambda p: merkle.consistency_path(first, size, p))
        return {"tenant": tenant, "first": first, "second": size,
                "consistency_path": [h.hex() for h in path]}

def _inclusion(tenant: str, sequence: int, size: int, event_hash: str,
               path: list[bytes]) -> dict[str, Any]:
    """An inclusion proof document (contract section 7)."""
    return {"tenant": tenant, "sequence": sequence, "leaf_index": sequence - 1, "tree_size": size,
            "leaf_hash": merkle.leaf_hash(event_hash).hex(), "event_hash": event_hash,
            "audit_path": [h.hex() for h in path]}

