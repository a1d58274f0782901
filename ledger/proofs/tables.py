"""Our own two tables beside the event store's (never the library's): the perfect subtree
hashes of every tenant's Merkle tree, and the signed tree heads the ledger has issued.

Both tables are created with the event store's, by its recorder (`ledger.store.treeindex`,
which also appends the trees in the ingest transaction and owns the nodes' insert and reach
query, used here too); this module reads them, keeps heads, and catches up a tree that lags.
Both are derived and deterministic: a node's hash follows from the events, so two processes
that write the same node write the same bytes (INSERT ... ON CONFLICT DO NOTHING), and the
nodes can always be rebuilt from the chain. Heads are kept so that `ledger verify` can check
every head the ledger ever signed against the recomputed tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ledger.store.treeindex import STORED_FROM, stored_reach

_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TreeTables:
    """The two tables in the event store's own database (SQLite file or PostgreSQL schema)."""

    def __init__(self, recorder: Any):
        self._recorder = recorder
        schema = getattr(recorder.datastore, "schema", None)
        self._postgres = schema is not None
        if schema is not None and not _SAFE.match(str(schema)):
            raise ValueError(f"schema {schema!r} is not a plain identifier")
        self._prefix = f'"{schema}".' if self._postgres else ""

    def _sql(self, text: str) -> str:
        text = text.replace("{p}", self._prefix)
        return text.replace("?", "%s") if self._postgres else text

    def _run(self, query: str, params: Iterable[Any] = (), *, write: bool = False) -> list[tuple[Any, ...]]:
        # the recorder's own transaction: on PostgreSQL begun past connections a restart broke,
        # and cut at a serving process's deadline, as every other of ours
        with self._recorder._transaction(commit=write) as cursor:
            cursor.execute(self._sql(query), list(params))
            if not write:
                return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]
        return []

    # -- nodes -------------------------------------------------------------------------------
    def size(self, tenant: str) -> int:
        """How many leaves the tenant's stored nodes cover (a multiple of 16: only subtrees of
        16 leaves and more are stored, `treeindex.STORED_FROM`): the recorder's own query."""
        return int(self._recorder.stored_size(tenant))

    def shape(self, tenant: str) -> tuple[int, int]:
        """(leaves covered, nodes) of the tenant's stored tree, read together (a catch-up
        committing meanwhile cannot make them disagree): the audit checks there are no other
        nodes than the leaves imply."""
        rows = self._run("SELECT MAX(CASE WHEN level = ? THEN idx END), COUNT(*) FROM "
                         "{p}merkle_nodes WHERE tenant = ?", [STORED_FROM, tenant])
        last, count = rows[0]
        return stored_reach(last), int(count)

    def nodes(self, tenant: str, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of these (level, index) subtrees, in one query: in SQLite one
        indexed branch per level (an OR over pairs would scan the table)."""
        wanted = sorted(set(keys))
        if self._postgres:  # one index lookup per key, whatever the planner's statistics say
            rows = self._run(
                "SELECT k.level, k.idx, n.hash FROM unnest(?::int[], ?::bigint[]) AS k(level, idx) "
                "CROSS JOIN LATERAL (SELECT hash FROM {p}merkle_nodes WHERE tenant = ? "
                "AND level = k.level AND idx = k.idx) AS n",
                [[k[0] for k in wanted], [k[1] for k in wanted], tenant])
            return {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}
        by_level: dict[int, list[int]] = {}
        for level, index in wanted:
            by_level.setdefault(level, []).append(index)
        found: dict[tuple[int, int], bytes] = {}
        levels = sorted(by_level.items())
        for start in range(0, len(levels), 16):
            branches, params = [], []
            for level, indexes in levels[start:start + 16]:
                for i in range(0, len(indexes), 200):
                    chunk = indexes[i:i + 200]
                    branches.append("SELECT level, idx, hash FROM {p}merkle_nodes WHERE tenant = ? "
                                    f"AND level = ? AND idx IN ({', '.join('?' * len(chunk))})")
                    params += [tenant, level, *chunk]
            for level, idx, digest in self._run(" UNION ALL ".join(branches), params):
                found[(int(level), int(idx))] = bytes(digest)
        return found

    def add_nodes(self, tenant: str, nodes: list[tuple[int, int, bytes]]) -> None:
        """In one transaction, by the recorder's insert (the one ingest appends with)."""
        self._recorder.add_nodes(tenant, nodes)

    def forget_nodes(self, tenant: str) -> None:
        """Drop the tenant's stored nodes (they are rebuilt from the chain on the next read)."""
        self._run("DELETE FROM {p}merkle_nodes WHERE tenant = ?", [tenant], write=True)

    # -- signed heads ------------------------------------------------------------------------
    def add_head(self, tenant: str, tree_size: int, key_id: str, document: str) -> str:
        """Keep a signed head; if one of this size and key is kept already, that one wins and
        is returned (so every caller hands out the same head)."""
        self._run("INSERT INTO {p}tree_heads (tenant, tree_size, key_id, document) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT DO NOTHING", [tenant, tree_size, key_id, document], write=True)
        found = self._run("SELECT document FROM {p}tree_heads WHERE tenant = ? AND tree_size = ? "
                          "AND key_id = ?", [tenant, tree_size, key_id])
        return str(found[0][0])

    def head(self, tenant: str, tree_size: int, key_id: str) -> str | None:
        found = self._run("SELECT document FROM {p}tree_heads WHERE tenant = ? AND tree_size = ? "
                          "AND key_id = ?", [tenant, tree_size, key_id])
        return str(found[0][0]) if found else None

    def tenants(self) -> list[str]:
        """The tenants the ledger has stored trees or signed heads for."""
        return [str(r[0]) for r in self._run("SELECT DISTINCT tenant FROM {p}tree_heads UNION "
                                             "SELECT DISTINCT tenant FROM {p}merkle_nodes")]

    def kept_heads(self, tenant: str) -> list[tuple[int, str, str]]:
        """(tree_size, key_id, document) of every head kept for the tenant, smallest first: the
        row's own keys too, which `tree_head` looks heads up by (the audit checks they agree)."""
        return [(int(r[0]), str(r[1]), str(r[2])) for r in self._run(
            "SELECT tree_size, key_id, document FROM {p}tree_heads WHERE tenant = ? "
            "ORDER BY tree_size, key_id", [tenant])]

    def heads(self, tenant: str | None = None) -> list[str]:
        """Every signed head issued (of one tenant, or all), smallest trees first."""
        if tenant is None:
            rows = self._run("SELECT document FROM {p}tree_heads ORDER BY tenant, tree_size")
        else:
            rows = self._run("SELECT document FROM {p}tree_heads WHERE tenant = ? ORDER BY tree_size",
                             [tenant])
        return [str(r[0]) for r in rows]
