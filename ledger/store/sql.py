"""A small SQL database handle for our own tables (read models, API keys) on SQLite or
PostgreSQL. Statements are written with `?` placeholders; PostgreSQL gets `%s`."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

from ledger.store.database import library_settings
from ledger.store.restarts import begun

_DDL_LOCK = 7_342_001  # any constant of our own
SERVE_WAIT = 2.0  # seconds a serving process waits for a read connection (see `Database`)
# Seconds a serving process's transaction may take before its connection is cut
# (`watchdog.Watchdog`): a read database that hangs then fails as a stopped one does.
SERVE_DEADLINE = 5.0
_INDEX = re.compile(r"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+(\w+)\s", re.I)


def unreachable(exc: BaseException) -> bool:
    """Whether an error says the database cannot be used (the driver's own errors, or the
    network's), as opposed to something about one request. A pool with every connection
    busy counts too: this process cannot read it now."""
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in (
            "sqlite3", "psycopg", "psycopg_pool"):
        return True
    from ledger.store.pgpool import DatabaseDownError  # not at start-up: it imports psycopg

    return isinstance(exc, DatabaseDownError)


def unavailable(exc: BaseException) -> bool:
    """Whether a PostgreSQL error of our own tables says the database cannot serve this
    process now, to be retried shortly: down (`DatabaseDownError`), its connection dropped,
    or every connection of the pool busy; not a mistake in a statement."""
    from ledger.store.pgpool import DatabaseDownError

    if isinstance(exc, DatabaseDownError):
        return True
    import psycopg

    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def pool_busy(exc: BaseException) -> bool:
    """Whether an error says only that every connection of this process's pool is busy: the
    database itself can be read and written, by others too."""
    from psycopg_pool import PoolTimeout

    return isinstance(exc, PoolTimeout)


class Database:
    """One connection per thread for SQLite (WAL), a pool for PostgreSQL."""

    def __init__(self, url: str, *, wait: float = 30.0):
        """`wait`: how long a PostgreSQL reader or writer waits for a connection (the pool's
        own default, 30 s, for workers); a serving process passes a short one (`SERVE_WAIT`)
        so that with its database stopped a request fails, or is answered from memory, in
        seconds, not after 30 s per read."""
        self.url = url
        self.settings = library_settings(url)
        self.postgres = self.settings["PERSISTENCE_MODULE"].endswith("postgres")
        self.schema = parse_qs(urlparse(url).query).get("schema", [None])[0]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._pool: Any = None
        if self.postgres:
            from ledger.store.database import ensure_schema
            from ledger.store.pgpool import Connections

            ensure_schema(url)
            s = self.settings
            conninfo = (f"host={s['POSTGRES_HOST']} port={s['POSTGRES_PORT']} "
                        f"user={s['POSTGRES_USER']} password={s['POSTGRES_PASSWORD']} "
                        f"dbname={s['POSTGRES_DBNAME']}")
            options = f" options=-csearch_path={self.schema}" if self.schema else ""
            # A serving process (its short wait) also gives each transaction a deadline. Its
            # embedded follower writes through a Database of its own, with the workers' wait
            # and no deadline (`cli.serve`): a projection may wait on another writer's locks.
            self._pool = Connections(conninfo + options, wait=wait,
                                     deadline=SERVE_DEADLINE if wait <= SERVE_WAIT else None)

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.settings["SQLITE_DBNAME"], timeout=30,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A read-only snapshot: on SQLite it does not take the write lock, so readers never
        queue behind a projection's writes."""
        if self.postgres:
            with self._begun() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                yield Cursor(cur, postgres=True)
            return
        conn = self._sqlite()
        conn.execute("BEGIN DEFERRED")
        try:
            yield Cursor(conn.cursor(), postgres=False)
        finally:
            conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """Everything done through the cursor commits together, or not at all."""
        if self.postgres:
            with self._begun() as cur:
                yield Cursor(cur, postgres=True)
            return
        conn = self._sqlite()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Cursor(conn.cursor(), postgres=False)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _begun(self) -> AbstractContextManager[Any]:
        """A PostgreSQL transaction's cursor, begun past the pooled connections a database
        restart broke (`restarts.begun`)."""
        import psycopg

        return begun(self._pool.transaction, (psycopg.OperationalError, psycopg.InterfaceError))

    def create_tables(self, statements: Sequence[str]) -> None:
        """Run CREATE ... IF NOT EXISTS statements. PostgreSQL lets those collide when several
        processes start together on an empty database, so there each takes one advisory lock,
        and each commits on its own: even on a table that exists, CREATE INDEX IF NOT EXISTS
        takes the table's ShareLock first, and one transaction holding one table's lock while
        it waited for another's deadlocked with a running projector writing the two in the
        other order (PostgreSQL aborted the starting worker). An index that exists is not
        asked for at all (no lock, no wait for the table's writers). The statements are each
        idempotent, so a start cut short between two is completed by the next."""
        if not self.postgres:
            with self.transaction() as cur:
                for statement in statements:
                    cur.execute(statement)
            return
        for statement in statements:
            with self.transaction() as cur:
                cur.execute(f"SELECT pg_advisory_xact_lock({_DDL_LOCK})")
                index = _INDEX.match(statement)
                if index and cur.execute("SELECT to_regclass(?)", [index[1]]).fetchone() != (None,):
                    continue
                cur.execute(statement)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


class Cursor:
    def __init__(self, cursor: Any, *, postgres: bool):
        self._cursor = cursor
        self._postgres = postgres

    def execute(self, statement: str, params: Sequence[Any] = (), *, prepare: bool = False) -> Cursor:
        """`prepare`: on PostgreSQL, prepare the statement at once (it is run again and again)."""
        if self._postgres:
            self._cursor.execute(statement.replace("?", "%s"), tuple(params),
                                 prepare=True if prepare else None)
            return self
        self._cursor.execute(statement, tuple(params))
        return self

    @property
    def postgres(self) -> bool:
        return self._postgres

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cursor.fetchall()]

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)
