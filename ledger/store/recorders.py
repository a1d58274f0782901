"""The eventsourcing library's recorders, extended where the library is designed to be (as its
`searchablecontent` example does): in the same transaction as the facts, our own table
`ledger_facts` gets one index row per fact (see `records.IndexRow`), and every read the ledger
needs beyond one stream is a query of that table joined to the facts by position.

One writer per tenant, by design: `writing(tenants)` opens the write transaction and holds the
tenants' lock until it commits (SQLite: the database's single writer, taken up front with
BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock per tenant, taken in a fixed
order so two batches never deadlock). Whatever a writer reads after taking the lock is the
latest committed state of its tenants, and nobody else can append to them until it commits.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder

from ledger.store.records import IndexRow

FACTS_TABLE = "ledger_facts"
COLUMNS = IndexRow._fields
_CHUNK = 500  # SQLite's limit on bound parameters is far above; it keeps statements few in shape


class TenantBusyError(Exception):
    """The tenant's write lock was not free within the lock timeout."""


class AppendCollidedError(Exception):
    """A unique key refused the append: a write bypassed the tenant lock, or the store is
    corrupt. Nothing was written."""


class Writer(Protocol):
    def insert(self, stored: Sequence[StoredEvent], rows: Sequence[IndexRow]) -> list[int]: ...


