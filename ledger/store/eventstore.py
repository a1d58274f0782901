"""The ledger's event store, on the eventsourcing library's recorders (SQLite or PostgreSQL).

One append is one transaction: the facts, their links in each tenant's chain, their idempotency
receipts and the index entries all commit together or not at all. A batch takes the chain
sequences right after the head its judgement started from, so two writers of one tenant (or
of one receipt) collide on the library's unique (stream, version) key; the loser gets
ConcurrentAppendError and judges its batch again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, ProcessRecorder, StoredEvent

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.chain import GENESIS, fact_hash
from ledger.domain.facts import Fact
from ledger.store import records, streams
from ledger.store.codec import decode, encode, fact_record, to_fact
from schemas.events import EVENT_TYPES
from schemas.governance import STEP_TYPES
from schemas.times import format_time, parse_time


class ConcurrentAppendError(Exception):
    """Another writer appended first; judge the batch again against what it wrote."""


@dataclass(frozen=True)
class Head:
    sequence: int
    hash: str
    recorded_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "hash": self.hash}


class LedgerStore:
    def __init__(self, recorder: ProcessRecorder, clock: Callable[[], datetime] | None = None,
                 factory: Any = None):
        self.recorder = recorder
        self.clock = clock or (lambda: datetime.now(UTC))
        self._factory = factory

    def close(self) -> None:
        if self._factory is not None:
            self._factory.close()

    # -- reading -------------------------------------------------------------------------------
    def _records(self, stream: UUID, **kwargs: Any) -> list[dict[str, Any]]:
        return [decode(e) for e in self.recorder.select_events(stream, **kwargs)]

    def license_facts(self, tenant: str, license_id: str) -> list[Fact]:
        return [to_fact(r) for r in self._records(streams.license_stream(tenant, license_id))]

    def usage_months(self, tenant: str, license_id: str) -> list[str]:
        return [r["month"] for r in self._records(streams.usage_months_stream(tenant, license_id))]

    def usage_facts(self, tenant: str, license_id: str,
                    months: Iterable[str] | None = None) -> list[Fact]:
        wanted = self.usage_months(tenant, license_id) if months is None else months
        return [to_fact(r) for m in wanted
                for r in self._records(streams.usage_stream(tenant, license_id, m))]

    def catalogs(self, tenant: str) -> CatalogHistory:
        return CatalogHistory.of(to_fact(r) for r in self._records(streams.catalog_stream(tenant)))

    def head(self, tenant: str) -> Head | None:
        last = self._records(streams.chain_stream(tenant), desc=True, limit=1)
        if not last:
            return None
        return Head(last[0]["sequence"], last[0]["hash"], parse_time(last[0]["recorded_at"]))

    def licenses_of_customer(self, tenant: str, customer_id: str) -> list[str]:
        ids = (r["license_id"] for r in self._records(streams.customer_stream(tenant, customer_id)))
        return list(dict.fromkeys(ids))

    def licenses_of_tenant(self, tenant: str) -> list[str]:
        ids = (r["license_id"] for r in self._records(streams.tenant_licenses_stream(tenant)))
        return list(dict.fromkeys(ids))

    def positions(self, tenant: str, license_id: str) -> dict[int, int]:
        """Ledger positions of a license's facts by sequence (audits need them, the hot path
        does not)."""
        ids = [streams.license_stream(tenant, license_id)] + [
            streams.usage_stream(tenant, license_id, m) for m in self.usage_months(tenant, license_id)]
        return {json.loads(bytes(state))["sequence"]: position
                for _, _, position, state in self._rows(ids)}

    def receipts(self, keys: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which (tenant, source, id) keys were already accepted: one query for a whole batch."""
        by_stream = {streams.receipt_stream(*key): key for key in keys}
        found = {stream for stream, _, _, _ in self._rows(list(by_stream))}
        return {key for stream, key in by_stream.items() if stream in found}

    def license_facts_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Fact]]:
        """The facts of several licenses, (tenant, license id) -> facts, in one query."""
        by_stream = {streams.license_stream(*key): key for key in keys}
        found: dict[tuple[str, str], list[tuple[int, Fact]]] = {key: [] for key in by_stream.values()}
        for stream, version, position, state in self._rows(list(by_stream)):
            found[by_stream[stream]].append((version, to_fact(json.loads(bytes(state)), position)))
        return {key: [f for _, f in sorted(pairs, key=lambda p: p[0])] for key, pairs in found.items()}

    def _rows(self, ids: list[UUID]) -> list[tuple[UUID, int, int, bytes]]:
        """(stream, version, position, state) of every record of the given streams, in one query. The
        library's select_events reads one stream and returns no positions, so this asks its
        datastore directly."""
        if not ids:
            return []
        recorder: Any = self.recorder
        table = recorder.events_table_name
        if hasattr(recorder.datastore, "schema"):
            from psycopg import sql

            query = sql.SQL("SELECT originator_id, originator_version, notification_id, state FROM {}.{} "
                            "WHERE originator_id = ANY(%s)").format(
                sql.Identifier(recorder.datastore.schema), sql.Identifier(table))
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(query, [ids])
                return [(r["originator_id"], r["originator_version"], r["notification_id"],
                         r["state"]) for r in cursor.fetchall()]
        rows: list[tuple[UUID, int, int, bytes]] = []
        with recorder.datastore.transaction(commit=False) as cursor:
            for i in range(0, len(ids), 500):  # SQLite's limit on bound parameters
                chunk = ids[i:i + 500]
                cursor.execute(f"SELECT originator_id, originator_version, rowid, state FROM {table} "
                               f"WHERE originator_id IN ({','.join('?' * len(chunk))})",
                               [u.hex for u in chunk])
                rows += [(UUID(hex=r[0]), r[1], r[2], r[3]) for r in cursor.fetchall()]
        return rows

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def facts_after(self, position: int, limit: int = 500) -> list[Fact]:
        """Facts in ledger order after `position`: the outbox the relay and projections follow."""
        found = self.recorder.select_notifications(
            position, limit, topics=FACT_TOPICS, inclusive_of_start=False)
        return [to_fact(decode(n), n.id) for n in found]

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

    # -- writing -------------------------------------------------------------------------------
    def append(self, drafts: Sequence[Fact], judged_against: Mapping[UUID, int] | None = None,
               heads: Mapping[str, Head | None] | None = None) -> list[Fact]:
        """Record `drafts` (already judged) in one transaction, chained per tenant.
        `judged_against` gives, per stream, how many records the judge read: the new records
        take the versions right after them, so a fact written meanwhile makes this append
        collide instead of slipping past the rules. Returns the facts with sequence, hash,
        recorded time and position filled in. `heads` are the tenants' chain heads the judgement
        started from: the facts take the sequences right after them, so that any write to the
        tenant since then collides."""
        writer = _Batch(self, judged_against or {}, heads or {})
        chained = [writer.add(d) for d in drafts]
        try:
            positions = self.recorder.insert_events(writer.records)
        except IntegrityError as exc:
            raise ConcurrentAppendError(str(exc)) from exc
        if positions:
            by_stream = {(r.originator_id, r.originator_version): p
                         for r, p in zip(writer.records, positions, strict=False)}
            chained = [replace(f, position=by_stream.get(k)) for f, k in zip(chained, writer.keys,
                                                                           strict=True)]
        return chained


