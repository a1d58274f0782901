"""`ledger verify` takes a record in one pass when its bytes are exactly those the ledger writes
(`fact_checks._as_written`); every other record goes the long way, check by check. The one pass
must accept exactly what the long way accepts, over awkward values, and nothing altered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.facts import Fact
from ledger.fact_checks import ChainBrokenError, _as_written, _Chain, _check_content
from ledger.store.codec import chained, encode
from schemas.times import format_time

_TEXT = st.text(max_size=10)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=8)
_MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC))


def _written(data: dict, texts: list[str], sequence: int, effective: datetime,
             recorded: datetime) -> tuple[Fact, bytes] | None:
    tenant, subject, kind, source, event_id = texts
    draft = Fact(tenant=tenant, subject=subject, type=kind, effective_at=effective,
                 recorded_at=recorded, source=source, source_event_id=event_id, data=data)
    try:
        fact_hash, raw = chained(draft, sequence, "0" * 64, format_time(recorded),
                                 format_time(effective))
    except ValueError:  # a lone surrogate: the ledger cannot write it either
        return None
    return Fact(**{**draft.__dict__, "sequence": sequence, "prev_hash": "0" * 64,
                   "hash": fact_hash, "position": 3}), raw


def _long_way_accepts(record: dict, raw: bytes) -> bool:
    """The long way's checks of the record's content and bytes (its link to the event before
    it is checked after either way, so the chain is taken to expect this record)."""
    chain = _Chain(record["sequence"], record["prev_hash"])
    try:
        _check_content({record["tenant"]: chain}, 3, "stream", raw, record)
    except ChainBrokenError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_TEXT, _VALUES, max_size=5), texts=st.lists(_TEXT, min_size=5, max_size=5),
       sequence=st.integers(min_value=1, max_value=2**62), effective=_MOMENTS, recorded=_MOMENTS)
def test_a_record_as_the_ledger_writes_it_passes_in_one_pass_as_the_same_fact(
        data: dict, texts: list[str], sequence: int, effective: datetime, recorded: datetime) -> None:
    written = _written(data, texts, sequence, effective, recorded)
    if written is None:
        return
    fact, raw = written
    record = json.loads(raw)
    assert _as_written(record, raw, 3) == fact
    assert _long_way_accepts(record, raw)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_TEXT, _VALUES, max_size=4), texts=st.lists(_TEXT, min_size=5, max_size=5),
       sequence=st.integers(min_value=1, max_value=2**40), effective=_MOMENTS, recorded=_MOMENTS,
       field=st.sampled_from(["v", "tenant", "subject", "type", "effective_at", "recorded_at",
                              "source", "source_event_id", "data", "data_version", "sequence",
                              "prev_hash", "hash", "seal"]),
       value=_VALUES)
def test_a_record_with_any_field_altered_never_passes_in_one_pass_unless_the_long_way_accepts_it(
        data: dict, texts: list[str], sequence: int, effective: datetime, recorded: datetime,
        field: str, value: object) -> None:
    written = _written(data, texts, sequence, effective, recorded)
    if written is None:
        return
    record = {**json.loads(written[1]), field: value}
    try:
        raw = encode(record)
    except ValueError:
        return
    record = json.loads(raw)
    if _as_written(record, raw, 3) is not None:
        assert _long_way_accepts(record, raw)
    if record != json.loads(written[1]):
        assert _as_written(record, raw, 3) is None


def test_a_record_with_a_time_in_another_spelling_goes_the_long_way_and_is_refused_there() -> None:
    written = _written({"seats": 5}, ["t", "lic", "license.granted", "crm", "e1"], 1,
                       datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    assert written is not None
    record = {**json.loads(written[1]), "effective_at": "2026-03-01T00:00:00+00:00"}
    raw = encode(record)
    assert _as_written(record, raw, 3) is None
    assert not _long_way_accepts(record, raw)
    assert _long_way_accepts(json.loads(written[1]), written[1])
