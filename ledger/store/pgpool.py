"""The PostgreSQL connections of our own tables' `sql.Database` (read models, API keys, trace
contexts): a psycopg_pool pool that can tell a database that is down from one that is busy,
and, in a serving process, a deadline on every transaction (`watchdog.Watchdog`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ledger.store.watchdog import Watchdog


class DatabaseDownError(Exception):
    """The pool's wait for a connection ran out and its last attempt to connect had failed:
    the database is down, not merely busy (psycopg_pool raises the same PoolTimeout for
    both, and its own counts cannot tell them apart, since it backs off between attempts)."""


class Connections:
    def __init__(self, conninfo: str, *, wait: float, deadline: float | None):
        """`wait`: seconds to wait for a connection; `deadline`: seconds a transaction may
        take before its connection is cut (None: no deadline, for workers)."""
        self._connected_at = self._failed_at = float("-inf")
        watched = self

        class Watched(psycopg.Connection[Any]):
            """Notes when an attempt to connect succeeded or failed, last."""

            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Any:
                try:
                    made = super().connect(*args, **kwargs)
                except Exception:
                    watched._failed_at = time.monotonic()
                    raise
                watched._connected_at = time.monotonic()
                return made

        # A connection attempt gives up within half the wait, so that a failed one is known by
        # then; psycopg takes no connect_timeout under 2 s, so with a serving process's 2 s
        # wait the first wait may end with the attempt, and say busy (`down` errs that way).
        self.pool = ConnectionPool(conninfo + f" connect_timeout={max(2, int(wait / 2))}",
                                   connection_class=Watched, min_size=1, max_size=10, open=True,
                                   timeout=wait)
        self.watchdog = Watchdog(deadline) if deadline is not None else None

    def down(self) -> bool:
        """Whether the last attempt to connect failed."""
        return self._failed_at > self._connected_at

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in a transaction of a pooled connection (committed if the block ends
        well, else rolled back); DatabaseDownError if none could be had from a database that
        is down."""
        try:
            conn = self.pool.getconn()
        except PoolTimeout as exc:
            if self.down():
                raise DatabaseDownError(f"{exc}; the last attempt to connect to the database "
                                        "failed") from exc
            raise
        watching = self.watchdog.watching(conn) if self.watchdog else nullcontext()
        try:
            with conn, watching, conn.transaction(), conn.cursor() as cur:
                yield cur
        finally:
            self.pool.putconn(conn)

    def close(self) -> None:
        self.pool.close()
