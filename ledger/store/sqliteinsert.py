"""The facts' insert on SQLite: one `executemany` instead of the library's `execute` per row.

The library inserts row by row to read each row's `lastrowid`, its notification id (our
position). Inside the ledger's write transaction the ids need no reading: `writing` holds
BEGIN IMMEDIATE, SQLite's single writer, so no other connection inserts meanwhile, and a table
without AUTOINCREMENT gives each new row the table's largest rowid + 1; the n rows of one
statement get max+1..max+n in order, exactly what the per-row `lastrowid` would have returned.
What the library guarantees followers is unchanged: ids are issued by the one writer in commit
order, with no gap a follower could pass that fills in later (SQLite has no concurrent writer).
Should the range not hold (a rowid at the 64-bit limit makes SQLite pick at random), the ids
are read back by each row's key rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent


def insert_facts(cursor: Any, table: str, statement: str, stored: Sequence[StoredEvent]) -> list[int]:
    """Insert `stored` with the library's own `statement` into `table`; their notification ids."""
    cursor.execute(f"SELECT MAX(rowid) FROM {table}")
    before = cursor.fetchone()[0] or 0
    keys = [(e.originator_id.hex if isinstance(e.originator_id, UUID) else e.originator_id,
             e.originator_version) for e in stored]
    cursor.executemany(statement, [(*key, e.topic, e.state) for key, e in zip(keys, stored, strict=True)])
    cursor.execute("SELECT last_insert_rowid()")
    last = cursor.fetchone()[0]
    if last == before + len(stored):
        return list(range(before + 1, last + 1))
    found = []
    for key in keys:
        cursor.execute(f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = ?",
                       key)
        found.append(cursor.fetchone()[0])
    return found
