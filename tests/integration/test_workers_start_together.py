"""Workers started at once on a new PostgreSQL schema (`ledger up` for Kafka, a deployment
rolled out, the e2e tests' consume, relay and project) each create the schema first, and
PostgreSQL lets two CREATE SCHEMA IF NOT EXISTS collide: the loser failed on
pg_namespace's unique index and that worker exited. Creating it is serialised now, as the
tables' creation is."""

from __future__ import annotations

import os
import threading

import pytest

from ledger.store.database import ensure_schema
from tests.conftest import unique


def _created_at_once(url: str, workers: int) -> list[BaseException]:
    """`workers` threads creating the schema of `url` at the same moment; what they raised."""
    start = threading.Barrier(workers)
    failed: list[BaseException] = []

    def create() -> None:
        start.wait()
        try:
            ensure_schema(url)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failed.append(exc)

    threads = [threading.Thread(target=create) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return failed


def test_workers_creating_one_new_schema_at_once_all_go_on() -> None:
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("LEDGER_TEST_POSTGRES_URL is not set: run `make test`")
    for _ in range(20):
        assert _created_at_once(f"{base}?schema={unique('together')}", 8) == []
