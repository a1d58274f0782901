"""The index row each fact gets in our own table, beside the fact itself in the library's table.

The store writes one row per fact; `ledger verify` derives the same row from the fact and its
position and compares, so an index row that was removed, added or altered is caught like an
altered fact. The row is also the idempotency receipt: (tenant, source, source_event_id) is unique.
"""

from __future__ import annotations

from typing import NamedTuple

from ledger.domain.facts import Fact
from ledger.domain.terms import GRANTS
from ledger.domain.usage import month_key
from schemas.events import PAYMENTS
from schemas.governance import STEP_TYPES

LIFECYCLE, USAGE, CATALOG = "lifecycle", "usage", "catalog"
GOVERNANCE, PAYMENT = "governance", "payment"  # release steps and policy; a license's payments
CATALOG_TYPES = ("catalog.published", "catalog.unscheduled")


class IndexRow(NamedTuple):
    """Which license (or catalog, or release) a fact belongs to, and where it is in the ledger."""

    tenant: str
    sequence: int
    position: int
    kind: str
    subject: str
    month: str | None  # the usage month, for usage facts
    customer: str | None  # the customer of a grant: which licenses a customer (and tenant) has
    source: str
    source_event_id: str


def kind_of(event_type: str) -> str:
    if event_type == "usage.recorded":
        return USAGE
    if event_type in CATALOG_TYPES:  # what the catalog history is made of
        return CATALOG
    if event_type in STEP_TYPES:
        return GOVERNANCE
    if event_type in PAYMENTS:
        return PAYMENT
    return LIFECYCLE


def index_row(fact: Fact, position: int) -> IndexRow:
    kind = kind_of(fact.type)
    customer = fact.data.get("customer_id") if fact.type in GRANTS else None
    return IndexRow(fact.tenant, fact.sequence, position, kind, fact.subject,
                    month_key(fact.effective_at) if kind == USAGE else None,
                    customer if isinstance(customer, str) else None,
                    fact.source, fact.source_event_id)
