"""The tenants' trees on PostgreSQL: `treeindex.TreeIndex` with its reads and writes cut to
as few round trips to the server as they can be (each one a wait on the server)."""

from __future__ import annotations

import json

from ledger.domain import merkle
from ledger.store.treeindex import BLOCK, STORED_FROM, TreeIndex


class PostgresTreeIndex(TreeIndex):
    """The reach check and the node insert in one statement: one round trip to the server per
    batch for the tree instead of two (each a wait on the server, most of B's extra time); and
    the range read afresh in one statement instead of three, which every batch needs when
    another process wrote the tenant since this one did (two `consume` workers on one tenant
    take turns at its lock: the tree's reads were most of what a turn cost)."""

    facts_table: str
    position_column: str

    def _compact_range(self, tenant: str, size: int) -> merkle.CompactRange | None:
        """`TreeIndex._compact_range` in one round trip: the reach, the stored nodes of the
        range it must have (the last whole block of 16), and the chain's leaves after it."""
        reach = size - size % BLOCK
        ranges = merkle.perfect_ranges(reach)
        rows = self.query(
            f"SELECT 'r', NULL::int, COALESCE(MAX(idx) + 1, 0) * ?, NULL::bytea FROM "
            f"{self.nodes_table} WHERE tenant = ? AND level = ? UNION ALL SELECT 'n', level, "
            f"idx, hash FROM {self.nodes_table} WHERE tenant = ? AND (level, idx) IN (SELECT * "
            f"FROM unnest(?::int[], ?::bigint[])) UNION ALL SELECT 't', NULL, f.sequence, "
            f"e.state FROM {self.facts_table} f JOIN {self.events_table} e ON "
            f"e.{self.position_column} = f.position WHERE f.tenant = ? AND f.sequence > ? AND "
            "f.sequence <= ? ORDER BY 1, 3",
            [BLOCK, tenant, STORED_FROM, tenant, [level for level, _ in ranges],
             [index for _, index in ranges], tenant, reach, size])
        if [int(r[2]) for r in rows if r[0] == "r"] != [reach]:
            return None
        found = {(int(r[1]), int(r[2])): bytes(r[3]) for r in rows if r[0] == "n"}
        tail = [bytes(r[3]) for r in rows if r[0] == "t"]
        if len(found) != len(ranges) or len(tail) != size - reach:
            return None  # nodes missing (left to the catch-up and verify), or the chain short
        compact = merkle.CompactRange(reach, [found[k] for k in ranges])
        for state in tail:
            compact.append(merkle.leaf_hash(str(json.loads(state)["hash"])))
        return compact

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
