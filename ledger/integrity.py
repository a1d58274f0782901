"""`ledger verify`: recompute every tenant's hash chain from the stored facts, in ledger order,
and name the first event that was altered, removed, moved or reordered.

Every byte an answer depends on is checked: each fact's content against its hash and the chain,
its bookkeeping (`v`, `data_version`) against its seal, its stored bytes against their one
canonical encoding, its place (stream, version, topic) against its content, and the index row
our table holds for it (receipt, license, month, customer, position) against the row derived
from it. What is not covered, and why no answer depends on it, is in docs/ledger.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.domain.chain import GENESIS
from ledger.domain.facts import Fact
from ledger.fact_checks import ChainBrokenError, _Chain, _check_fact, _describe, _readable
from ledger.store.eventstore import LedgerStore
from ledger.store.records import IndexRow, index_row

_ROW = 5  # where a joined record's index row begins (`LedgerStore.records_with_rows`)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    problem: str | None = None
    tenants: dict[str, int] = field(default_factory=dict)


class _IndexCheck:
    """Each fact's index row, read beside it in the records' query (joined by position),
    against the row derived from it; then no row is left over, at a position of no fact of
    the tenant verified (`finish`)."""

    def __init__(self, tenant: str | None):
        self.tenant = tenant
        self.matched = 0  # rows found at their fact's position (of the tenant verified)

    def expect(self, found: tuple[Any, ...], row: IndexRow, fact: Fact) -> None:
        if found == row:  # the usual case, first: plain tuples compared, nothing to describe
            self.matched += 1
            return
        described = _describe(fact, row.position)
        if found[0] is None:
            raise ChainBrokenError(f"{described}: its receipt and index entry is missing (removed, "
                                   "or altered)")
        named = IndexRow(*found)
        changed = ", ".join(f"{k} {getattr(named, k)!r} instead of {getattr(row, k)!r}"
                            for k in IndexRow._fields if getattr(named, k) != getattr(row, k))
        raise ChainBrokenError(f"{described}: its index row says {changed} (the event was "
                               "moved to another license or customer, or the row altered)")

    def skipped(self, found: tuple[Any, ...]) -> None:
        """A record of another tenant than the one verified: no row of ours may sit there."""
        if found[0] == self.tenant:
            raise ChainBrokenError(_extra(IndexRow(*found)))

    def finish(self, store: LedgerStore) -> None:
        """More rows than were found beside their facts: name the first at no record's position
        (none, when the extra rows came with records appended since the pass read its pages)."""
        if store.index_count(self.tenant) != self.matched:
            for orphan in store.orphan_rows(self.tenant):
                raise ChainBrokenError(_extra(orphan))


def _extra(row: IndexRow) -> str:
    return (f"the index row at position {row.position} (tenant {row.tenant!r}, sequence "
            f"{row.sequence}) belongs to no recorded event (added or altered)")


def verify(store: LedgerStore, tenant: str | None = None, head: tuple[int, str] | None = None,
           progress: Callable[[int], None] | None = None) -> Verdict:
    chains: dict[str, _Chain] = {}
    checked = 0
    try:
        index = _IndexCheck(tenant)
        for joined in store.records_with_rows():
            position, topic, stream, version, raw = joined[:_ROW]
            raw = bytes(raw)
            record = _readable(position, stream, version, raw)
            if tenant is not None and record.get("tenant") != tenant:
                index.skipped(joined[_ROW:])
                continue
            fact = _check_fact(chains, position, (topic, stream, version), raw, record, head)
            index.expect(joined[_ROW:], index_row(fact, position), fact)
            checked += 1
            if progress and checked % 1000 == 0:
                progress(checked)
        index.finish(store)
        _check_streams(store, chains, tenant)
        if head is not None and head != (0, GENESIS) and not (
                tenant and chains.get(tenant, _Chain()).head_seen):
            raise ChainBrokenError(f"head {head[0]}:{head[1]} is no longer in the chain of tenant "
                                   f"{tenant!r}: events were cut off or rewritten")
    except ChainBrokenError as exc:
        return Verdict(False, checked, str(exc))
    except (ValueError, TypeError, UnicodeError) as exc:  # a stored column the library cannot read
        return Verdict(False, checked, f"a stored record after event {checked} cannot be read at all "
                       f"(altered): {exc}")
    return Verdict(True, checked, None, {t: c.expected - 1 for t, c in chains.items()})


def _check_streams(store: LedgerStore, chains: dict[str, _Chain], tenant: str | None) -> None:
    """The library reads a chain by its exact stored stream id: every fact must be found there."""
    lengths = store.chain_lengths()
    for name, chain in chains.items():
        if lengths.pop(store.chain_id(name), 0) != chain.expected - 1:
            raise ChainBrokenError(f"tenant {name!r}: some of its events are not stored under its "
                                   "chain's stream id (altered), so the ledger would not find them")
    if tenant is None and lengths:
        raise ChainBrokenError(f"events are stored under stream ids of no tenant's chain: "
                               f"{sorted(lengths)[:3]} (altered)")
