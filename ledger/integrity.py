"""`ledger verify`: recompute every tenant's hash chain from the stored records, in ledger order,
and name the first event that was altered, removed or reordered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.domain.chain import GENESIS, fact_hash
from ledger.store import streams
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


def verify(store: LedgerStore, tenant: str | None = None, head: tuple[int, str] | None = None,
           progress: Callable[[int], None] | None = None) -> Verdict:
    chains: dict[str, _Chain] = {}
    checked = 0
    try:
        for position, topic, stream, version, record in store.all_records():
            if tenant is not None and record.get("tenant") != tenant:
                continue
            if topic.startswith(streams.FACT):
                _check_fact(chains, position, stream, record, head)
                checked += 1
                if progress and checked % 1000 == 0:
                    progress(checked)
            elif topic == streams.LINK:
                _check_link(chains, position, version, record)
        for name, chain in chains.items():
            if chain.awaiting_link is not None:
                raise ChainBrokenError(f"tenant {name!r}: event sequence {chain.awaiting_link[0]} "
                                       "has no chain link (the link was removed)")
        if head is not None and not (tenant and chains.get(tenant, _Chain()).head_seen):
            raise ChainBrokenError(f"head {head[0]}:{head[1]} is no longer in the chain of tenant "
                                   f"{tenant!r}: events were cut off or rewritten")
    except ChainBrokenError as exc:
        return Verdict(False, checked, str(exc))
    return Verdict(True, checked, None, {t: c.expected - 1 for t, c in chains.items()})


def _check_fact(chains: dict[str, _Chain], position: int, stream: object, record: dict,
                head: tuple[int, str] | None) -> None:
    fact = to_fact(record, position, upcasting=False)
    chain = chains.setdefault(fact.tenant, _Chain())
    where = (f"tenant {fact.tenant!r}, event {fact.source_event_id!r} from {fact.source!r} "
             f"(sequence {fact.sequence}, position {position})")
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
    if head is not None and head[0] == fact.sequence and head[1] == fact.hash:
        chain.head_seen = True
    chain.expected += 1
    chain.prev_hash = fact.hash
    chain.awaiting_link = (fact.sequence, fact.hash)


def _check_link(chains: dict[str, _Chain], position: int, version: int, record: dict) -> None:
    chain = chains.setdefault(record["tenant"], _Chain())
    link = (record["sequence"], record["hash"])
    if chain.awaiting_link != link or version != record["sequence"]:
        raise ChainBrokenError(f"tenant {record['tenant']!r}: chain link at position {position} "
                               f"(sequence {record['sequence']}) does not match its event "
                               "(the event was removed, or the link altered)")
    chain.awaiting_link = None
