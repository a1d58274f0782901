"""The tenants' Merkle trees (contract section 7), appended in the transaction that records
the events, by the recorder subclasses (the library's designed extension point, as for our
index rows): ingest pays no second transaction, commit or re-read of the chain for the tree.

Only perfect subtrees of 2**STORED_FROM (16) leaves and more are stored: one row per 8 events
instead of two per event (the rows were most of the tree's cost on ingest). A node below that
level covers at most 16 consecutive events, and is computed from their chain hashes when a
proof needs it (`VerifiableLog`): a proof reads at most two such blocks beside its O(log n)
stored nodes.

Each batch reads, per tenant, how far its stored nodes reach and the compact range there (the
O(log n) perfect subtree hashes the tree breaks into: `merkle.perfect_ranges`), the chain hashes
of the events after it (fewer than 16), appends the new events' leaves and writes every stored
level's subtree they complete. A tree that lags its chain (a store from before this, or nodes
dropped to be rebuilt) is left as it is: `VerifiableLog.sync` catches it up on the next head or
proof, after which ingest keeps it current. The nodes are deterministic, so a catch-up and an
ingest that write the same node write the same bytes.

The recorder remembers each tenant's compact range once the batch that reached it COMMITTED
(`trees_committed`; a rolled-back batch's is dropped), and the next batch uses it instead of
reading the nodes and the chain tail again, only if it was for exactly the chain head this
writer read under the tenant's lock: the same size and the same last event hash (another
process that wrote in between moved the head, a store rewound under a running process changed
it: then it is read as before) and the stored nodes still reach where they did (nodes dropped
to be rebuilt are not built on past a gap). That last check is made by the statement that
writes the batch's nodes (`_insert_nodes_reaching`; on PostgreSQL, `pgtree.py`, one statement
instead of a read and then the insert); when it does not hold nothing is written and the batch
reads the store afresh as without a remembered range. A batch that completes no node builds
on nothing and checks nothing: the next one that writes checks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ledger.domain import merkle

NODES, HEADS = "merkle_nodes", "tree_heads"
STORED_FROM = 4  # the lowest level stored: subtrees of 16 leaves
BLOCK = 1 << STORED_FROM


def stored_reach(top_index: Any) -> int:
    """How many leaves the stored nodes cover, from the highest index stored at STORED_FROM."""
    return 0 if top_index is None else (int(top_index) + 1) << STORED_FROM


def kept(nodes: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The nodes of those an append completed that are stored (STORED_FROM and up)."""
    return [n for n in nodes if n[0] >= STORED_FROM]


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
    events_table: str
    extends_trees = True  # off only to measure ingest without tree work (bench/proofs.py)
    _writing: threading.local  # the writer's transaction: its cursor, and its trees until commit
    # per tenant, as of its last committed batch: the range and the hash of its last event
    _trees: dict[str, tuple[merkle.CompactRange, str]]

    def query(self, statement: str, params: Sequence[Any] = (), *,
              prepared: bool = True, binary: bool = False) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def stream_param(self, stream: Any) -> Any:
        raise NotImplementedError

    def _update(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _insert_nodes(self, tenant: str, nodes: list[tuple[int, int, bytes]]) -> None:
        raise NotImplementedError

    def _join(self, where: str) -> str:
        raise NotImplementedError

    def writing(self, tenants: Sequence[str]) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _reach(self) -> str:
        """The one query of how far a tenant's stored nodes reach (params: tenant, STORED_FROM)."""
        return f"SELECT MAX(idx) FROM {self.nodes_table} WHERE tenant = ? AND level = ?"

    def stored_size(self, tenant: str) -> int:
        """How many leaves the tenant's stored nodes cover (a multiple of 16)."""
        return stored_reach(self.query(self._reach(), [tenant, STORED_FROM])[0][0])

    def add_nodes(self, tenant: str, nodes: list[tuple[int, int, bytes]]) -> None:
        """Store nodes (a catch-up's): in the writer's transaction if this thread holds one,
        else in one of their own. The same insert as ingest's (`_insert_nodes`)."""
        if not nodes:
            return
        if getattr(self._writing, "cursor", None) is not None:
            self._insert_nodes(tenant, nodes)
            return
        with self.writing([]):
            self._insert_nodes(tenant, nodes)

    def head_and_reach(self, stream: Any, tenant: str) -> tuple[tuple[int, bytes] | None, int]:
        """(version, stored bytes) of the chain's newest record (None if it has none) and the
        stored tree's reach (`stored_reach`), in one query: a proof's `sync` asks for both."""
        rows = self.query(f"SELECT e.originator_version, e.state, ({self._reach()}) FROM "
                          f"{self.events_table} e WHERE e.originator_id = ? ORDER BY "
                          "e.originator_version DESC LIMIT 1",
                          [tenant, STORED_FROM, self.stream_param(stream)])
        if not rows:
            return None, 0
        version, state, top = rows[0]
        return (int(version), bytes(state)), stored_reach(top)

    def drop_unstored_levels(self, writing: Any) -> None:
        """A store from before STORED_FROM kept every level: the rows below it are dropped on
        open (derived data, computed from the chain when a proof needs them), once."""
        if self.query(f"SELECT 1 FROM {self.nodes_table} WHERE level < ? LIMIT 1", [STORED_FROM]):
            with writing([]):
                self._update(f"DELETE FROM {self.nodes_table} WHERE level < ?", [(STORED_FROM,)])

    def extend_trees(self, leaves: Sequence[tuple[str, int, str, str]]) -> None:
        """`leaves`: (tenant, sequence, event hash, previous event's hash) of the events being
        recorded, each tenant's in sequence order."""
        if not self.extends_trees:
            return
        by_tenant: dict[str, list[tuple[int, str, str]]] = {}
        for tenant, sequence, event_hash, prev_hash in leaves:
            by_tenant.setdefault(tenant, []).append((sequence, event_hash, prev_hash))
        pending = self._pending_trees()
        for tenant, new in by_tenant.items():
            size, head = new[0][0] - 1, new[0][2]
            hashes = [merkle.leaf_hash(h) for _, h, _ in new]
            compact = self._remembered(tenant, size, head)
            if compact is not None:
                nodes = compact.extend(hashes, STORED_FROM)
                if not nodes or self._insert_nodes_reaching(tenant, nodes, size - size % BLOCK):
                    pending[tenant] = (compact, new[-1][1])
                    continue
            compact = self._compact_range(tenant, size)  # read afresh
            if compact is None:
                continue
            nodes = compact.extend(hashes, STORED_FROM)
            if nodes:
                self._insert_nodes(tenant, nodes)
            pending[tenant] = (compact, new[-1][1])

    def _insert_nodes_reaching(self, tenant: str, nodes: list[tuple[int, int, bytes]],
                               reach: int) -> bool:
        """Store `nodes` only if the tenant's stored nodes cover exactly `reach` leaves, and say
        whether they did (nothing is written when not). Here the reach read, then the insert:
        SQLite runs in-process, there is no round trip to save; PostgreSQL does both in one."""
        if self.stored_size(tenant) != reach:
            return False
        self._insert_nodes(tenant, nodes)
        return True

    def _pending_trees(self) -> dict[str, tuple[merkle.CompactRange, str]]:
        pending: dict[str, tuple[merkle.CompactRange, str]] | None = getattr(
            self._writing, "trees", None)
        if pending is None:
            pending = self._writing.trees = {}
        return pending

    def trees_begun(self) -> None:
        """A writer's transaction begins: nothing of an earlier one's is pending."""
        self._writing.trees = None

    def trees_committed(self) -> None:
        """The writer's transaction committed: its tenants' ranges may be used from now on."""
        self._trees.update(getattr(self._writing, "trees", None) or {})
        self._writing.trees = None

    def _remembered(self, tenant: str, size: int, head: str) -> merkle.CompactRange | None:
        """A copy of the committed range, if it is for the tree of `size` leaves whose last
        event has the hash `head` (the chain this batch builds on: its first fact's
        `prev_hash`), so a store rewound or replaced under a running process is read afresh."""
        known = self._trees.get(tenant)
        if known is None or known[0].size != size or known[1] != head:
            return None
        return merkle.CompactRange(size, [h for _, h in known[0].stack])

    def _compact_range(self, tenant: str, size: int) -> merkle.CompactRange | None:
        """The tenant's tree of `size` leaves as a compact range read from the store, if its
        stored nodes reach as far as they can (the last whole block of 16): those nodes, then
        the leaves after them from the chain."""
        reach = self.stored_size(tenant)
        if reach != size - size % BLOCK:
            return None
        ranges = merkle.perfect_ranges(reach)
        found: dict[tuple[int, int], bytes] = {}
        if ranges:
            branch = (f"SELECT level, idx, hash FROM {self.nodes_table} WHERE tenant = ? AND "
                      "level = ? AND idx = ?")
            found = {(int(r[0]), int(r[1])): bytes(r[2]) for r in self.query(
                " UNION ALL ".join([branch] * len(ranges)),
                [x for level, index in ranges for x in (tenant, level, index)])}
        if len(found) != len(ranges):  # nodes missing: leave it to the catch-up (and verify)
            return None
        compact = merkle.CompactRange(reach, [found[k] for k in ranges])
        tail = self.query(self._join("f.tenant = ? AND f.sequence > ? AND f.sequence <= ?"),
                          [tenant, reach, size])
        if len(tail) != size - reach:
            return None
        for row in tail:
            compact.append(merkle.leaf_hash(str(json.loads(bytes(row[2]))["hash"])))
        return compact
