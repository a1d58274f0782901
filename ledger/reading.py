"""License states read from the store: one license, or many in batches (`replay --all`).

One state folds a license's lifecycle facts and has the database sum its usage over the index's
usage columns (`SummedUsage`: the window of `fold.usage_window`, as `CountedUsage` counts),
one query each time the fold asks for a feature's usage, and no usage record decoded.
Replaying a tenant's licenses one by one paid a license's queries, and a read and parse of
the catalog history, per license, so `replay --all` ran at a few percent of merely reading
the same facts. Here
the catalog history is read once per replay and the facts of a batch of licenses in two
queries (lifecycle, usage); each license is then folded exactly as `state` folds it, its usage
counted from the facts read (`CountedUsage`); tests hold both counts equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import fold, usage_window
from ledger.domain.state import LicenseState, state_at
from ledger.domain.terms import Terms
from ledger.domain.usage import CountedUsage, UsageCounter, month_key
from ledger.store.eventstore import LedgerStore

BATCH = 500


@dataclass(frozen=True)
class SummedUsage:
    """A license's usage as `CountedUsage` counts it (the same window: `usage_window`), summed
    by the database over the index's usage columns, so that a license with 10,000 usage records
    is read without decoding one (tests/integration/test_summed_usage.py holds them equal)."""

    store: LedgerStore
    tenant: str
    license_id: str
    known_at: datetime

    def used(self, terms: Terms, feature: str, since: datetime | None, until: datetime) -> int:
        start, before = usage_window(terms)
        return self.store.usage_total(self.tenant, self.license_id, feature,
                                      start if since is None else max(since, start), until,
                                      self.known_at, before)


def typed_state_of(catalogs: CatalogHistory, facts: Sequence[Fact],
                   usage_of: Callable[[Terms], UsageCounter], as_of: datetime,
                   known_at: datetime) -> LicenseState | None:
    """A license's typed state from its lifecycle facts and, asked for only if it exists, its
    usage (`usage_of(terms)`, a counter of it as known at `known_at`)."""
    timeline = fold(facts, catalogs, as_of, known_at)
    if timeline.terms is None:
        return None
    return state_at(timeline.terms, catalogs, usage_of(timeline.terms), as_of, known_at)


def one_typed_state(store: LedgerStore, tenant: str, license_id: str, as_of: datetime,
                    known_at: datetime, catalogs: CatalogHistory) -> LicenseState | None:
    return typed_state_of(catalogs, store.license_facts(tenant, license_id),
                          lambda _: SummedUsage(store, tenant, license_id, known_at),
                          as_of, known_at)


def one_state(store: LedgerStore, tenant: str, license_id: str, as_of: datetime,
              known_at: datetime, catalogs: CatalogHistory) -> dict[str, Any] | None:
    state = one_typed_state(store, tenant, license_id, as_of, known_at, catalogs)
    return state.as_dict() if state is not None else None


def many_states(store: LedgerStore, tenant: str, ids: Sequence[str], as_of: datetime,
                known_at: datetime, progress: Callable[[int, int], None] | None = None
                ) -> list[dict[str, Any]]:
    """The states of `ids` that existed at `as_of`, in the order of `ids`."""
    catalogs = store.catalogs(tenant)
    states = []
    done = 0
    for batch in _batches(ids):
        lifecycle = store.license_facts_of((tenant, each) for each in batch)
        usage = store.usage_facts_of(tenant, batch)
        for each in batch:
            state = typed_state_of(catalogs, lifecycle[(tenant, each)],
                                   _counter(catalogs, usage.get(each, {}), as_of, known_at),
                                   as_of, known_at)
            if state is not None:
                states.append(state.as_dict())
            done += 1
            if progress is not None and (done % 200 == 0 or done == len(ids)):
                progress(done, len(ids))
    return states


def _counter(catalogs: CatalogHistory, by_month: dict[str, list[Fact]], as_of: datetime,
             known_at: datetime) -> Callable[[Terms], UsageCounter]:
    """A counter of usage facts already read, over those that may count at `as_of`: the months
    up to it, only its own month unless the plan has a whole-term total."""
    def counted(terms: Terms) -> UsageCounter:
        months = [m for m in by_month if m <= month_key(as_of)]
        if not counts_totals(catalogs, terms.plan, as_of, known_at):
            months = [m for m in months if m == month_key(as_of)]
        return CountedUsage.of((f for m in months for f in by_month[m]), known_at)
    return counted


def _batches(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start:start + BATCH])


def counts_totals(catalogs: CatalogHistory, plan: str, as_of: datetime, known_at: datetime) -> bool:
    found = catalogs.plan(plan, as_of, known_at)
    return found is not None and any(f.period == "total" for f in found.features.values())
