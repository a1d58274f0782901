"""The read models' multi-row insert on PostgreSQL (one `unnest` over an array per column)
sends a column's array in binary only when every value is exactly of its type, and the
values stored are the same either way: text with every character JSON or SQL could trip on,
integers past 32 bits, nulls; a column holding something else (a time in a text column) keeps
the text format and its spelling, as before."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.store.sql import Database
from projections import tables

AWKWARD = ['a "quoted" {brace}, comma', "back\\slash", "", "NULL", "ünï 𝄞", "new\nline", None]


def test_values_stored_through_binary_arrays_are_the_values_given(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        db.create_tables(["CREATE TABLE IF NOT EXISTS t (name TEXT, n BIGINT, at TEXT)"])
        moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
        rows = [(name, None if name is None else 2**40 + i, None)
                for i, name in enumerate(AWKWARD)]
        assert tables._pg_array([r[0] for r in rows]) == "%b::text[]"
        assert tables._pg_array([r[1] for r in rows]) == "%b::bigint[]"
        assert tables._pg_array([moment, "x"]) == "?::text[]"
        with db.transaction() as cur:
            tables.insert(cur, "t", ("name", "n", "at"), rows)
            tables.insert(cur, "t", ("name", "n", "at"), [("time", 1, moment)])
        with db.reading() as cur:
            stored = cur.execute("SELECT name, n, at FROM t WHERE name IS DISTINCT FROM "
                                 "'time'").fetchall()
            timed = cur.execute("SELECT name, n, at FROM t WHERE name = 'time'").fetchall()
            cur.execute("SELECT ?::text", [moment])
            spelled = cur.fetchone()
        assert sorted(stored, key=repr) == sorted(rows, key=repr)
        assert spelled is not None and timed == [("time", 1, spelled[0])]
    finally:
        db.close()
