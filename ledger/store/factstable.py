"""Our table `ledger_facts`: its columns, its DDL and partial indexes, and the once-only migration
of a store created before the usage columns (`FactIndex`, its queries, takes `migrate` from here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ledger.store.codec import to_fact
from ledger.store.records import CATALOG, GOVERNANCE, IndexRow, usage_columns

FACTS_TABLE = "ledger_facts"
COLUMNS = IndexRow._fields
# PostgreSQL's array type of each column, in COLUMNS order (its insert is one unnest statement)
ARRAY_TYPES = ("text", "bigint", "bigint", "text", "text", "text", "text", "text", "text",
               "text", "bigint", "bigint", "bigint")
# Added after the first release: a store created before them gets them on open (`migrate`).
USAGE_COLUMNS = ("feature", "quantity", "effective_at", "recorded_at")
# The kinds of the few facts a tenant's whole history of is read: each has a partial index,
# which a query uses only if it names the kind as a literal.
SPARSE_KINDS = (CATALOG, GOVERNANCE)


def _usage_column_types(bigint: str) -> list[str]:
    return ["feature TEXT", f"quantity {bigint}", f"effective_at {bigint}", f"recorded_at {bigint}"]


def ddl(table: str, bigint: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (tenant TEXT NOT NULL, sequence {bigint} NOT NULL, "
        f"position {bigint} NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, month TEXT, "
        "customer TEXT, source TEXT NOT NULL, source_event_id TEXT NOT NULL, "
        + "".join(f"{c}, " for c in _usage_column_types(bigint)) +
        "PRIMARY KEY (tenant, sequence), UNIQUE (tenant, source_event_id, source))",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_subject ON {table} (tenant, subject, kind, month)",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_customer ON {table} (tenant, customer) "
        "WHERE customer IS NOT NULL",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {FACTS_TABLE}_position ON {table} (position)",
        # Every batch reads the tenant's catalogs: without these it scanned all its rows.
        *(f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_{kind} ON {table} (tenant, sequence) "
          f"WHERE kind = '{kind}'" for kind in SPARSE_KINDS),
    ]


class FactsTable:
    """Brings the table up to date; `query`, `columns` and `_update` come from `FactIndex` and
    the recorder subclasses."""

    facts_table: str
    events_table: str
    position_column: str

    def query(self, statement: str, params: Sequence[Any] = (), *,
              prepared: bool = True, binary: bool = False) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def columns(self) -> set[str]:
        """The columns our table has in this database."""
        raise NotImplementedError

    def _update(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a write statement once per row, in the writer's transaction (only `migrate`)."""
        raise NotImplementedError

    def migrate(self, writing: Any) -> None:
        """Bring a store created before the usage columns up to date, once, in one write
        transaction (`writing`, the recorder's): add the columns, then fill them in for every
        usage row from its fact, exactly as the insert path writes them (`records.index_row`),
        so that old and new rows answer alike and `ledger verify` checks both the same way."""
        if not set(USAGE_COLUMNS) - self.columns():
            return
        bigint = "BIGINT" if self.position_column == "notification_id" else "INTEGER"
        with writing([]):
            for column in _usage_column_types(bigint):
                if column.split()[0] not in self.columns():
                    self._update(f"ALTER TABLE {self.facts_table} ADD COLUMN {column}", [()])
            after = 0
            while rows := self.query(  # in pages, in ledger order: bounded memory
                    f"SELECT f.position, e.state FROM {self.facts_table} f JOIN {self.events_table} "
                    f"e ON e.{self.position_column} = f.position WHERE f.kind = 'usage' AND "
                    "f.position > ? ORDER BY f.position LIMIT 10000", [after], prepared=False):
                self._update(f"UPDATE {self.facts_table} SET feature = ?, quantity = ?, "
                             "effective_at = ?, recorded_at = ? WHERE position = ?",
                             [[*usage_columns(to_fact(json.loads(bytes(r[1])), r[0])), r[0]]
                              for r in rows])
                after = rows[-1][0]
