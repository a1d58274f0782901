"""The eventsourcing library's recorders, extended where the library is designed to be (as its
`searchablecontent` example does): in the same transaction as the facts, our own table
`ledger_facts` gets one index row per fact (`factindex.py` holds its queries, `factstable.py` its
shape).

One writer per tenant, by design: `writing(tenants)` opens the write transaction and holds the
tenants' lock until it commits (SQLite: the database's single writer, taken up front with
BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock per tenant, taken in a fixed
order so two batches never deadlock). Whatever a writer reads after taking the lock is the
latest committed state of its tenants, and nobody else can append to them until it commits.
This module holds what both share and the SQLite recorder; `pgrecorder.py` the PostgreSQL one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol
from uuid import UUID

import structlog
from eventsourcing.persistence import ConnectionUnavailableError, StoredEvent
from eventsourcing.sqlite import SQLiteProcessRecorder

from ledger.domain.facts import Fact
from ledger.store.factindex import CHUNK, FactIndex
from ledger.store.factstable import COLUMNS, FACTS_TABLE, ddl
from ledger.store.records import index_values
from ledger.store.sqliteinsert import insert_facts
from ledger.store.treeindex import NODES, TreeIndex, tree_ddl

log = structlog.get_logger()


class TenantBusyError(Exception):
    """The tenant's write lock was not free within the lock timeout."""


class AppendCollidedError(Exception):
    """A unique key refused the append: a write bypassed the tenant lock, or the store is
    corrupt. Nothing was written."""


# The library pool's words when another writer (or the thread ahead of this one in its
# queue) of the same process kept the database's writer slot past the pool's timeout. Its
# other ConnectionUnavailableError, every connection in use (by readers) past the wait, is
# the process's pool used up, answered as the read models' is (unavailable, to retry); the
# writer slot the ask had taken is given back (`sqlitepool`, which the library's pool did not).
WAITED_FOR_ANOTHER_WRITER = ("Timed out waiting for return of writer",
                             "Timed out waiting for connection pool semaphore")

Leaf = tuple[str, int, str, str]  # (tenant, sequence, event hash, previous hash): a new leaf


class Writer(Protocol):
    def insert(self, stored: Sequence[StoredEvent], facts: Sequence[Fact]) -> list[int]:
        """Record `stored`, the stored records of `facts` (chained: sequence, hash and previous
        hash set), with each fact's index row and the tenants' new tree leaves; the positions."""
        ...


def leaves_of(facts: Sequence[Fact]) -> list[Leaf]:
    return [(f.tenant, f.sequence, f.hash, f.prev_hash) for f in facts]


class SQLiteLedgerRecorder(SQLiteProcessRecorder, FactIndex, TreeIndex):
    position_column = "rowid"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.facts_table = FACTS_TABLE
        self.events_table = self.events_table_name
        self.nodes_table = NODES
        self._writing = threading.local()
        self._trees = {}
        self.insert_index_statement = (f"INSERT INTO {FACTS_TABLE} ({', '.join(COLUMNS)}) "
                                       f"VALUES ({','.join('?' * len(COLUMNS))})")

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *ddl(FACTS_TABLE, "INTEGER"),
                *tree_ddl("", postgres=False)]

    def create_table(self) -> None:
        super().create_table()
        self.migrate(self.writing)
        self.drop_unstored_levels(self.writing)

    def columns(self) -> set[str]:
        return {str(r[1]) for r in self.query(f"PRAGMA table_info({FACTS_TABLE})")}

    def _update(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows == [()]:
            self._writing.cursor.execute(statement)
        else:
            self._writing.cursor.executemany(statement, rows)

    def _insert_nodes(self, tenant: str, nodes: list[tuple[int, int, bytes]]) -> None:
        self._update(f"INSERT INTO {NODES} (tenant, level, idx, hash) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT DO NOTHING", [(tenant, *node) for node in nodes])

    def stored_id(self, stream: UUID) -> str:
        return stream.hex

    def stream_param(self, stream: UUID) -> Any:
        return stream.hex

    def _reading(self) -> Any:
        return self._transaction(commit=False)

    def _transaction(self, *, commit: bool) -> Any:
        """A transaction of our own on the store (PostgreSQL's adds what a server needs:
        `pgrecorder.PostgresLedgerRecorder._transaction`)."""
        return self.datastore.transaction(commit=commit)

    def _fetch(self, cursor: Any, statement: str, params: Sequence[Any],
               prepared: bool = True, binary: bool = False) -> list[tuple[Any, ...]]:
        cursor.execute(statement, list(params))
        return [tuple(r) for r in cursor.fetchall()]

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        for i in range(0, len(values), CHUNK):
            chunk = list(values[i:i + CHUNK])
            yield f"{column} IN ({','.join('?' * len(chunk))})", chunk

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        """The facts, then their index rows with the positions they got (built with them, as
        plain tuples: no second tuple per row), then the tenants' trees."""
        facts: Sequence[Fact] = kwargs.get("facts", ())
        if not facts or kwargs.get("tracking") is not None:  # not a ledger write: the library's
            return super()._insert_events(c, stored_events, **kwargs)
        positions = insert_facts(c, self.events_table_name, self.insert_events_statement,
                                 stored_events)
        c.executemany(self.insert_index_statement, index_values(facts, positions))
        self.extend_trees(leaves_of(facts))
        return positions

    @contextmanager
    def writing(self, tenants: Sequence[str]) -> Iterator[Writer]:
        with ExitStack() as stack:
            try:  # the library's in-process writer slot first (its pool waits 5 s for it)
                conn = stack.enter_context(self.datastore.get_connection(commit=True))
            except ConnectionUnavailableError as exc:
                if not str(exc).startswith(WAITED_FOR_ANOTHER_WRITER):
                    raise  # the pool exhausted, or broken: not contention, and not to wait out
                raise TenantBusyError(f"another writer of this process held the database: {exc}"
                                      ) from None
            cursor = conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise TenantBusyError(f"the database stayed locked by another writer: {exc}") from None
            self.trees_begun()
            try:
                with self._bound(cursor):
                    yield _SQLiteWriter(self, cursor)
                conn.commit()
                self.trees_committed()
            except sqlite3.IntegrityError as exc:
                conn.rollback()
                raise AppendCollidedError(str(exc)) from None
            except BaseException:
                conn.rollback()
                raise


class _SQLiteWriter:
    def __init__(self, recorder: SQLiteLedgerRecorder, cursor: Any):
        self.recorder, self.cursor = recorder, cursor

    def insert(self, stored: Sequence[StoredEvent], facts: Sequence[Fact]) -> list[int]:
        try:
            return list(self.recorder._insert_events(self.cursor, stored, facts=facts) or [])
        except sqlite3.IntegrityError as exc:
            raise AppendCollidedError(str(exc)) from None
