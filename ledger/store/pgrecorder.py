"""The PostgreSQL recorder: the library's `PostgresProcessRecorder` with our index rows and
trees written in the same transaction (`recorders.py` says how a writer works), the tenants'
advisory locks, the library's insert as one prepared statement of parallel arrays, and the
early statistics of a fresh store.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder

from ledger.domain.facts import Fact
from ledger.store.database import CREATE_LOCK
from ledger.store.factindex import FactIndex
from ledger.store.factstable import ARRAY_TYPES, COLUMNS, FACTS_TABLE, ddl
from ledger.store.pgtree import PostgresTreeIndex
from ledger.store.recorders import AppendCollidedError, TenantBusyError, Writer, leaves_of
from ledger.store.records import index_values
from ledger.store.restarts import begun
from ledger.store.treeindex import NODES, tree_ddl
from ledger.store.watchdog import Watchdog

log = structlog.get_logger()
# what a connection a database restart broke raises on its first use (`restarts.begun`)
_BROKEN = (InterfaceError, OperationalError)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lock_key(tenant: str) -> int:
    """A tenant's advisory lock: 64 bits of its name's hash (a clash only serialises two tenants)."""
    return int.from_bytes(hashlib.sha256(b"ledger-tenant:" + tenant.encode()).digest()[:8], "big",
                          signed=True)


# Store sizes (positions) at which the writer whose committed batch holds that position has
# PostgreSQL take statistics of the ledger's tables at once (`ANALYZE`), rather than waiting
# for autovacuum (a size that fell in a rolled-back batch's gap of the sequence is left to
# it). A table never analysed is planned from guesses: the batch's receipt lookup
# (`tenant = ? AND source_event_id = ANY(?)`) was then planned as a scan of all the tenant's
# rows through the subject index (16 ms at 50,000 rows and growing, against 1.5 ms through the
# receipts index), and autovacuum, busy elsewhere, could leave a fresh store so for minutes
# (docs/benchmarks.md, the second quiet re-run). Once the planner has seen how few tenants
# there are, the plan holds as the table grows; later statistics are autovacuum's.
STATISTICS_AT = (1_000, 10_000, 100_000)


class PostgresLedgerRecorder(PostgresProcessRecorder, FactIndex, PostgresTreeIndex):
    position_column = "notification_id"
    stored_stream_text = "e.originator_id::text"
    statistics_at = STATISTICS_AT

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        super().__init__(datastore, events_table_name=events_table_name,
                         tracking_table_name=tracking_table_name)
        from psycopg.sql import SQL

        schema = _quoted(self.datastore.schema)
        self.facts_table = f"{schema}.{FACTS_TABLE}"
        self.events_table = f"{schema}.{_quoted(self.events_table_name)}"
        self.nodes_table = f"{schema}.{NODES}"
        self._writing = threading.local()
        self._trees = {}
        self._crossed = False  # this process's last commit took the store past a size to analyse at
        self.watchdog: Watchdog | None = None  # a serving process's deadline (`bootstrap`)
        self.sql_create_statements += [SQL(s).format() for s in [
            *ddl(self.facts_table, "BIGINT"), *tree_ddl(f"{schema}.", postgres=True)]]
        self.insert_facts_statement = (
            f"INSERT INTO {self.events_table} (originator_id, originator_version, topic, state) "
            f"SELECT * FROM unnest(%b::{self.datastore.originator_id_type}[], %b::bigint[], "
            "%b::text[], %b::bytea[]) RETURNING notification_id")
        # One statement of a fixed shape whatever the batch size: prepared once per connection.
        # Both inserts take their arrays in binary (`%b`): psycopg dumps a text-format array
        # element by element in Python, with a regular expression for quoting and one for
        # escaping each (~5x the time of the binary dump for 500 facts, bytea the worst).
        self.insert_index_statement = (
            f"INSERT INTO {self.facts_table} ({', '.join(COLUMNS)}) SELECT * FROM unnest("
            + ", ".join(f"%b::{t}[]" for t in ARRAY_TYPES) + ")")

    def create_table(self) -> None:
        super().create_table()
        self.migrate(self.writing)
        self.drop_unstored_levels(self.writing)

    def columns(self) -> set[str]:
        return {str(r[0]) for r in self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND "
            "table_name = ?", [self.datastore.schema, FACTS_TABLE])}

    def _update(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self._writing.cursor.executemany(statement.replace("?", "%s"), rows)

    def _insert_nodes(self, tenant: str, nodes: list[tuple[int, int, bytes]]) -> None:
        """One statement over arrays whatever the count (no per-row placeholders to parse)."""
        self._writing.cursor.execute(
            f"INSERT INTO {self.nodes_table} (tenant, level, idx, hash) SELECT %s, * FROM "
            "unnest(%s::int[], %s::bigint[], %s::bytea[]) ON CONFLICT DO NOTHING",
            [tenant, [n[0] for n in nodes], [n[1] for n in nodes], [n[2] for n in nodes]],
            prepare=True)

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        """The library's steps in its order, the table lock first (it keeps the notification
        order the commit order, so a follower never passes a gap that fills in later), then
        NOTIFY and the insert; the rows go as four parallel arrays of one prepared statement
        instead of an array of composite values the library builds and dumps row by row."""
        self._lock_table(curs)
        self._notify_channel(curs)
        rows = [(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events]
        columns: list[list[Any]] = [[row[n] for row in rows] for n in range(4)]
        curs.execute(self.insert_facts_statement, columns, prepare=True)

    def stored_id(self, stream: UUID) -> str:
        return str(stream)

    def stream_param(self, stream: UUID) -> Any:
        return stream

    def _reading(self) -> Any:
        return self._transaction(commit=False)

    def _transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        """The library's `datastore.transaction`, begun past connections a restart broke
        (`restarts.begun`), and cut at a serving process's deadline (`watchdog`, set by
        `bootstrap`): a database that hangs fails nothing by itself."""
        watchdog = self.watchdog

        @contextmanager
        def transaction() -> Iterator[Any]:
            with self.datastore.get_connection() as conn:
                watching = watchdog.watching(conn) if watchdog is not None else nullcontext()
                with watching, conn.transaction(force_rollback=not commit):
                    yield conn.cursor()

        return begun(transaction, _BROKEN)

    def _fetch(self, cursor: Any, statement: str, params: Sequence[Any],
               prepared: bool = True, binary: bool = False) -> list[tuple[Any, ...]]:
        """Rows as tuples straight from psycopg's tuple maker (the library's connections make
        dicts: a dict and then a tuple of its values per row, for nothing)."""
        from psycopg.rows import tuple_row

        cursor.execute(statement.replace("?", "%s"), list(params), prepare=prepared,
                       binary=binary)
        made = cursor.row_factory
        cursor.row_factory = tuple_row
        try:
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        finally:
            cursor.row_factory = made
        return rows

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        yield f"{column} = ANY(?)", [list(values)]

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        """After the library's insert: the facts' index rows, with the positions it returned,
        then the tenants' trees."""
        positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        facts: Sequence[Fact] = kwargs.get("facts", ())
        if facts and positions:
            columns = [list(c) for c in zip(*index_values(facts, positions), strict=True)]
            curs.execute(self.insert_index_statement, columns, prepare=True)
            self._crossed = self._crossed or any(
                min(positions) <= size <= max(positions) for size in self.statistics_at)
            self.extend_trees(leaves_of(facts))
        return positions

    def _analyse_if_grown(self) -> None:
        """After a commit that took the store past one of `statistics_at`: see STATISTICS_AT.
        `ANALYZE` samples the tables (a few hundred milliseconds at most at these sizes) and
        takes no lock that blocks writers or readers. It runs only if it gets the table
        creation's advisory lock (`database.CREATE_LOCK`) at once, before any table lock, so
        it never meets a starting process's DDL in the opposite lock order; if a start holds
        the lock (another process's, or this one's on another connection), nothing waits: the
        next commit tries again."""
        if not self._crossed:
            return
        try:
            with self._transaction(commit=True) as curs:
                row = curs.execute("SELECT pg_try_advisory_xact_lock(%s) AS got",
                                   (CREATE_LOCK,)).fetchone()
                if row is None or not (row["got"] if isinstance(row, dict) else row[0]):
                    return  # tables being created: analysed after a later commit
                self._crossed = False
                curs.execute(f"ANALYZE {self.facts_table}, {self.events_table}")
        except Exception as exc:  # noqa: BLE001 - the batch has committed: never fail it now
            self._crossed = False
            log.warning("store.statistics_failed", error=str(exc),
                        hint="autovacuum will analyse the tables in its own time")
            return
        log.info("store.statistics_taken", tables=[self.facts_table, self.events_table])

    @contextmanager
    def writing(self, tenants: Sequence[str]) -> Iterator[Writer]:
        import psycopg

        self.trees_begun()
        try:
            with self._transaction(commit=True) as curs:
                try:
                    curs.execute(f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout or 30}s'")
                    for key in sorted({lock_key(t) for t in tenants}):
                        curs.execute("SELECT pg_advisory_xact_lock(%s)", (key,), prepare=True)
                    with self._bound(curs):
                        yield _PostgresWriter(self, curs)
                except psycopg.errors.UniqueViolation as exc:
                    raise AppendCollidedError(str(exc)) from None
        except OperationalError as exc:
            # The datastore turns a psycopg error that leaves its block, the COMMIT's included,
            # into the library's own OperationalError (caught inside the block, a lock timeout
            # at COMMIT was missed and stopped `ledger consume`). Whichever lock outlasted the
            # timeout (a tenant's, the events table's, or at COMMIT the database's notification
            # lock, held by another committer whose own commit stalled), the transaction rolled
            # back and nothing was recorded: contention, to be waited out.
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise TenantBusyError("a write lock stayed taken past the lock timeout (a "
                                      "tenant's, the events table's, or the notification lock "
                                      f"at COMMIT): {exc}") from None
            raise
        self.trees_committed()  # after the transaction's block: it has committed
        self._analyse_if_grown()


class _PostgresWriter:
    def __init__(self, recorder: PostgresLedgerRecorder, curs: Any):
        self.recorder, self.curs = recorder, curs

    def insert(self, stored: Sequence[StoredEvent], facts: Sequence[Fact]) -> list[int]:
        """The library's own steps of `insert_events` (its table lock keeps the notification
        order free of gaps a follower could skip), inside our locked transaction."""
        import psycopg

        try:
            self.recorder._insert_events(self.curs, stored)
            self.recorder._insert_stored_events(self.curs, stored)
            return list(self.recorder._fetch_ids_after_insert_events(
                self.curs, stored, facts=facts) or [])
        except psycopg.errors.UniqueViolation as exc:
            raise AppendCollidedError(str(exc)) from None
