"""Reading the facts of controlled change: a tenant's release steps and policy, a license's
payments. They are written like every fact (`LedgerStore.append`, through `Ledger.ingest`)."""

from __future__ import annotations

from ledger.domain.facts import Fact
from ledger.store import streams
from ledger.store.codec import decode, to_fact
from ledger.store.eventstore import LedgerStore


def governance_facts(store: LedgerStore, tenant: str) -> list[Fact]:
    """The tenant's release steps and policy changes, in recorded order."""
    found = store.recorder.select_events(streams.governance_stream(tenant))
    return [to_fact(decode(e)) for e in found]


def payment_facts(store: LedgerStore, tenant: str, license_id: str) -> list[Fact]:
    found = store.recorder.select_events(streams.payments_stream(tenant, license_id))
    return [to_fact(decode(e)) for e in found]
