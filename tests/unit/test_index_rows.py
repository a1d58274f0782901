"""A batch's index rows, built at once for the write, are exactly the rows `index_row` derives
one by one (which `ledger verify` compares with the stored ones), for any facts and positions,
whatever times they share (equal instants in other zones included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.facts import Fact
from ledger.store.records import index_row, index_rows, index_values
from schemas.events import EVENT_TYPES, PAYMENTS
from schemas.governance import STEP_TYPES

_TYPES = st.sampled_from(sorted({*EVENT_TYPES, *PAYMENTS, *STEP_TYPES, "catalog.unscheduled"}))
_ODD = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
_TIMES = st.datetimes(timezones=st.just(UTC))
_SHARED = st.sampled_from([datetime(2026, 1, 31, 23, 30, tzinfo=UTC), datetime(2026, 2, 1, 0, 0, 0, 1, tzinfo=UTC)])
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=7))])
_ANY_TIME = _TIMES | st.builds(lambda at, zone: at.astimezone(zone), _SHARED, _ZONES)


@st.composite
def facts(draw: st.DrawFn, recorded: datetime) -> Fact:
    data: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={
        "feature": _ODD, "quantity": _ODD, "customer_id": _ODD, "plan": st.just("pro")}))
    return Fact(tenant=draw(st.sampled_from(["acme", "other"])), subject=draw(st.text(min_size=1, max_size=5)),
                type=draw(_TYPES), effective_at=draw(_ANY_TIME),
                recorded_at=draw(st.just(recorded) | _ANY_TIME), source="billing/x",
                source_event_id=draw(st.text(min_size=1, max_size=5)), data=data,
                sequence=draw(st.integers(1, 2**62)))


@settings(max_examples=300, deadline=None)
@given(st.data(), _TIMES)
def test_a_batch_of_index_rows_is_each_fact_s_own_index_row(data: st.DataObject, recorded: datetime) -> None:
    batch = data.draw(st.lists(facts(recorded), max_size=12))
    built = index_rows(batch)
    assert built == [index_row(f, 0) for f in batch]
    assert [type(r) for r in built] == [type(index_row(f, 0)) for f in batch]
    positions = data.draw(st.lists(st.integers(1, 2**63 - 1), min_size=len(batch), max_size=len(batch)))
    assert index_rows(batch, positions) == [index_row(f, p) for f, p in zip(batch, positions, strict=True)]
    values = index_values(batch, positions)  # what the insert binds: the same values, plain tuples
    assert values == [tuple(index_row(f, p)) for f, p in zip(batch, positions, strict=True)]
    assert all(type(v) is tuple for v in values)


def test_a_batch_s_rows_need_one_position_per_fact() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    fact = Fact(tenant="acme", subject="lic", type="license.granted", effective_at=at, recorded_at=at,
                source="s", source_event_id="g", data={"customer_id": "c"}, sequence=1)
    with pytest.raises(ValueError):
        index_rows([fact], [1, 2])
    with pytest.raises(ValueError):
        index_rows([fact, fact], [1])


def test_usage_rows_of_one_batch_share_its_recorded_time() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    usage = [Fact(tenant="acme", subject="lic", type="usage.recorded", effective_at=datetime(2026, 2, d, tzinfo=UTC),
                  recorded_at=at, source="s", source_event_id=f"u{d}", data={"feature": "api_calls", "quantity": d},
                  sequence=d) for d in (1, 2)]
    rows = index_rows(usage)
    assert [(r.month, r.feature, r.quantity, r.recorded_at) for r in rows] == [
        ("2026-02", "api_calls", 1, 1772366400000005), ("2026-02", "api_calls", 2, 1772366400000005)]


def test_a_usage_time_first_seen_as_another_facts_recorded_time_gets_its_month() -> None:
    """Found by the property above (a KeyError that would fail the whole batch): one usage
    fact recorded at the moment another takes effect, the recorded one first in the batch."""
    at = datetime(2026, 2, 1, 0, 0, 0, 1, tzinfo=UTC)
    earlier = datetime(2026, 1, 1, tzinfo=UTC)
    first = Fact(tenant="acme", subject="lic", type="usage.recorded", effective_at=earlier,
                 recorded_at=at, source="s", source_event_id="u1",
                 data={"feature": "api_calls", "quantity": 1}, sequence=1)
    second = Fact(tenant="acme", subject="lic", type="usage.recorded", effective_at=at,
                  recorded_at=at, source="s", source_event_id="u2",
                  data={"feature": "api_calls", "quantity": 1}, sequence=2)
    assert index_rows([first, second]) == [index_row(first, 0), index_row(second, 0)]
