"""The recorders' own inserts (PostgreSQL: parallel binary arrays, one prepared statement;
SQLite: one executemany, the ids from the rowid range) record what the library's would: each
fact's exact bytes at its stream and version, positions that are the notification ids in batch
order, and a notification log without gaps across batches."""

from __future__ import annotations

import sqlite3
import uuid

from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from ledger.store.codec import encode, fact_record
from tests.builders import catalog_envelope, envelope


def test_positions_are_the_notification_ids_in_order_and_the_stored_bytes_are_the_records(
        database_url: str) -> None:
    wiring = bootstrap(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        first = wiring.ledger.ingest([catalog_envelope(), envelope(
            "license.granted", "2026-03-01", customer_id="c", plan="pro", seats=3)], "acme")
        second = wiring.ledger.ingest([envelope("seat.assigned", f"2026-03-0{2 + k}", user_id=f"u{k}")
                                       for k in range(3)], "acme")
        facts = [o.fact for o in first + second]
        assert all(f is not None for f in facts)
        records = list(wiring.store.all_records(decoded=False))
        assert [r[0] for r in records] == [f.position for f in facts if f is not None]
        assert [r[0] for r in records] == list(range(records[0][0], records[0][0] + 5))
        assert [r[3] for r in records] == [1, 2, 3, 4, 5]  # version = the chain's sequence
        assert [r[4] for r in records] == [encode(fact_record(f)) for f in facts if f is not None]
        assert [f.hash for f in wiring.store.facts_after(0)] == [f.hash for f in facts if f is not None]
    finally:
        wiring.close()


def test_on_sqlite_positions_are_read_back_when_new_rowids_are_not_the_next_ones(
        sqlite_url: str) -> None:
    """With a rowid at the 64-bit limit SQLite picks new rowids at random: the insert must then
    read each fact's id back, never assume the range."""
    wiring = bootstrap(Settings(database_url=sqlite_url, _env_file=None))  # type: ignore[call-arg]
    try:
        with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:  # the condition, set up
            db.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, "
                       "state) VALUES (?, ?, 1, 'other', x'7b7d')", (2**63 - 1, uuid.uuid4().hex))
        outcomes = wiring.ledger.ingest([catalog_envelope(), envelope(
            "license.granted", "2026-03-01", customer_id="c", plan="pro", seats=3)], "acme")
        facts = [o.fact for o in outcomes if o.fact is not None]
        assert len(facts) == 2
        with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
            stored = {version: rowid for rowid, version in db.execute(
                "SELECT rowid, originator_version FROM stored_events WHERE topic != 'other'")}
            indexed = dict(db.execute("SELECT sequence, position FROM ledger_facts"))
        assert {f.sequence: f.position for f in facts} == stored == indexed
    finally:
        wiring.close()
