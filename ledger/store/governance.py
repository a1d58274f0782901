"""Reading the facts of controlled change: a tenant's release steps and policy, a license's
payments. They are facts of the tenant's chain like every other, written through
`Ledger.ingest` under the tenant's lock, each with its index row (kind `governance` or
`payment`) that these reads go through."""

from __future__ import annotations

from ledger.domain.facts import Fact
from ledger.store.eventstore import LedgerStore


def governance_facts(store: LedgerStore, tenant: str) -> list[Fact]:
    """The tenant's release steps and policy changes, in recorded order."""
    return store.governance_facts(tenant)


def payment_facts(store: LedgerStore, tenant: str, license_id: str) -> list[Fact]:
    """A license's payment events, in recorded order."""
    return store.payment_facts(tenant, license_id)
