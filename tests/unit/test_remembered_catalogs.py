"""The catalog histories kept per tenant: as of the newest catalog fact they were read with,
within a budget of stored bytes, the least recently used going first."""

from __future__ import annotations

from ledger.domain.catalogs import CatalogHistory
from ledger.store.remembered import RememberedCatalogs


def test_a_history_is_given_only_for_the_newest_catalog_it_was_read_with() -> None:
    kept, history = RememberedCatalogs(budget=100), CatalogHistory()
    kept.put("acme", 3, history, 10)
    assert kept.get("acme", 3) is history
    assert kept.get("acme", 4) is None and kept.get("globex", 3) is None


def test_the_least_recently_used_goes_first_and_a_history_over_the_budget_is_not_kept() -> None:
    kept = RememberedCatalogs(budget=100)
    a, b, c = CatalogHistory(), CatalogHistory(), CatalogHistory()
    kept.put("a", 1, a, 40)
    kept.put("b", 1, b, 40)
    assert kept.get("a", 1) is a  # used: "b" is now the least recently used
    kept.put("c", 1, c, 40)
    assert kept.get("a", 1) is a and kept.get("b", 1) is None and kept.get("c", 1) is c
    kept.put("huge", 1, CatalogHistory(), 101)
    assert kept.get("huge", 1) is None and kept.get("a", 1) is a and kept.get("c", 1) is c
    kept.put("a", 2, a, 100)  # the tenant's own older entry makes room first, then the others
    assert kept.get("a", 2) is a and kept.get("c", 1) is None
