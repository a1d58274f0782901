"""The embedded store's pool after a write that could not have a connection (every one of them
in use by readers past the pool's wait): the library's pool kept its writer slot, and every
later write of the process waited for a writer that never returned. Real SQLite files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eventsourcing.persistence import ConnectionUnavailableError

from ledger.bootstrap import Wiring
from ledger.store.sqlitepool import SQLitePool
from tests.builders import catalog_envelope, envelope

Make = Callable[..., Wiring]


def test_a_write_that_found_every_connection_in_use_leaves_the_next_write_free(
        wiring_factory: Make, tmp_path: Path) -> None:
    wiring = wiring_factory(f"sqlite:///{tmp_path / 'ledger.db'}")
    pool = wiring.store.recorder.datastore.pool
    assert isinstance(pool, SQLitePool)
    pool.pool_timeout = 0.3
    readers = [pool.get_connection(is_writer=False)
               for _ in range(pool.pool_size + pool.max_overflow)]
    with pytest.raises(ConnectionUnavailableError, match="return of connection"):
        wiring.ledger.ingest([catalog_envelope(tenant="acme")], None)
    for reader in readers:
        pool.put_connection(reader)

    outcomes = wiring.ledger.ingest([catalog_envelope(tenant="acme"),
                                     envelope("license.granted", "2026-01-02", tenant="acme",
                                              customer_id="c1", plan="pro", seats=2)], None)
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert len(wiring.store.facts_after(0)) == 2


@pytest.mark.parametrize("name", ["ledger.db", ":memory:"])
def test_an_ask_that_failed_gives_back_the_writer_slot_and_the_reader_count(
        tmp_path: Path, name: str) -> None:
    """In memory, reads and writes exclude each other: a reader left counted would keep every
    writer out as a writer slot left taken keeps them out of a file."""
    db = name if name == ":memory:" else str(tmp_path / name)
    pool = SQLitePool(db_name=db, pool_size=1, max_overflow=0, pool_timeout=0.3)
    try:
        held = pool.get_connection(is_writer=False)  # the one connection
        for is_writer in (True, False):
            with pytest.raises(ConnectionUnavailableError):
                pool.get_connection(is_writer=is_writer)
        pool.put_connection(held)

        writer = pool.get_connection(is_writer=True)
        writer.cursor().execute("SELECT 1")
        pool.put_connection(writer)
        reader = pool.get_connection(is_writer=False)
        pool.put_connection(reader)
    finally:
        pool.close()
