"""The tenants' trees on PostgreSQL: `treeindex.TreeIndex` with the reach check and the node
insert of a batch in one statement (each round trip a wait on the server)."""

from __future__ import annotations

from ledger.store.treeindex import BLOCK, STORED_FROM, TreeIndex


class PostgresTreeIndex(TreeIndex):
    """The reach check and the node insert in one statement: one round trip to the server per
    batch for the tree instead of two (those waits were most of what the tree added to a
    batch's time on PostgreSQL: docs/benchmarks.md, the verifiable log's round 7)."""

    def _insert_nodes_reaching(self, tenant: str, nodes: list[tuple[int, int, bytes]],
                               reach: int) -> bool:
        # The CTE's reach and the insert's guard see the same snapshot, taken before the insert;
        # the arrays go in binary (`%b`: no per-element quoting in Python, bytea the worst).
        rows = self._writing.cursor.execute(
            f"WITH reach AS (SELECT COALESCE(MAX(idx) + 1, 0) * %s AS leaves FROM "
            f"{self.nodes_table} WHERE tenant = %s AND level = %s), added AS (INSERT INTO "
            f"{self.nodes_table} (tenant, level, idx, hash) SELECT %s, n.* FROM unnest("
            "%b::int[], %b::bigint[], %b::bytea[]) AS n WHERE (SELECT leaves FROM reach) = "
            "%s::bigint ON CONFLICT DO NOTHING) SELECT leaves FROM reach",
            [BLOCK, tenant, STORED_FROM, tenant, [n[0] for n in nodes], [n[1] for n in nodes],
             [n[2] for n in nodes], reach], prepare=True).fetchall()
        found = rows[0]
        return int(found["leaves"] if isinstance(found, dict) else found[0]) == reach
