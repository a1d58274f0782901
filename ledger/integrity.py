"""`ledger verify`: recompute every tenant's hash chain from the stored records, in ledger order,
and name the first event that was altered, removed, moved or reordered. The bookkeeping that
answers depend on (receipts, the customer and month indexes) is recomputed from the facts too,
so removing or adding such a record is caught as well."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ledger.domain.chain import GENESIS, canonical, fact_hash
from ledger.domain.facts import Fact
from ledger.domain.usage import month_key
from ledger.store import records, streams
from ledger.store.codec import to_fact
from ledger.store.eventstore import LedgerStore


@dataclass
class _Chain:
    expected: int = 1
    prev_hash: str = GENESIS
    awaiting_link: tuple[int, str] | None = None
    head_seen: bool = False


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    problem: str | None = None
    tenants: dict[str, int] = field(default_factory=dict)


class ChainBrokenError(Exception):
    pass


@dataclass
class _Bookkeeping:
    """Receipts and index entries: those the facts call for against those found."""

    expected: Counter[tuple[str, bytes]] = field(default_factory=Counter)
    found: Counter[tuple[str, bytes]] = field(default_factory=Counter)
    owners: dict[tuple[str, bytes], str] = field(default_factory=dict)
    where: dict[tuple[str, bytes], int] = field(default_factory=dict)
    months: set[tuple[str, str, str]] = field(default_factory=set)

    def expect(self, fact: Fact, described: str) -> None:
        key = (fact.tenant, fact.subject, month_key(fact.effective_at))
        opens = fact.type == "usage.recorded" and key not in self.months
        if opens:
            self.months.add(key)
        for stream, record in [records.receipt(fact), *records.index_entries(fact, opens)]:
            entry = (str(UUID(str(stream))), canonical(record))
            self.expected[entry] += 1
            self.owners.setdefault(entry, described)

    def saw(self, stream: Any, record: dict[str, Any], position: int) -> None:
        entry = (str(UUID(str(stream))), canonical(record))
        self.found[entry] += 1
        self.where.setdefault(entry, position)

    def check(self) -> None:
        missing = self.expected - self.found
        if missing:
            entry = min(missing, key=lambda e: self.owners[e])
            raise ChainBrokenError(f"{self.owners[entry]}: its receipt or index entry is missing "
                                   "(removed or altered)")
        extra = self.found - self.expected
        if extra:
            position = min(self.where[e] for e in extra)
            raise ChainBrokenError(f"the receipt or index record at position {position} belongs "
                                   "to no recorded event (added or altered)")


def verify(store: LedgerStore, tenant: str | None = None, head: tuple[int, str] | None = None,
           progress: Callable[[int], None] | None = None) -> Verdict:
    chains: dict[str, _Chain] = {}
    books = _Bookkeeping()
    checked = 0
    try:
        for position, topic, stream, version, raw in store.all_records(decoded=False):
            record = _readable(position, stream, version, raw)
            if tenant is not None and record.get("tenant") != tenant:
                continue
            if topic.startswith(streams.FACT):
                fact = _check_fact(chains, position, stream, record, head)
                books.expect(fact, _describe(fact, position))
                checked += 1
                if progress and checked % 1000 == 0:
                    progress(checked)
            elif topic == streams.LINK:
                _check_link(chains, position, version, record)
            elif topic in (streams.RECEIPT, streams.INDEX):
                books.saw(stream, record, position)
        for name, chain in chains.items():
            if chain.awaiting_link is not None:
                raise ChainBrokenError(f"tenant {name!r}: event sequence {chain.awaiting_link[0]} "
                                       "has no chain link (the link was removed)")
        books.check()
        if head is not None and head != (0, GENESIS) and not (
                tenant and chains.get(tenant, _Chain()).head_seen):
            raise ChainBrokenError(f"head {head[0]}:{head[1]} is no longer in the chain of tenant "
                                   f"{tenant!r}: events were cut off or rewritten")
    except ChainBrokenError as exc:
        return Verdict(False, checked, str(exc))
    return Verdict(True, checked, None, {t: c.expected - 1 for t, c in chains.items()})


def _readable(position: int, stream: Any, version: int, raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        return record
    except ValueError as exc:
        raise ChainBrokenError(f"the record at position {position} (stream {stream}, version "
                               f"{version}) is unreadable (altered): {exc}") from None


def _describe(fact: Fact, position: int) -> str:
    return (f"tenant {fact.tenant!r}, event {fact.source_event_id!r} from {fact.source!r} "
            f"(sequence {fact.sequence}, position {position})")


def _check_fact(chains: dict[str, _Chain], position: int, stream: Any, record: dict[str, Any],
                head: tuple[int, str] | None) -> Fact:
    try:
        fact = to_fact(record, position, upcasting=False)
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainBrokenError(f"the event at position {position} (stream {stream}) is unreadable "
                               f"(altered): missing or malformed {exc}") from None
    chain = chains.setdefault(fact.tenant, _Chain())
    where = _describe(fact, position)
    if chain.awaiting_link is not None:
        raise ChainBrokenError(f"{where}: the chain link of sequence {chain.awaiting_link[0]} "
                               "is missing (removed)")
    if fact.sequence != chain.expected:
        raise ChainBrokenError(f"{where}: expected sequence {chain.expected}; an event before it "
                               "was removed or the events were reordered")
    if fact.prev_hash != chain.prev_hash:
        raise ChainBrokenError(f"{where}: does not follow the hash of the event before it "
                               "(reordered, or the one before was altered)")
    if fact_hash(fact) != fact.hash:
        raise ChainBrokenError(f"{where}: its content no longer matches its hash (altered)")
    if UUID(str(stream)) != records.fact_stream(fact):
        raise ChainBrokenError(f"{where}: it is not in the stream of its license (moved)")
    if head is not None and head[0] == fact.sequence and head[1] == fact.hash:
        chain.head_seen = True
    chain.expected += 1
    chain.prev_hash = fact.hash
    chain.awaiting_link = (fact.sequence, fact.hash)
    return fact


def _check_link(chains: dict[str, _Chain], position: int, version: int, record: dict[str, Any]) -> None:
    chain = chains.setdefault(record.get("tenant", "?"), _Chain())
    link = (record.get("sequence"), record.get("hash"))
    if chain.awaiting_link != link or version != record.get("sequence"):
        raise ChainBrokenError(f"tenant {record.get('tenant')!r}: chain link at position {position} "
                               f"(sequence {record.get('sequence')}) does not match its event "
                               "(the event was removed, or the link altered)")
    chain.awaiting_link = None