def _ddl(table: str, bigint: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (tenant TEXT NOT NULL, sequence {bigint} NOT NULL, "
        f"position {bigint} NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, month TEXT, "
        "customer TEXT, source TEXT NOT NULL, source_event_id TEXT NOT NULL, "
        "PRIMARY KEY (tenant, sequence), UNIQUE (tenant, source_event_id, source))",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_subject ON {table} (tenant, subject, kind, month)",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_customer ON {table} (tenant, customer) "
        "WHERE customer IS NOT NULL",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {FACTS_TABLE}_position ON {table} (position)",
    ]


class _FactIndex:
    """The queries of the index, the same on both backends but for placeholders and lists."""

    facts_table: str
    events_table: str
    position_column: str

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def stored_id(self, stream: UUID) -> str:
        """A stream id as this backend stores it."""
        raise NotImplementedError

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """`column IN values` as (SQL, params), in as many statements as the backend needs."""
        raise NotImplementedError

    def _join(self, where: str) -> str:
        return (f"SELECT f.subject, f.position, e.state FROM {self.facts_table} f JOIN "
                f"{self.events_table} e ON e.{self.position_column} = f.position WHERE {where} "
                "ORDER BY f.sequence")

    def stored_facts(self, tenant: str, kind: str, subjects: Sequence[str] | None = None,
                     months: Sequence[str] | None = None) -> list[tuple[str, int, bytes]]:
        """(subject, position, stored bytes) of a tenant's facts of one kind, in sequence order,
        optionally only of some subjects and usage months."""
        where, params = "f.tenant = ? AND f.kind = ?", [tenant, kind]
        if months is not None:
            if not months:
                return []
            where, params = where + " AND f.month IN (" + ",".join("?" * len(months)) + ")", [
                *params, *months]
        if subjects is None:
            return [(r[0], r[1], bytes(r[2])) for r in self.query(self._join(where), params)]
        found: list[tuple[str, int, bytes]] = []
        for fragment, values in self.any_of("f.subject", list(subjects)):
            found += [(r[0], r[1], bytes(r[2]))
                      for r in self.query(self._join(f"{where} AND {fragment}"), [*params, *values])]
        return found

    def usage_months(self, tenant: str, license_id: str) -> list[str]:
        return [r[0] for r in self.query(
            f"SELECT month FROM {self.facts_table} WHERE tenant = ? AND subject = ? AND kind = 'usage' "
            "GROUP BY month ORDER BY MIN(sequence)", [tenant, license_id])]

    def granted_licenses(self, tenant: str, customer_id: str | None) -> list[str]:
        where, params = "tenant = ? AND customer IS NOT NULL", [tenant]
        if customer_id is not None:
            where, params = "tenant = ? AND customer = ?", [tenant, customer_id]
        rows = self.query(f"SELECT subject FROM {self.facts_table} WHERE {where} ORDER BY sequence",
                          params)
        return list(dict.fromkeys(r[0] for r in rows))

    def positions(self, tenant: str, license_id: str) -> dict[int, int]:
        return {r[0]: r[1] for r in self.query(
            f"SELECT sequence, position FROM {self.facts_table} WHERE tenant = ? AND subject = ? "
            "AND kind <> 'catalog'", [tenant, license_id])}

    def receipts(self, tenant: str, event_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(source, id) of the given ids already accepted for the tenant."""
        found: set[tuple[str, str]] = set()
        for fragment, values in self.any_of("source_event_id", list(event_ids)):
            found |= {(r[0], r[1]) for r in self.query(
                f"SELECT source, source_event_id FROM {self.facts_table} WHERE tenant = ? AND "
                f"{fragment}", [tenant, *values])}
        return found

    def sequence_of(self, tenant: str, source: str, event_id: str) -> int | None:
        rows = self.query(f"SELECT sequence FROM {self.facts_table} WHERE tenant = ? AND "
                          "source_event_id = ? AND source = ?", [tenant, event_id, source])
        return rows[0][0] if rows else None

    def fact_at(self, tenant: str, sequence: int) -> tuple[int, bytes] | None:
        rows = self.query(self._join("f.tenant = ? AND f.sequence = ?"), [tenant, sequence])
        return (rows[0][1], bytes(rows[0][2])) if rows else None

    def stream_lengths(self) -> dict[str, int]:
        """Facts per stream id exactly as stored (a stream id the library would not find again,
        e.g. in other letter case, is its own stream here)."""
        return {str(r[0]): r[1] for r in self.query(
            f"SELECT originator_id, COUNT(*) FROM {self.events_table} GROUP BY originator_id")}

    def index_rows(self, after: int = 0, limit: int = 1000) -> list[IndexRow]:
        """Index rows in ledger order, for `ledger verify`."""
        return [IndexRow(*r) for r in self.query(
            f"SELECT {', '.join(COLUMNS)} FROM {self.facts_table} WHERE position > ? "
            "ORDER BY position LIMIT ?", [after, limit])]


class SQLiteLedgerRecorder(SQLiteProcessRecorder, _FactIndex):
    position_column = "rowid"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.facts_table = FACTS_TABLE
        self.events_table = self.events_table_name
        self.insert_index_statement = (f"INSERT INTO {FACTS_TABLE} ({', '.join(COLUMNS)}) "
                                       f"VALUES ({','.join('?' * len(COLUMNS))})")

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *_ddl(FACTS_TABLE, "INTEGER")]

    def stored_id(self, stream: UUID) -> str:
        return stream.hex

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, list(params))
            return [tuple(r) for r in c.fetchall()]

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        for i in range(0, len(values), _CHUNK):
            chunk = list(values[i:i + _CHUNK])
            yield f"{column} IN ({','.join('?' * len(chunk))})", chunk

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, then the facts' index rows with the positions it gave."""
        positions = super()._insert_events(c, stored_events, **kwargs)
        rows: Sequence[IndexRow] = kwargs.get("index_rows", ())
        if rows and positions:
            c.executemany(self.insert_index_statement,
                          [r._replace(position=p) for r, p in zip(rows, positions, strict=True)])
        return positions

    @contextmanager
    def writing(self, tenants: Sequence[str]) -> Iterator[Writer]:
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise TenantBusyError(f"the database stayed locked by another writer: {exc}") from None
            try:
                yield _SQLiteWriter(self, cursor)
                conn.commit()
            except sqlite3.IntegrityError as exc:
                conn.rollback()
                raise AppendCollidedError(str(exc)) from None
            except BaseException:
                conn.rollback()
                raise


class _SQLiteWriter:
    def __init__(self, recorder: SQLiteLedgerRecorder, cursor: Any):
        self.recorder, self.cursor = recorder, cursor

    def insert(self, stored: Sequence[StoredEvent], rows: Sequence[IndexRow]) -> list[int]:
        try:
            return list(self.recorder._insert_events(self.cursor, stored, index_rows=rows) or [])
        except sqlite3.IntegrityError as exc:
            raise AppendCollidedError(str(exc)) from None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lock_key(tenant: str) -> int:
    """A tenant's advisory lock: 64 bits of its name's hash (a clash only serialises two tenants)."""
    return int.from_bytes(hashlib.sha256(b"ledger-tenant:" + tenant.encode()).digest()[:8], "big",
                          signed=True)


class PostgresLedgerRecorder(PostgresProcessRecorder, _FactIndex):
    position_column = "notification_id"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        super().__init__(datastore, events_table_name=events_table_name,
                         tracking_table_name=tracking_table_name)
        from psycopg.sql import SQL

        schema = _quoted(self.datastore.schema)
        self.facts_table = f"{schema}.{FACTS_TABLE}"
        self.events_table = f"{schema}.{_quoted(self.events_table_name)}"
        self.sql_create_statements += [SQL(s).format() for s in _ddl(self.facts_table, "BIGINT")]
        types = ["text", "bigint", "bigint", "text", "text", "text", "text", "text", "text"]
        # One statement of a fixed shape whatever the batch size: prepared once per connection.
        self.insert_index_statement = (
            f"INSERT INTO {self.facts_table} ({', '.join(COLUMNS)}) SELECT * FROM unnest("
            + ", ".join(f"%s::{t}[]" for t in types) + ")")

    def stored_id(self, stream: UUID) -> str:
        return str(stream)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement.replace("?", "%s"), list(params), prepare=True)
            return [tuple(r.values()) for r in curs.fetchall()]

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        yield f"{column} = ANY(?)", [list(values)]

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        """After the library's insert: the facts' index rows, with the positions it returned."""
        positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        rows: Sequence[IndexRow] = kwargs.get("index_rows", ())
        if rows and positions:
            placed = [r._replace(position=p) for r, p in zip(rows, positions, strict=True)]
            curs.execute(self.insert_index_statement, [list(c) for c in zip(*placed, strict=True)],
                         prepare=True)
        return positions

    @contextmanager
    def writing(self, tenants: Sequence[str]) -> Iterator[Writer]:
        import psycopg

        try:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout or 30}s'")
                for key in sorted({lock_key(t) for t in tenants}):
                    curs.execute("SELECT pg_advisory_xact_lock(%s)", (key,), prepare=True)
                yield _PostgresWriter(self, curs)
        except psycopg.errors.LockNotAvailable as exc:
            raise TenantBusyError(f"a tenant's write lock stayed taken: {exc}") from None
        except psycopg.errors.UniqueViolation as exc:
            raise AppendCollidedError(str(exc)) from None


class _PostgresWriter:
    def __init__(self, recorder: PostgresLedgerRecorder, curs: Any):
        self.recorder, self.curs = recorder, curs

    def insert(self, stored: Sequence[StoredEvent], rows: Sequence[IndexRow]) -> list[int]:
        """The library's own steps of `insert_events` (its table lock keeps the notification
        order free of gaps a follower could skip), inside our locked transaction."""
        import psycopg

        try:
            self.recorder._insert_events(self.curs, stored)
            self.recorder._insert_stored_events(self.curs, stored)
            return list(self.recorder._fetch_ids_after_insert_events(
                self.curs, stored, index_rows=rows) or [])
        except psycopg.errors.UniqueViolation as exc:
            raise AppendCollidedError(str(exc)) from None
