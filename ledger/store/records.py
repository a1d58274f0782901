"""The index row each fact gets in our own table, beside the fact itself in the library's table.

The store writes one row per fact; `ledger verify` derives the same row from the fact and its
position and compares, so an index row that was removed, added or altered is caught like an
altered fact. The row is also the idempotency receipt: (tenant, source, source_event_id) is unique.

A usage fact's row also carries what counting it needs (`feature`, `quantity`, `effective_at`,
`recorded_at`, the times as integer microseconds since 1970-01-01 UTC, which sort and compare
exactly on both databases), so that a license's usage is summed in SQL instead of decoding
every usage record (`factindex.FactIndex.usage_total`). Those values change answers, so
`ledger verify` compares them with the fact like the rest of the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

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
    feature: str | None = None  # the usage columns: None but for usage facts
    quantity: int | None = None
    effective_at: int | None = None  # microseconds since the epoch (`micros`)
    recorded_at: int | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A time as the integer the usage columns hold: exact (the ledger keeps microseconds) and
    in time order, so SQL compares it as the fold compares datetimes."""
    return (moment - _EPOCH) // _MICRO


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
    """The row of a fact at `position`. Built as the tuple it is (`tuple.__new__`, not the
    named tuple's Python `__new__`): ingest derives one per event and verify again per fact."""
    kind = kind_of(fact.type)
    if kind == USAGE:
        usage = usage_columns(fact)
        return _row((fact.tenant, fact.sequence, position, USAGE, fact.subject,
                     month_key(fact.effective_at), None, fact.source, fact.source_event_id,
                     *usage))
    customer = fact.data.get("customer_id") if fact.type in GRANTS else None
    return _row((fact.tenant, fact.sequence, position, kind, fact.subject, None,
                 customer if isinstance(customer, str) else None, fact.source,
                 fact.source_event_id, None, None, None, None))


def _row(values: tuple[Any, ...]) -> IndexRow:
    return tuple.__new__(IndexRow, values)


def usage_columns(fact: Fact) -> tuple[str | None, int | None, int, int]:
    """The usage columns of a usage fact's row (accepted usage always has a text feature and an
    integer quantity; anything else is stored as None, never guessed)."""
    feature, quantity = fact.data.get("feature"), fact.data.get("quantity")
    return (feature if isinstance(feature, str) else None,
            quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None,
            micros(fact.effective_at), micros(fact.recorded_at))


def index_rows(facts: Sequence[Fact], positions: Sequence[int] | None = None) -> list[IndexRow]:
    """`[index_row(f, p) for f, p in zip(facts, positions)]` (positions 0 without them) for a
    batch being written (tests/unit/test_index_rows.py compares them)."""
    return [_row(values) for values in index_values(facts, positions)]


def index_values(facts: Sequence[Fact], positions: Sequence[int] | None = None
                 ) -> list[tuple[Any, ...]]:
    """The values of `index_rows` as plain tuples, as the insert binds them (SQLite's driver
    binds a tuple's items directly, a named tuple's through the sequence protocol: ~1 us a
    row more), the cost that repeats within a batch paid once: an event type's kind, and a
    time's integer (and an effective time's month) once per distinct time, not per row; its
    facts share one recorded time."""
    kinds: dict[str, str] = {}
    moments: dict[datetime, int] = {}
    months: dict[datetime, str] = {}
    rows: list[tuple[Any, ...]] = []
    for fact, position in zip(facts, [0] * len(facts) if positions is None else positions,
                              strict=True):
        kind = kinds.get(fact.type)
        if kind is None:
            kind = kinds[fact.type] = kind_of(fact.type)
        data = fact.data
        if kind != USAGE:
            customer = data.get("customer_id") if fact.type in GRANTS else None
            rows.append((fact.tenant, fact.sequence, position, kind, fact.subject, None,
                         customer if isinstance(customer, str) else None, fact.source,
                         fact.source_event_id, None, None, None, None))
            continue
        effective, recorded = fact.effective_at, fact.recorded_at
        if effective not in months:  # not `moments`: it may hold the time as a recorded one
            moments[effective], months[effective] = micros(effective), month_key(effective)
        if recorded not in moments:
            moments[recorded] = micros(recorded)
        feature, quantity = data.get("feature"), data.get("quantity")
        rows.append((
            fact.tenant, fact.sequence, position, USAGE, fact.subject, months[effective], None,
            fact.source, fact.source_event_id, feature if isinstance(feature, str) else None,
            quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None,
            moments[effective], moments[recorded]))
    return rows
