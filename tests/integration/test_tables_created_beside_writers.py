"""A process starting (creating its tables) while another writes them never deadlocks with it.

Seen in `bench.pipeline`: a second `ledger project` started while the first applied a batch,
and PostgreSQL aborted the starting worker's DDL as a deadlock; the worker exited. CREATE INDEX
IF NOT EXISTS takes its table's ShareLock even when the index exists, and the start ran every
statement in one transaction, so it held one table's lock while it waited for another's, which
the writer held while it waited for the first. Here a writer holds one read-model table and,
while the start waits for it (to create an index it lacks), takes another that the start has
already passed; and a start that lacks nothing does not wait for the writers at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg

from ledger.store.sql import Database
from projections import tables


def _waiting_backend(conn: psycopg.Connection, schema: str, table: str) -> int | None:
    found = conn.execute(
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND NOT l.granted",
        (schema, table)).fetchone()
    return None if found is None else int(found[0])


def _starting(url: str, start: Callable[[Database], object]) -> tuple[threading.Thread,
                                                                      list[BaseException]]:
    """Another process's start (`start` on a handle of its own), begun in a thread; the
    failures it met are in the list once the thread ends."""
    failures: list[BaseException] = []

    def run() -> None:
        other = Database(url)
        try:
            start(other)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failures.append(exc)
        finally:
            other.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


def _started_beside(url: str, holding: str,
                    start: Callable[[Database], object]) -> tuple[bool, list[BaseException]]:
    """Whether another process's start finished within 10 s while a transaction that ran
    `holding` kept its locks, and the failures it met (it is let through after, either way)."""
    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=False) as other:
        other.execute(f'SET search_path TO "{schema}"')
        other.execute(holding)
        starting, failures = _starting(url, start)
        starting.join(timeout=10)
        done = not starting.is_alive()
        other.rollback()
    starting.join(timeout=30)
    return done, failures


def test_a_start_that_creates_an_index_waits_holding_nothing_the_writer_needs(
        postgres_url: str) -> None:
    base, _, schema = postgres_url.partition("?schema=")
    db = Database(postgres_url)
    tables.create(db)  # the tables exist: this is a second process starting, one index short
    with psycopg.connect(base, autocommit=True) as admin:  # (a release that adds an index)
        admin.execute(f'DROP INDEX "{schema}".rm_usage_by_time')
    with psycopg.connect(base, autocommit=False) as writer:
        writer.execute(f'SET search_path TO "{schema}"')
        # a projector's batch: it has written rm_usage (its lock held to the commit) ...
        writer.execute("LOCK TABLE rm_usage IN ROW EXCLUSIVE MODE")
        starting, failures = _starting(postgres_url, tables.create)
        with psycopg.connect(base, autocommit=True) as watch:
            waiting = None
            for _ in range(200):
                waiting = _waiting_backend(watch, schema, "rm_usage")
                if waiting is not None:
                    break
                time.sleep(0.05)
            assert waiting is not None, "the start never waited for the writer's rm_usage"
            held = watch.execute(
                "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = %s AND "
                "n.nspname = %s AND l.granted", (waiting, schema)).fetchall()
        assert held == [], f"the waiting start holds locks of other tables: {held}"
        # ... and now writes rm_licenses, which the start's statements have already passed
        writer.execute("SET lock_timeout = '10s'")
        writer.execute("LOCK TABLE rm_licenses IN ROW EXCLUSIVE MODE")
        writer.commit()
    starting.join(timeout=30)
    assert not starting.is_alive()
    assert failures == []
    db.close()


def test_a_serving_process_starting_does_not_wait_for_a_reader_of_the_keys(
        postgres_url: str) -> None:
    """ALTER TABLE takes the table's strongest lock even when the column exists: a start that
    altered api_keys each time waited for any open reader of the keys, and every key lookup
    queued behind it. A start whose columns are there takes no such lock."""
    from ledger.api.remembered_keys import ApiKeys

    db = Database(postgres_url)
    ApiKeys(db)  # the first start creates the table and its columns
    done, failures = _started_beside(postgres_url, "SELECT count(*) FROM api_keys", ApiKeys)
    assert done, "a serving process's start waited for a reader of api_keys"
    assert failures == []
    db.close()


def test_a_start_that_lacks_nothing_does_not_wait_for_the_writers(postgres_url: str) -> None:
    db = Database(postgres_url)
    tables.create(db)
    done, failures = _started_beside(  # a projector's batch, mid-way
        postgres_url, "LOCK TABLE rm_usage, rm_licenses, rm_features IN ROW EXCLUSIVE MODE",
        tables.create)
    assert done, "a start whose tables and indexes all exist waited for a writer"
    assert failures == []
    db.close()
