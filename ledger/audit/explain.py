"""`ledger explain` and GET /v1/customers/{id}/explain: the check's answer at a moment, as
known at a moment, and the facts that decided it (see `ledger.domain.explain`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.check import decide
from ledger.domain.explain import explanation
from ledger.domain.fold import fold
from ledger.domain.state import LicenseState
from ledger.domain.usage import CountedUsage
from ledger.service import Ledger
from ledger.store.eventstore import LedgerStore
from schemas.times import format_time


def explain(ledger: Ledger, store: LedgerStore, tenant: str, customer_id: str, feature: str,
            at: datetime, known_at: datetime, quantity: int = 1) -> dict[str, Any]:
    """The check's answer from the replayed states (the same fold), and why, in words."""
    states = ledger.replay(tenant, at, known_at, customer_id=customer_id)
    decision = decide([LicenseState.from_dict(s, at) for s in states], feature, quantity)
    state = next((s for s in states if s["license_id"] == decision.license_id), None)
    applied: tuple[Any, ...] = ()
    usage = CountedUsage.of((), known_at)
    catalogs = store.catalogs(tenant)
    positions: dict[int, int] = {}
    if state is not None:
        license_id = state["license_id"]
        applied = fold(store.license_facts(tenant, license_id), catalogs, at, known_at).applied
        usage = CountedUsage.of(store.usage_facts(tenant, license_id), known_at)
        positions = store.positions(tenant, license_id)
    words, facts = explanation(decision, feature, quantity, at, known_at, state, applied, catalogs, usage)
    for fact in facts:  # the catalog's position is not among the license's
        if fact["position"] is None:
            fact["position"] = positions.get(fact["sequence"])
        if fact["position"] is None:
            found = store.fact_at_sequence(tenant, fact["sequence"])
            fact["position"] = found.position if found else None
    return {"customer_id": customer_id, "feature": feature, "at": format_time(at),
            "known_at": format_time(known_at), "check": decision.as_dict(),
            "explanation": words, "facts": facts}
