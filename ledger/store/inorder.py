"""Reading the ledger in order, by position: the outbox its followers read (the relay, the
projections) and the whole-store scans of `ledger verify` and the tools, page by page.

`LedgerStore` takes these from `LedgerInOrder`; they need nothing of the write path, only the
library's recorder (with our index table: `recorders.py`, `pgrecorder.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from ledger.domain.facts import Fact
from ledger.store import streams
from ledger.store.codec import decode, to_fact
from ledger.store.records import IndexRow


class CorruptStoreError(Exception):
    """A stored record the ledger needs is unreadable or altered: it must not be built upon."""


def load_fact(raw: bytes, position: int | None, what: str) -> Fact:
    """The fact of stored bytes, upcast; CorruptStoreError (saying what to run) if unreadable."""
    try:
        return to_fact(json.loads(raw), position)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptStoreError(f"{what} at position {position} is unreadable ({exc!r}): run "
                                "`ledger verify` to find what was altered") from None


class LedgerInOrder:
    """The reads by position, for any class that holds the library's recorder as `recorder`."""

    recorder: Any

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def newest_position(self) -> int:
        """`max_position`, failing within one wait for a connection when the database cannot
        be reached (`reachable` first: the library's read would try ten times)."""
        self.reachable()
        return self.max_position()

    def reachable(self) -> None:
        """One round trip to the database, not the library's ten tries (each waiting for a
        connection: with the database stopped they take ten times a process's wait), in the
        recorder's own read transaction: begun past the connections a database restart broke
        (`restarts.begun`), so a restarted database is not reported down. Raises what the
        database raised."""
        with self.recorder._reading() as cursor:  # on PostgreSQL `restarts.begun`, and cut
            cursor.execute("SELECT 1")          # at a serving process's deadline

    def facts_after(self, position: int, limit: int = 500) -> list[Fact]:
        """Facts in ledger order after `position`: the outbox the relay and projections follow."""
        return [self.fact_of(at, stored) for at, stored in self.records_after(position, limit)]

    def records_after(self, position: int, limit: int = 500) -> list[tuple[int, bytes]]:
        """`facts_after` as (position, stored bytes), undecoded: for a reader that spells each
        record out again without needing the fact (the relay: `consumers.outbound`)."""
        found = self.recorder.select_notifications(position, limit, inclusive_of_start=False)
        return [(n.id, n.state) for n in found]

    @staticmethod
    def fact_of(position: int, stored: bytes) -> Fact:
        """The fact of one stored record (`records_after`), upcast; CorruptStoreError if it
        cannot be read."""
        return load_fact(stored, position, "the stored event")

    def all_records(self, page: int = 1000, *, decoded: bool = True
                    ) -> Iterator[tuple[int, str, UUID | str, int, Any]]:
        """Every stored record in ledger order: (position, topic, stream, version, record), the
        record decoded, or its stored bytes with `decoded=False`."""
        start = 0
        while True:
            found = self.recorder.select_notifications(start, page, inclusive_of_start=False)
            if not found:
                return
            for n in found:
                yield (n.id, n.topic, n.originator_id, n.originator_version,
                       decode(n) if decoded else n.state)
            start = found[-1].id

    def records_with_rows(self, page: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Every stored record in ledger order with the index row at its position, one query a
        page (`FactIndex.records_with_rows`: the stream id as stored, the bytes undecoded)."""
        after = 0
        while rows := self.recorder.records_with_rows(after, page):
            yield from rows
            after = rows[-1][0]

    def index_count(self, tenant: str | None = None) -> int:
        return self.recorder.index_count(tenant)

    def orphan_rows(self, tenant: str | None = None) -> list[IndexRow]:
        """The first index row (of one tenant) at a position no stored record has, if any."""
        return [IndexRow(*r) for r in self.recorder.orphan_rows(tenant)]

    def chain_lengths(self) -> dict[str, int]:
        """How many facts each stream id holds exactly as stored, keyed like `chain_id`."""
        found: dict[str, int] = self.recorder.stream_lengths()
        return found

    def chain_id(self, tenant: str) -> str:
        """The stored id of the tenant's chain stream, as `chain_lengths` keys it."""
        return str(self.recorder.stored_id(streams.chain_stream(tenant)))

    def index_rows(self, page: int = 1000) -> Iterator[IndexRow]:
        """Every index row in ledger order (tools and tests; `ledger verify` reads them beside
        their records instead, `records_with_rows`)."""
        after = 0
        while rows := self.recorder.index_rows(after, page):
            yield from rows
            after = rows[-1].position
