"""License states read from the store: one license, or many in batches (`replay --all`).

One state folds a license's lifecycle facts and counts the usage of the months that matter
(`CountedUsage`, `fold.usage_window`); reading it costs three queries. Replaying a tenant's
licenses one by one paid those three queries, and a read and parse of the catalog history,
per license, so `replay --all` ran at a few percent of merely reading the same facts. Here
the catalog history is read once per replay and the facts of a batch of licenses in two
queries (lifecycle, usage); each license is then folded exactly as `state` folds it, from
the same facts in the same order, so the answers cannot move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import fold
from ledger.domain.state import LicenseState, state_at
from ledger.domain.usage import CountedUsage, month_key
from ledger.store.eventstore import LedgerStore

BATCH = 500


def typed_state_of(catalogs: CatalogHistory, facts: Sequence[Fact],
                   months_of: Callable[[], list[str]], usage_of: Callable[[list[str]], list[Fact]],
                   as_of: datetime, known_at: datetime) -> LicenseState | None:
    """A license's typed state from its lifecycle facts and, asked for only if it exists, its
    usage: `months_of()` the months it has usage in (in the order first recorded),
    `usage_of(months)` those months' usage facts in that order."""
    timeline = fold(facts, catalogs, as_of, known_at)
    if timeline.terms is None:
        return None
    months = [m for m in months_of() if m <= month_key(as_of)]
    if not counts_totals(catalogs, timeline.terms.plan, as_of, known_at):
        months = [m for m in months if m == month_key(as_of)]
    usage = CountedUsage.of(usage_of(months), known_at)
    return state_at(timeline.terms, catalogs, usage, as_of, known_at)


def state_of(catalogs: CatalogHistory, facts: Sequence[Fact], months_of: Callable[[], list[str]],
             usage_of: Callable[[list[str]], list[Fact]], as_of: datetime, known_at: datetime
             ) -> dict[str, Any] | None:
    """The contract's document of `typed_state_of`."""
    state = typed_state_of(catalogs, facts, months_of, usage_of, as_of, known_at)
    return state.as_dict() if state is not None else None


def one_typed_state(store: LedgerStore, tenant: str, license_id: str, as_of: datetime,
                    known_at: datetime, catalogs: CatalogHistory) -> LicenseState | None:
    return typed_state_of(catalogs, store.license_facts(tenant, license_id),
                          lambda: store.usage_months(tenant, license_id),
                          lambda months: store.usage_facts(tenant, license_id, months),
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
            months_of, usage_of = _read_from(usage.get(each, {}))
            state = state_of(catalogs, lifecycle[(tenant, each)], months_of, usage_of, as_of,
                             known_at)
            if state is not None:
                states.append(state)
            done += 1
            if progress is not None and (done % 200 == 0 or done == len(ids)):
                progress(done, len(ids))
    return states


def _read_from(by_month: dict[str, list[Fact]]
               ) -> tuple[Callable[[], list[str]], Callable[[list[str]], list[Fact]]]:
    """`months_of` and `usage_of` answered from facts already read."""
    return (lambda: list(by_month)), (lambda months: [f for m in months for f in by_month.get(m, [])])


def _batches(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start:start + BATCH])


def counts_totals(catalogs: CatalogHistory, plan: str, as_of: datetime, known_at: datetime) -> bool:
    found = catalogs.plan(plan, as_of, known_at)
    return found is not None and any(f.period == "total" for f in found.features.values())
