"""Our index of the facts, `ledger_facts`: one row per fact (`records.IndexRow`), written in
the transaction that records the fact, and the queries every read beyond one stream is made of
(each one query of the table joined to the facts by position). The recorder subclasses in
`recorders.py` and `pgrecorder.py` bring the connection and the dialect; while a writer holds a
tenant's lock, its reads run in its own transaction (so they see exactly what it will build
on, and a writer never needs a second connection from the pool). The table's shape and its
migration are `factstable.py`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

from ledger.store.factstable import COLUMNS, SPARSE_KINDS, FactsTable
from ledger.store.records import LIFECYCLE, IndexRow

CHUNK = 500  # values per IN list on SQLite: few statement shapes, far below its limits


class FactIndex(FactsTable):
    """The queries of the index, the same on both backends but for placeholders and lists."""

    # a record's stream id as the text it is stored as (PostgreSQL: its uuid's text, cheaper
    # to read and compare than a UUID object per row)
    stored_stream_text = "e.originator_id"

    _writing: threading.local

    def query(self, statement: str, params: Sequence[Any] = (), *,
              prepared: bool = True, binary: bool = False) -> list[tuple[Any, ...]]:
        """Rows of a read: in the writer's transaction while this thread holds a write lock.
        `prepared=False` for a one-off statement (PostgreSQL prepares the others);
        `binary=True` asks PostgreSQL for binary results (the same values, no hex to decode
        for bytea: verify's read of every record)."""
        cursor = getattr(self._writing, "cursor", None)
        if cursor is not None:
            return self._fetch(cursor, statement, params, prepared, binary)
        with self._reading() as cursor:
            return self._fetch(cursor, statement, params, prepared, binary)

    @contextmanager
    def _bound(self, cursor: Any) -> Iterator[None]:
        self._writing.cursor = cursor
        try:
            yield
        finally:
            self._writing.cursor = None

    def _reading(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _fetch(self, cursor: Any, statement: str, params: Sequence[Any],
               prepared: bool = True, binary: bool = False) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def stream_param(self, stream: UUID) -> Any:
        """A stream id as a query parameter of this backend."""
        raise NotImplementedError

    def newest(self, stream: UUID) -> tuple[int, bytes] | None:
        """(version, stored bytes) of the newest record of a stream (a tenant's chain head)."""
        rows = self.query(f"SELECT originator_version, state FROM {self.events_table} WHERE "
                          "originator_id = ? ORDER BY originator_version DESC LIMIT 1",
                          [self.stream_param(stream)])
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def licenses_changed_since(self, stream: UUID, tenant: str, head: tuple[int, bytes]
                               ) -> set[str] | None:
        """The licenses with lifecycle facts recorded after `head` (a record of the tenant's
        chain as read before: version, stored bytes), or None if that record is no longer
        what it was (the chain did not grow from it). Two statements, nothing decoded: the
        kept record, then our index. What a writer needs to keep its licenses across
        another's append; the kind is the one `stored_facts` reads licenses by."""
        version, state = head
        rows = self.query(f"SELECT state FROM {self.events_table} WHERE originator_id = ? AND "
                          "originator_version = ?", [self.stream_param(stream), version])
        if not rows or bytes(rows[0][0]) != state:
            return None
        return {r[0] for r in self.query(
            f"SELECT DISTINCT subject FROM {self.facts_table} WHERE tenant = ? AND sequence > ? "
            f"AND kind = '{LIFECYCLE}'", [tenant, version])}

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
        if kind in SPARSE_KINDS:
            where, params = f"f.tenant = ? AND f.kind = '{kind}'", [tenant]
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

    def newest_sequence(self, tenant: str, kind: str) -> int | None:
        """The sequence of the tenant's newest fact of a sparse kind (catalogs, governance),
        None without one: one look-up in the kind's partial index."""
        assert kind in SPARSE_KINDS, kind  # the literal kind is what picks its partial index
        rows = self.query(f"SELECT MAX(sequence) FROM {self.facts_table} WHERE tenant = ? "
                          f"AND kind = '{kind}'", [tenant])
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def usage_total(self, tenant: str, license_id: str, feature: str, since: int,
                    until: int, known_at: int, before: tuple[int, int] | None,
                    month: str | None) -> int:
        """The sum of the quantities of a license's usage of `feature` recorded by `known_at`
        with `since <= effective_at <= until` and, with `before`, (effective_at, sequence) <
        `before`: what `CountedUsage.used` adds up, from the usage columns, no record decoded.
        `month`, when the whole window lies in one usage month, lets the index narrow the rows."""
        where = ("tenant = ? AND subject = ? AND kind = 'usage' AND feature = ? AND "
                 "recorded_at <= ? AND effective_at >= ? AND effective_at <= ?")
        params: list[Any] = [tenant, license_id, feature, known_at, since, until]
        if month is not None:
            where, params = where + " AND month = ?", [*params, month]
        if before is not None:
            where += " AND (effective_at < ? OR (effective_at = ? AND sequence < ?))"
            params += [before[0], before[0], before[1]]
        rows = self.query(f"SELECT SUM(quantity) FROM {self.facts_table} WHERE {where}", params)
        return int(rows[0][0] or 0)

    def newest_usage(self, tenant: str, license_id: str, limit: int
                     ) -> tuple[list[tuple[str, int, bytes]], int]:
        """The stored usage facts of a license newest first in effective order (ties: the later
        recorded first), at most `limit` of them, and how many it has in all: ordered by the
        index's own columns, so no other record is read."""
        where = "f.tenant = ? AND f.subject = ? AND f.kind = 'usage'"
        rows = self.query(
            f"SELECT f.subject, f.position, e.state FROM {self.facts_table} f JOIN "
            f"{self.events_table} e ON e.{self.position_column} = f.position WHERE {where} "
            "ORDER BY f.effective_at DESC, f.sequence DESC LIMIT ?", [tenant, license_id, limit])
        counted = self.query(f"SELECT COUNT(*) FROM {self.facts_table} f WHERE {where}",
                             [tenant, license_id])
        return [(r[0], r[1], bytes(r[2])) for r in rows], int(counted[0][0])

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
            "AND kind IN ('lifecycle', 'usage')", [tenant, license_id])}

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

    def records_with_rows(self, after: int = 0, limit: int = 1000) -> list[tuple[Any, ...]]:
        """Stored records in ledger order after `after`, each with the index row at its position
        in one query (for `ledger verify`): (position, topic, stream id as stored text, version,
        stored bytes, *the row's COLUMNS, all None where no row is). A row at a position no
        record has is not among them: `index_count` and `orphan_rows` find those. The bound on
        `f.position` too (implied by the join) lets PostgreSQL's merge join start its scan of
        our table there instead of at its first row on every page."""
        return self.query(
            f"SELECT e.{self.position_column}, e.topic, {self.stored_stream_text}, e.originator_version, "
            f"e.state, {', '.join('f.' + c for c in COLUMNS)} FROM {self.events_table} e LEFT "
            f"JOIN {self.facts_table} f ON f.position = e.{self.position_column} AND f.position "
            f"> ? WHERE e.{self.position_column} > ? ORDER BY e.{self.position_column} LIMIT ?",
            [after, after, limit], binary=True)

    def index_count(self, tenant: str | None = None) -> int:
        """How many index rows there are (of one tenant)."""
        where, params = ("", []) if tenant is None else (" WHERE tenant = ?", [tenant])
        return int(self.query(f"SELECT COUNT(*) FROM {self.facts_table}{where}", params)[0][0])

    def orphan_rows(self, tenant: str | None = None, limit: int = 1) -> list[tuple[Any, ...]]:
        """Index rows (of one tenant) at a position no stored record has, in ledger order."""
        where, params = ("", [limit]) if tenant is None else (" AND f.tenant = ?", [tenant, limit])
        return self.query(
            f"SELECT {', '.join('f.' + c for c in COLUMNS)} FROM {self.facts_table} f WHERE NOT "
            f"EXISTS (SELECT 1 FROM {self.events_table} e WHERE e.{self.position_column} = "
            f"f.position){where} ORDER BY f.position LIMIT ?", params, prepared=False)

    def index_rows(self, after: int = 0, limit: int = 1000) -> list[IndexRow]:
        """Index rows in ledger order."""
        rows = self.query(f"SELECT {', '.join(COLUMNS)} FROM {self.facts_table} WHERE position > ? "
                          "ORDER BY position LIMIT ?", [after, limit])
        return [IndexRow(*r) for r in rows]
