"""A fresh PostgreSQL store is analysed by the writer that takes it past a size in
`statistics_at`, so its queries are planned from statistics rather than guesses (see
`ledger.store.pgrecorder.STATISTICS_AT`); the batch that crosses no such size analyses nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from ledger.bootstrap import Wiring
from ledger.store.database import CREATE_LOCK
from tests.conftest import unique
from tests.integration.test_tree_in_ingest import opening, use


def _reltuples(url: str, table: str) -> float:
    base, _, query = url.partition("?schema=")
    with psycopg.connect(base) as conn:
        found = conn.execute("SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON "
                             "n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                             (query, table)).fetchone()
    assert found is not None, f"no table {table} in schema {query}"
    return float(found[0])


def test_the_writer_that_takes_the_store_past_a_size_has_it_analysed(
        postgres_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring, tenant = wiring_factory(postgres_url), unique("acme")
    wiring.store.recorder.statistics_at = (30,)
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 5, 0)], None)  # positions 1-7
    assert _reltuples(postgres_url, "ledger_facts") == -1  # never analysed (PostgreSQL 14+)
    wiring.ledger.ingest(use(tenant, 40, 5), None)  # positions 8-47: past 30
    assert _reltuples(postgres_url, "ledger_facts") == 47
    assert _reltuples(postgres_url, "stored_events") == 47
    wiring.ledger.ingest(use(tenant, 10, 45), None)  # crosses nothing: no new statistics
    assert _reltuples(postgres_url, "ledger_facts") == 47


def test_the_analysis_leaves_the_tables_alone_while_a_process_creates_them(
        postgres_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    """A worker starting (creating or migrating the tables under `CREATE_LOCK`) while another
    analysed used to deadlock with it, and PostgreSQL aborted the starting worker. The
    analysis runs only holding that lock, taken before any table lock: while a start holds
    it, the batch that crossed a size commits without analysing (and without waiting), and
    the next commit analyses."""
    wiring, tenant = wiring_factory(postgres_url), unique("acme")
    wiring.store.recorder.statistics_at = (30,)
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 5, 0)], None)
    base = postgres_url.partition("?schema=")[0]
    with psycopg.connect(base, autocommit=True) as starting:  # as `process_recorder` holds it
        starting.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK,))
        writer = threading.Thread(target=wiring.ledger.ingest, args=(use(tenant, 40, 5), None))
        writer.start()
        writer.join(timeout=30)
        finished = not writer.is_alive()
        starting.execute("SELECT pg_advisory_unlock(%s)", (CREATE_LOCK,))
    writer.join(timeout=30)
    assert finished, "the writer waited for a process creating the tables"
    assert _reltuples(postgres_url, "ledger_facts") == -1  # crossed 30, but left alone
    wiring.ledger.ingest(use(tenant, 1, 45), None)  # the next commit analyses
    assert _reltuples(postgres_url, "ledger_facts") == 48
