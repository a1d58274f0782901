"""A process starting (creating its tables) while another writes them never deadlocks with it.

Seen in `bench.pipeline`: a second `ledger project` started while the first applied a batch,
and PostgreSQL aborted the starting worker's DDL as a deadlock; the worker exited. CREATE INDEX
IF NOT EXISTS takes its table's ShareLock even when the index exists, and the start ran every
statement in one transaction, so it held one table's lock while it waited for another's, which
the writer held while it waited for the first. Here a writer holds one read-model table and,
while the start waits for it, takes another that the start has already passed.
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


def test_a_start_waits_for_a_writer_holding_nothing_the_writer_needs(postgres_url: str) -> None:
    base, _, schema = postgres_url.partition("?schema=")
    db = Database(postgres_url)
    tables.create(db)  # the tables exist: this is a second process starting
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
