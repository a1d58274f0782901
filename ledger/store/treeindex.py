"""The tenants' Merkle trees (contract section 7), appended in the transaction that records
the events, by the recorder subclasses (the library's designed extension point, as for our
index rows): ingest pays no second transaction, commit or re-read of the chain for the tree.

Each batch reads, per tenant, the tree's size and its compact range (the O(log n) perfect
subtree hashes the tree so far breaks into: `merkle.perfect_ranges`), appends the new events'
leaves and writes every perfect subtree they complete. A tree that lags its chain (a store
from before this, or nodes dropped to be rebuilt) is left as it is: `VerifiableLog.sync`
catches it up on the next head or proof, after which ingest keeps it current. The nodes are
deterministic, so a catch-up and an ingest that write the same node write the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.domain import merkle

NODES, HEADS = "merkle_nodes", "tree_heads"


def tree_ddl(prefix: str, postgres: bool) -> list[str]:
    """The verifiable log's two tables (`ledger.proofs.tables` reads and keeps heads in them).
    In SQLite the nodes are a WITHOUT ROWID table: one B-tree, keyed by (tenant, level, idx),
    instead of a table and its key's index, so appending a node writes one B-tree, not two."""
    blob, clustered = ("BYTEA", "") if postgres else ("BLOB", " WITHOUT ROWID")
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}{NODES} (tenant TEXT NOT NULL, level INTEGER NOT "
        f"NULL, idx BIGINT NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (tenant, level, idx))"
        + clustered,
        f"CREATE TABLE IF NOT EXISTS {prefix}{HEADS} (tenant TEXT NOT NULL, tree_size BIGINT NOT "
        "NULL, key_id TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (tenant, tree_size, "
        "key_id))",
    ]


class TreeIndex:
    """Appends the trees in the writer's transaction; `query` and `_update` come from
    `FactIndex` (bound to that transaction while the writer holds its tenants' locks)."""

    nodes_table: str
    extends_trees = True  # off only to measure ingest without tree work (bench/proofs.py)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _update(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _insert_nodes(self, tenant: str, nodes: list[tuple[int, int, bytes]]) -> None:
        raise NotImplementedError

    def extend_trees(self, leaves: Sequence[tuple[str, int, str]]) -> None:
        """`leaves`: (tenant, sequence, event hash) of the events being recorded, each tenant's
        in sequence order."""
        if not self.extends_trees:
            return
        by_tenant: dict[str, list[tuple[int, str]]] = {}
        for tenant, sequence, event_hash in leaves:
            by_tenant.setdefault(tenant, []).append((sequence, event_hash))
        for tenant, new in by_tenant.items():
            compact = self._compact_range(tenant, new[0][0] - 1)
            if compact is None:
                continue
            nodes: list[tuple[int, int, bytes]] = []
            for _, event_hash in new:
                nodes += compact.append(merkle.leaf_hash(event_hash))
            self._insert_nodes(tenant, nodes)

    def _compact_range(self, tenant: str, size: int) -> merkle.CompactRange | None:
        """The tenant's stored tree as a compact range, if it holds exactly `size` leaves."""
        rows = self.query(f"SELECT MAX(idx) FROM {self.nodes_table} WHERE tenant = ? AND "
                          "level = 0", [tenant])
        stored = 0 if rows[0][0] is None else int(rows[0][0]) + 1
        if stored != size:
            return None
        ranges = merkle.perfect_ranges(size)
        if not ranges:
            return merkle.CompactRange()
        branch = f"SELECT level, idx, hash FROM {self.nodes_table} WHERE tenant = ? AND level = ? AND idx = ?"
        found = {(int(r[0]), int(r[1])): bytes(r[2]) for r in self.query(
            " UNION ALL ".join([branch] * len(ranges)),
            [x for level, index in ranges for x in (tenant, level, index)])}
        if len(found) != len(ranges):  # nodes missing: leave it to the catch-up (and verify)
            return None
        return merkle.CompactRange(size, [found[k] for k in ranges])
