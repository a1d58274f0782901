"""Where each fact is stored and which bookkeeping records go with it. The store writes them;
`ledger verify` recomputes them from the facts, so a moved fact or a removed receipt or index
entry is caught like an altered one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.domain.facts import Fact
from ledger.domain.terms import GRANTS
from ledger.domain.usage import month_key
from ledger.store import streams
from schemas.events import PAYMENTS
from schemas.governance import STEP_TYPES

Record = tuple[UUID, dict[str, Any]]


def fact_stream(fact: Fact) -> UUID:
    """A license's lifecycle, a license's usage of one month, the tenant's catalogs, the tenant's
    release steps and policy, or a license's payments."""
    if fact.type == "usage.recorded":
        return streams.usage_stream(fact.tenant, fact.subject, month_key(fact.effective_at))
    if fact.type == "catalog.published":
        return streams.catalog_stream(fact.tenant)
    if fact.type in STEP_TYPES:
        return streams.governance_stream(fact.tenant)
    if fact.type in PAYMENTS:
        return streams.payments_stream(fact.tenant, fact.subject)
    return streams.license_stream(fact.tenant, fact.subject)


def receipt(fact: Fact) -> Record:
    """The idempotency key of an accepted event: written once, at version 1."""
    return (streams.receipt_stream(fact.tenant, fact.source, fact.source_event_id),
            {"tenant": fact.tenant, "sequence": fact.sequence, "type": fact.type,
             "subject": fact.subject, "hash": fact.hash})


def index_entries(fact: Fact, opens_month: bool) -> list[Record]:
    """A grant lists the license under its customer and its tenant; the first usage of a month
    lists the month under the license."""
    if fact.type in GRANTS:
        entry = {"tenant": fact.tenant, "license_id": fact.subject}
        return [(streams.customer_stream(fact.tenant, fact.data["customer_id"]), entry),
                (streams.tenant_licenses_stream(fact.tenant), dict(entry))]
    if fact.type == "usage.recorded" and opens_month:
        return [(streams.usage_months_stream(fact.tenant, fact.subject),
                 {"tenant": fact.tenant, "month": month_key(fact.effective_at)})]
    return []
