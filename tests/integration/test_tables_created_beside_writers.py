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

import psycopg

from ledger.store.sql import Database
from projections import tables


def _waiting_backend(conn: psycopg.Connection, schema: str, table: str) -> int | None:
    found = conn.execute(
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND NOT l.granted",
        (schema, table)).fetchone()
    return None if found is None else int(found[0])


def test_a_start_that_creates_an_index_waits_holding_nothing_the_writer_needs(
        postgres_url: str) -> None:
    base, _, schema = postgres_url.partition("?schema=")
    db = Database(postgres_url)
    tables.create(db)  # the tables exist: this is a second process starting, one index short
    with psycopg.connect(base, autocommit=True) as admin:  # (a release that adds an index)
        admin.execute(f'DROP INDEX "{schema}".rm_usage_by_time')
    failures: list[BaseException] = []

    def start() -> None:
        other = Database(postgres_url)
        try:
            tables.create(other)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            other.close()

    with psycopg.connect(base, autocommit=False) as writer:
        writer.execute(f'SET search_path TO "{schema}"')
        # a projector's batch: it has written rm_usage (its lock held to the commit) ...
        writer.execute("LOCK TABLE rm_usage IN ROW EXCLUSIVE MODE")
        starting = threading.Thread(target=start)
        starting.start()
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


def test_a_serving_process_starting_does_not_queue_key_lookups_behind_a_reader(
        postgres_url: str) -> None:
    """ALTER TABLE takes the table's strongest lock even when the column exists: a start that
    altered api_keys each time waited for any open reader of the keys, and every key lookup
    queued behind it. A start whose columns are there takes no such lock."""
    from ledger.api.keys import ApiKeys

    base, _, schema = postgres_url.partition("?schema=")
    db = Database(postgres_url)
    ApiKeys(db)  # the first start creates the table and its columns
    started: list[BaseException | None] = []

    def start() -> None:
        other = Database(postgres_url)
        try:
            ApiKeys(other)
            started.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            started.append(exc)
        finally:
            other.close()

    with psycopg.connect(base, autocommit=False) as reader:
        reader.execute(f'SET search_path TO "{schema}"')
        reader.execute("SELECT count(*) FROM api_keys").fetchone()  # its lock held to the end
        starting = threading.Thread(target=start)
        starting.start()
        starting.join(timeout=10)
        done = not starting.is_alive()
        reader.rollback()  # lets a waiting start through, so the test ends either way
    starting.join(timeout=30)
    assert done, "a serving process's start waited for a reader of api_keys"
    assert started == [None]
    db.close()


def test_a_start_that_lacks_nothing_does_not_wait_for_the_writers(postgres_url: str) -> None:
    base, _, schema = postgres_url.partition("?schema=")
    db = Database(postgres_url)
    tables.create(db)
    failures: list[BaseException] = []

    def start() -> None:
        other = Database(postgres_url)
        try:
            tables.create(other)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            other.close()

    with psycopg.connect(base, autocommit=False) as writer:  # a projector's batch, mid-way
        writer.execute(f'SET search_path TO "{schema}"')
        writer.execute("LOCK TABLE rm_usage, rm_licenses, rm_features IN ROW EXCLUSIVE MODE")
        starting = threading.Thread(target=start)
        starting.start()
        starting.join(timeout=10)
        done = not starting.is_alive()
        writer.rollback()  # lets a waiting start through, so the test ends either way
    starting.join(timeout=30)
    assert done, "a start whose tables and indexes all exist waited for a writer"
    assert failures == []
    db.close()