FACT_TOPICS = [streams.fact_topic(t) for t in (*EVENT_TYPES, *STEP_TYPES)]


class _Batch:
    """Builds the records of one append: next versions are read once, then counted locally."""

    def __init__(self, store: LedgerStore, judged_against: Mapping[UUID, int],
                 heads: Mapping[str, Head | None]):
        self.store = store
        self.records: list[StoredEvent] = []
        self.keys: list[tuple[UUID, int]] = []
        self._next: dict[UUID, int] = {stream: n + 1 for stream, n in judged_against.items()}
        self._heads: dict[str, tuple[int, str, datetime]] = {
            tenant: _as_link(head) for tenant, head in heads.items()}

    def _version(self, stream: UUID) -> int:
        if stream not in self._next:
            last = self.store.recorder.select_events(stream, desc=True, limit=1)
            self._next[stream] = (last[0].originator_version + 1) if last else 1
        version = self._next[stream]
        self._next[stream] = version + 1
        return version

    def _put(self, stream: UUID, topic: str, record: dict[str, Any],
             version: int | None = None) -> tuple[UUID, int]:
        version = self._version(stream) if version is None else version
        self.records.append(StoredEvent(stream, version, topic, encode(record)))
        return stream, version

    def add(self, draft: Fact) -> Fact:
        tenant = draft.tenant
        if tenant not in self._heads:
            self._heads[tenant] = _as_link(self.store.head(tenant))
        sequence, prev_hash, last_recorded = self._heads[tenant]
        recorded_at = max(self.store.clock(), last_recorded)  # the chain's clock never runs back
        fact = replace(draft, sequence=sequence + 1, prev_hash=prev_hash, recorded_at=recorded_at,
                       hash="")
        fact = replace(fact, hash=fact_hash(fact))
        self._heads[tenant] = (fact.sequence, fact.hash, recorded_at)
        stream = records.fact_stream(fact)
        self.keys.append(self._put(stream, streams.fact_topic(fact.type), fact_record(fact)))
        # The link's version is the sequence read with the head: a writer that raced us to it
        # collides on (chain, version) instead of slipping in a link that disagrees with its fact.
        self._put(streams.chain_stream(tenant), streams.LINK, {
            "tenant": tenant, "sequence": fact.sequence, "hash": fact.hash,
            "recorded_at": format_time(recorded_at)}, version=fact.sequence)
        receipt_stream, receipt = records.receipt(fact)
        self._put(receipt_stream, streams.RECEIPT, receipt, version=1)  # a second writer collides
        for index_stream, entry in records.index_entries(fact, opens_month=self._next[stream] == 2):
            self._put(index_stream, streams.INDEX, entry)
        return fact


def _as_link(head: Head | None) -> tuple[int, str, datetime]:
    if head is None:
        return (0, GENESIS, datetime.min.replace(tzinfo=UTC))
    return (head.sequence, head.hash, head.recorded_at)
