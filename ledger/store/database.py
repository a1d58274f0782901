"""From a database URL to the eventsourcing library's infrastructure factory settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.persistence import InfrastructureFactory, ProcessRecorder
from eventsourcing.utils import Environment


class DatabaseUrlError(ValueError):
    pass


def library_settings(url: str) -> dict[str, str]:
    """`sqlite:///PATH` or `postgresql://user:pass@host:port/db[?schema=S]` -> PERSISTENCE_MODULE etc."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path:
            raise DatabaseUrlError(f"{url!r}: give a file, e.g. sqlite:///ledger.db")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "PROCESS_RECORDER_TOPIC": "ledger.store.recorders:SQLiteLedgerRecorder"}
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        settings = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "ledger",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "ledger"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "PROCESS_RECORDER_TOPIC": "ledger.store.pgrecorder:PostgresLedgerRecorder",
        }
        if "schema" in query:
            settings["POSTGRES_SCHEMA"] = query["schema"][0]
        return settings
    raise DatabaseUrlError(f"{url!r}: LEDGER_DATABASE_URL must start with sqlite:/// or postgresql://")


def connect(url: str) -> Any:
    """A plain autocommit psycopg connection to the database of a postgresql:// URL."""
    import psycopg

    settings = library_settings(url)
    return psycopg.connect(host=settings["POSTGRES_HOST"], port=settings["POSTGRES_PORT"],
                           user=settings["POSTGRES_USER"], password=settings["POSTGRES_PASSWORD"],
                           dbname=settings["POSTGRES_DBNAME"], autocommit=True)


def ensure_schema(url: str) -> None:
    """The library does not create a PostgreSQL schema; a `?schema=` of ours must exist first.
    Serialised with the tables' creation (`CREATE_LOCK`): two CREATE SCHEMA IF NOT EXISTS at
    once collide on pg_namespace's unique index, and the worker that lost exited."""
    schema = library_settings(url).get("POSTGRES_SCHEMA")
    if not schema:
        return
    from psycopg import sql

    with connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK,))
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (CREATE_LOCK,))


# Seconds a serving process waits for a connection to the event store's PostgreSQL (the
# library's pool waits 30 s, which workers keep): with the database stopped, a request is
# answered 503 and /healthz says degraded within seconds, not after 30 s per read.
SERVE_STORE_WAIT = 5
# Seconds a serving process's transaction on the event store may take before its connection is
# cut (`watchdog.Watchdog`): a database that hangs then fails as a stopped one does, 503
# `event_store_unavailable`. Past the three lock waits of 10 s (POSTGRES_LOCK_TIMEOUT, each
# answered 503 `busy` itself) a healthy write may make one after another: the tenant's lock,
# the events table's, the notification lock at COMMIT.
SERVE_STORE_DEADLINE = 45


def infrastructure(url: str, wait: int | None = None) -> InfrastructureFactory:
    """The library's factory for `url`; `wait`: seconds to wait for a PostgreSQL connection
    from the pool (None: the library's 30). On SQLite, the library's factory with a pool that
    gives its writer slot back when a connection could not be had (`sqlitepool`)."""
    ensure_schema(url)
    settings = library_settings(url)
    if wait is not None and settings["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        settings["POSTGRES_CONNECT_TIMEOUT"] = str(wait)  # the pool's wait, despite its name
    if settings["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        settings["PERSISTENCE_MODULE"] = "ledger.store.sqlitepool:LedgerSQLiteFactory"
    return InfrastructureFactory.construct(Environment(env=settings))


# The advisory lock of table creation: `process_recorder` holds it while a starting process
# creates or migrates the tables; `ANALYZE` (`pgrecorder`) runs only if it gets it, first.
# A worker starting while another analysed once deadlocked on two tables' locks taken in
# opposite orders (its CREATE INDEX IF NOT EXISTS, ANALYZE's ShareUpdateExclusiveLock), and
# PostgreSQL aborted the starting worker's DDL: the worker exited.
CREATE_LOCK = 7_342_000


def process_recorder(factory: InfrastructureFactory, url: str) -> ProcessRecorder:
    """The library creates its tables with CREATE ... IF NOT EXISTS, which PostgreSQL lets
    collide when several workers start at once on an empty database: serialise it (and with
    `ANALYZE`, which runs only holding the same lock)."""
    if "POSTGRES_HOST" not in library_settings(url):
        return factory.process_recorder()
    with connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK,))
        try:
            return factory.process_recorder()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (CREATE_LOCK,))
