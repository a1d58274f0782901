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
    """Insert `stored` with the library's own `statement` into `table`; their notification ids.
    A batch's records are of few streams, each one UUID object (`streams.chain_stream`): its
    text is made once per run of records of one stream, not per record."""
    cursor.execute(f"SELECT MAX(rowid) FROM {table}")
    before = cursor.fetchone()[0] or 0
    rows: list[tuple[Any, ...]] = []
    stream, text = None, None
    for e in stored:
        if e.originator_id is not stream:
            stream = e.originator_id
            text = stream.hex if isinstance(stream, UUID) else stream
        rows.append((text, e.originator_version, e.topic, e.state))
    cursor.executemany(statement, rows)
    cursor.execute("SELECT last_insert_rowid()")
    last = cursor.fetchone()[0]
    if last == before + len(stored):
        return list(range(before + 1, last + 1))
    found = []
    for row in rows:
        cursor.execute(f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = ?",
                       row[:2])
        found.append(cursor.fetchone()[0])
    return found
