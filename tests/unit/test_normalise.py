"""`normalise` gives the same JSON values as converting every element one by one, also when it
keeps a flat object's values as they are (a copy, never the object it was given)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.envelope import normalise
from schemas.times import format_time


def element_by_element(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        return {k: element_by_element(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [element_by_element(v) for v in value]
    return value


_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4)
           | st.datetimes(timezones=st.just(UTC)))
_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner)
                       | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=10)


@given(st.dictionaries(st.text(max_size=3), _VALUES, max_size=5))
def test_normalised_data_is_every_element_converted(data: dict[str, Any]) -> None:
    found = normalise(data)
    assert found == element_by_element(data)
    assert found is not data


def test_a_time_inside_data_becomes_its_utc_text() -> None:
    assert normalise({"plan": "pro", "ends_at": datetime(2027, 3, 1, tzinfo=UTC)}) == {
        "plan": "pro", "ends_at": "2027-03-01T00:00:00Z"}
