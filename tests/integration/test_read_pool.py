"""The read database's pool (`ledger.store.pgpool`) tells a database that is down from one
that is busy: psycopg_pool raises the same PoolTimeout for both, and the API keys trust their
memory only for the first (a busy pool must not stretch how long a revoked key works)."""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack
from urllib.parse import urlparse

import pytest
from psycopg_pool import PoolTimeout

from ledger.store.pgpool import Connections, DatabaseDownError
from ledger.store.sql import pool_busy, unreachable


def conninfo(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=ledger password=ledger dbname=ledger"


def test_a_pool_that_cannot_connect_says_the_database_is_down() -> None:
    with socket.create_server(("127.0.0.1", 0)) as nothing:
        port = nothing.getsockname()[1]
    pool = Connections(conninfo(port), wait=2.0, deadline=5.0)  # nothing listens there now
    try:
        with pytest.raises(DatabaseDownError) as raised, pool.transaction():
            pytest.fail("a connection was given")
        assert unreachable(raised.value) and not pool_busy(raised.value)
    finally:
        pool.close()


def test_a_pool_with_every_connection_in_use_is_busy_not_down() -> None:
    url = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("LEDGER_TEST_POSTGRES_URL is not set: run `make test`")
    parts = urlparse(url)
    pool = Connections(f"host={parts.hostname} port={parts.port} user={parts.username} "
                       f"password={parts.password} dbname={parts.path.lstrip('/')}",
                       wait=1.0, deadline=5.0)
    try:
        with ExitStack() as held:
            for _ in range(10):  # the pool's most
                held.enter_context(pool.transaction()).execute("SELECT 1")
            with pytest.raises(PoolTimeout) as raised, pool.transaction():
                pytest.fail("an eleventh connection was given")
            assert pool_busy(raised.value) and not pool.down()
    finally:
        pool.close()
