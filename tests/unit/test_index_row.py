"""A fact's index row, built as a plain tuple for speed, is exactly the named tuple of its
fields (what the table holds and `ledger verify` compares), for every kind of fact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.facts import Fact
from ledger.domain.usage import month_key
from ledger.store.records import IndexRow, index_row, kind_of, micros

TYPES = ["usage.recorded", "license.granted", "license.trial_started", "seat.assigned",
         "catalog.published", "payment.failed", "license.revoked"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.floats())
MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.just(UTC))


@given(st.sampled_from(TYPES), st.dictionaries(st.sampled_from(
    ["feature", "quantity", "customer_id", "plan"]), VALUES), MOMENTS, st.integers(0, 2**40),
    st.integers(1, 2**40))
def test_the_row_of_a_fact_is_the_named_tuple_of_its_fields(kind: str, data: dict, moment: datetime,
                                                           later: int, position: int) -> None:
    fact = Fact(tenant="acme", subject="lic-1", type=kind, effective_at=moment,
                recorded_at=moment + timedelta(microseconds=later) if moment.year < 9999 else moment,
                source="billing/x", source_event_id="e-1", data=data, sequence=7)
    usage = kind == "usage.recorded"
    customer = data.get("customer_id") if kind in ("license.granted", "license.trial_started") else None
    feature, quantity = data.get("feature"), data.get("quantity")
    expected = IndexRow(
        "acme", 7, position, kind_of(kind), "lic-1", month_key(moment) if usage else None,
        customer if isinstance(customer, str) else None, "billing/x", "e-1",
        *((feature if isinstance(feature, str) else None,
           quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None,
           micros(fact.effective_at), micros(fact.recorded_at)) if usage else (None,) * 4))
    row = index_row(fact, position)
    assert type(row) is IndexRow and row == expected and row._asdict() == expected._asdict()
    assert row.position == position and tuple(row) == tuple(expected)
