"""A fresh PostgreSQL store is analysed by the writer that takes it past a size in
`statistics_at`, so its queries are planned from statistics rather than guesses (see
`ledger.store.recorders.STATISTICS_AT`); the batch that crosses no such size analyses nothing."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from ledger.bootstrap import Wiring
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
