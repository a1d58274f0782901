"""A commit that waits past the lock timeout is contention, not a broken store. A transaction
that notifies (every ledger write does, for its followers) takes the database's one
notification lock at COMMIT; here another committer holds it, stalled waiting for a
synchronous standby that never answers. The write is refused as busy (what `ledger consume`
and `ledger ingest` wait out, and the API answers 503 `busy` to), nothing of it is recorded,
and once the lock is free the same envelope is accepted. Before, the commit's error was the
library's bare OperationalError, which stopped `ledger consume`.

On a PostgreSQL server of its own: the test sets `synchronous_standby_names` server-wide."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from ledger.store.eventstore import ConcurrentAppendError
from tests.builders import catalog_envelope, envelope
from tests.faults.services import OwnServices


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnServices]:
    services = OwnServices()
    services.up_postgres()
    try:
        with psycopg.connect(services.superuser_url, autocommit=True) as su:
            su.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
            su.execute("SELECT pg_reload_conf()")
            su.execute("CREATE TABLE IF NOT EXISTS stalls (at timestamptz)")

        def reloaded() -> bool:
            with psycopg.connect(services.superuser_url) as fresh:
                row = fresh.execute("SHOW synchronous_standby_names").fetchone()
                return row is not None and row[0] == "nobody"

        _wait_until("the server reloading its settings", reloaded)
        yield services
    finally:
        services.down()


def _wait_until(what: str, holds: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not holds():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.05)


def _stalled_committer(url: str) -> tuple[threading.Thread, int]:
    """A connection that writes, notifies and commits, and stays in its commit (holding the
    notification lock) until it is cancelled: its commit waits for the standby (a commit
    that wrote nothing would not wait)."""
    conn = psycopg.connect(url)
    pid = conn.info.backend_pid
    conn.execute("SET synchronous_commit = on")
    conn.execute("INSERT INTO stalls VALUES (now())")
    conn.execute("NOTIFY elsewhere")

    def commit() -> None:
        try:
            conn.commit()
        finally:
            conn.close()

    thread = threading.Thread(target=commit, daemon=True)
    thread.start()
    return thread, pid


def test_a_commit_held_past_the_lock_timeout_is_busy_and_records_nothing(
        own_postgres: OwnServices) -> None:
    wiring = bootstrap(Settings(database_url=f"{own_postgres.postgres_url}?schema=commit_wait",
                                _env_file=None))  # type: ignore[call-arg]
    ledger, store = wiring.ledger, wiring.store
    ledger.ingest([catalog_envelope(tenant="acme"),
                   envelope("license.granted", "2026-03-01", "lic-1", tenant="acme",
                            customer_id="c-1", plan="pro")], None)
    store.recorder.datastore.lock_timeout = 1  # the default 10 s, shortened for the test
    before = store.max_position()
    later = envelope("license.granted", "2026-03-02", "lic-2", tenant="acme", customer_id="c-1",
                     plan="pro")
    stalled, pid = _stalled_committer(own_postgres.superuser_url)
    with psycopg.connect(own_postgres.superuser_url, autocommit=True) as su:
        def waiting_for_the_standby() -> bool:
            row = su.execute("SELECT wait_event FROM pg_stat_activity WHERE pid = %s",
                             (pid,)).fetchone()
            return row is not None and row[0] == "SyncRep"

        _wait_until("the other commit waiting for its standby", waiting_for_the_standby)
        with pytest.raises(ConcurrentAppendError, match="stayed taken past the lock timeout"):
            ledger.ingest([later], None)
        assert store.max_position() == before  # nothing of the refused write was recorded
        assert store.license_facts("acme", "lic-2") == []
        su.execute("SELECT pg_cancel_backend(%s)", (pid,))  # its commit ends (done locally)
    stalled.join(timeout=15)
    assert not stalled.is_alive()
    outcomes = ledger.ingest([later], None)
    assert [o.status for o in outcomes] == ["accepted"]
    assert [f.type for f in store.license_facts("acme", "lic-2")] == ["license.granted"]
    wiring.close()
