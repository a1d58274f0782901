"""The audit `ledger verify` runs on a tenant's verifiable log: its tree recomputed from the chain,
and every stored node and every signed tree head checked against it (a part of `VerifiableLog`)."""

from __future__ import annotations

import json
from typing import Any

from ledger.domain import merkle
from ledger.licensefile.keys import KeyRing
from ledger.licensefile.proofs import ProofError, verify_tree_head
from ledger.proofs.tables import TreeTables
from ledger.store.eventstore import LedgerStore
from ledger.store.treeindex import STORED_FROM, kept


class TreeAudit:
    """`VerifiableLog`'s audit, on the log's store, tree tables and key ring."""

    store: LedgerStore
    tables: TreeTables
    keyring: KeyRing | None

    # -- audit (`ledger verify`) --------------------------------------------------------------
    def audit(self, tenant: str) -> str | None:
        """Recompute the tenant's tree from its chain; the first problem found, or None: a
        stored node that differs, or a signed head whose signature or root does not hold."""
        hashes = self.store.event_hashes(tenant)
        wanted: dict[int, list[dict[str, Any]]] = {}
        for tree_size, key_id, text in self.tables.kept_heads(tenant):
            try:
                document = json.loads(text)
                size = document["tree_head"]["tree_size"]
                named = (document["tree_head"]["tenant"], size, document["key_id"])
            except (ValueError, TypeError, KeyError):
                return f"tenant {tenant!r}: a kept tree head is unreadable (altered)"
            if named != (tenant, tree_size, key_id):  # `tree_head` hands heads out by these keys
                return (f"tenant {tenant!r}: the tree head kept as size {tree_size}, key {key_id!r} "
                        "is signed for another tenant, size or key (altered)")
            wanted.setdefault(size if isinstance(size, int) else -1, []).append(document)
        stored_size, stored_nodes = self.tables.shape(tenant)
        if stored_size > len(hashes):
            return (f"tenant {tenant!r}: the stored tree has {stored_size} leaves but the chain "
                    f"{len(hashes)} events: events were cut off")
        implied = sum(stored_size >> level for level in range(STORED_FROM, stored_size.bit_length()))
        if stored_nodes != implied:  # the nodes of `stored_size` leaves, no others
            return (f"tenant {tenant!r}: the stored tree of {stored_size} leaves has nodes missing "
                    "or nodes it cannot have (altered)")
        compact = merkle.CompactRange()
        recomputed: list[tuple[int, int, bytes]] = []
        roots: dict[int, str] = {}
        for event_hash in hashes:
            appended = compact.append(merkle.leaf_hash(event_hash))
            if compact.size <= stored_size:
                recomputed += kept(appended)
            if compact.size in wanted:
                roots[compact.size] = compact.root().hex()
            if len(recomputed) >= 20_000 or compact.size == len(hashes):  # bounded memory
                problem = self._compare_nodes(tenant, recomputed)
                if problem:
                    return problem
                recomputed.clear()
        keys = self.keyring.public_key_map() if self.keyring else {}
        for size, documents in sorted(wanted.items()):
            for document in documents:
                problem = _head_problem(document, keys, roots.get(size), tenant)
                if problem:
                    return problem
        return None


    def _compare_nodes(self, tenant: str, recomputed: list[tuple[int, int, bytes]]) -> str | None:
        stored = self.tables.nodes(tenant, [(level, index) for level, index, _ in recomputed])
        for level, index, digest in recomputed:
            if stored.get((level, index)) != digest:
                return (f"tenant {tenant!r}: the stored tree node at level {level}, index {index} "
                        "does not match the events (altered, or the events were)")
        return None


def _head_problem(document: dict[str, Any], keys: dict[str, str], root: str | None,
                  tenant: str) -> str | None:
    try:
        head = verify_tree_head(document, keys) if keys else document["tree_head"]
    except ProofError as exc:
        return f"tenant {tenant!r}: an issued tree head does not verify: {exc.reason}: {exc}"
    if root is None:
        return (f"tenant {tenant!r}: a tree head was signed at size {head['tree_size']}, but the "
                "chain is shorter now: events were cut off")
    if head["root_hash"] != root:
        return (f"tenant {tenant!r}: the tree head signed at size {head['tree_size']} no longer "
                "matches the events: events were altered or rewritten since it was signed")
    return None
