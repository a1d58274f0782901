"""The encoders built once for speed give exactly the bytes of `json.dumps` with the same
options: the chain's hash and `ledger verify` (which re-encodes stored records and compares)
depend on every byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.chain import canonical, content, digest, linked_content
from ledger.domain.facts import Fact
from ledger.store.codec import STORAGE_VERSION, _current_seal, chained, encode, fact_record, seal
from schemas.events import DATA_VERSION
from schemas.times import NotRfc3339Error, format_time, parse_time

AWKWARD = {
    "z": "ünïcödé ✓ 𝄞", "a": "quote \" backslash \\ tab \t newline \n nul \x00 esc \x1b del \x7f",
    "n": [0, -1, 2**70, 1.5, 1e16, -0.0, 1e-7], "b": [True, False, None],
    "nested": {"y": {"x": []}, "b": {}}, "sep": "\u2028\u2029",
}


@pytest.mark.parametrize("value", [AWKWARD, {}, {"k": "v"}, [AWKWARD, AWKWARD]])
def test_the_canonical_bytes_are_json_dumps_sorted_and_compact(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical(value) == expected


@pytest.mark.parametrize("value", [AWKWARD, {}, {"k": "v"}])
def test_a_stored_record_is_encoded_as_json_dumps_compact_in_key_order(value: dict) -> None:
    assert encode(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_lone_surrogate_still_cannot_be_encoded() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical({"x": "\ud800"})


@pytest.mark.parametrize("text", ["2026-03-01T10:20:30Z", "2024-02-29t23:59:59z", "0001-01-01T00:00:00Z"])
def test_a_utc_time_without_fraction_parses_as_the_same_moment_as_its_offset_spelling(text: str) -> None:
    fast = parse_time(text)
    assert fast.tzinfo is UTC
    assert fast == parse_time(text[:-1] + ".000000+00:00")


def test_an_impossible_utc_date_is_still_refused_as_not_a_valid_time() -> None:
    with pytest.raises(NotRfc3339Error, match="not a valid time"):
        parse_time("2026-02-30T00:00:00Z")


_TEXT = st.text(max_size=12)  # any code points, lone surrogates included
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_TEXT, _VALUES, max_size=5), texts=st.lists(_TEXT, min_size=5, max_size=5),
       sequence=st.integers(min_value=1, max_value=2**62),
       effective=st.datetimes(timezones=st.just(UTC)), recorded=st.datetimes(timezones=st.just(UTC)))
def test_the_one_step_chain_record_is_the_hash_and_the_bytes_of_the_two_dicts(
        data: dict, texts: list[str], sequence: int, effective: datetime, recorded: datetime) -> None:
    tenant, subject, kind, source, event_id = texts
    draft = Fact(tenant=tenant, subject=subject, type=kind, effective_at=effective,
                 recorded_at=recorded, source=source, source_event_id=event_id, data=data)
    prev = texts[0] * 2
    try:
        body = linked_content(draft, sequence, prev, format_time(recorded))
        expected_hash = digest(body)
        fact = Fact(**{**draft.__dict__, "sequence": sequence, "prev_hash": prev, "hash": expected_hash})
        expected = (expected_hash, encode(fact_record(fact, body=body)))
    except (UnicodeEncodeError, ValueError) as exc:  # the dicts cannot be encoded: nor can this
        with pytest.raises(type(exc)):
            chained(draft, sequence, prev, format_time(recorded), format_time(effective))
        return
    assert chained(draft, sequence, prev, format_time(recorded), format_time(effective)) == expected


def test_the_one_step_chain_record_of_awkward_data_is_what_verify_re_encodes() -> None:
    draft = Fact(tenant="t \"ü\"", subject="s\\1", type="usage.recorded",
                 effective_at=datetime(2026, 3, 1, tzinfo=UTC), recorded_at=datetime(2026, 3, 2, tzinfo=UTC),
                 source="src\n", source_event_id="\u2028", data=AWKWARD)
    fact_hash, stored = chained(draft, 7, "0" * 64, "2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z")
    fact = Fact(**{**draft.__dict__, "sequence": 7, "prev_hash": "0" * 64, "hash": fact_hash})
    assert fact_hash == digest(content(fact))
    assert stored == encode(fact_record(fact))
    assert json.loads(stored)["data"] == json.loads(json.dumps(AWKWARD))


@given(st.text(alphabet="0123456789abcdef", min_size=0, max_size=64))
def test_the_seal_of_a_record_written_today_is_the_seal_of_its_two_versions(fact_hash: str) -> None:
    assert _current_seal(fact_hash) == seal(STORAGE_VERSION, DATA_VERSION, fact_hash)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)
_MOMENTS = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["usage.recorded", "license.granted", "catalog.published",
                             "catalog.drafted", "tenant.configured", "payment.failed"]),
       subject=st.text(), tenant=st.text(), source=st.text(), event_id=st.text(),
       data=st.dictionaries(st.text(max_size=8), _JSON, max_size=5),
       effective=_MOMENTS, recorded=_MOMENTS, position=st.integers(min_value=1, max_value=2**63),
       sequence=st.integers(min_value=1, max_value=2**40), digest=st.text(max_size=64))
def test_a_fact_spelled_out_for_the_relay_is_the_model_s_own_message_byte_for_byte(
        kind: str, subject: str, tenant: str, source: str, event_id: str, data: dict[str, Any],
        effective: datetime, recorded: datetime, position: int, sequence: int, digest: str) -> None:
    from consumers import outbound

    fact = Fact(tenant=tenant, subject=subject, type=kind, effective_at=effective,
                recorded_at=recorded, source=source, source_event_id=event_id, data=data,
                sequence=sequence, prev_hash=digest[::-1], hash=digest, position=position)
    try:
        expected = outbound._through_the_model(fact)
    except UnicodeEncodeError:  # a lone surrogate: neither way can encode it
        with pytest.raises(UnicodeEncodeError):
            outbound.encode_fact(fact)
        return
    assert outbound.encode_fact(fact) == expected


def test_a_usage_fact_takes_the_spelled_out_path_and_a_non_finite_float_the_model_s() -> None:
    from consumers import outbound

    moment = datetime(2026, 3, 1, tzinfo=UTC)
    fact = Fact(tenant="acme", subject="lic-1", type="usage.recorded", effective_at=moment,
                recorded_at=moment, source="billing", source_event_id="e-1",
                data={"feature": "api_calls", "quantity": 3}, sequence=2, hash="ab", prev_hash="cd",
                position=7)
    assert outbound._plain(fact)
    assert not outbound._plain(Fact(**{**fact.__dict__, "data": {"quantity": float("inf")}}))
    assert outbound.encode_fact(fact) == outbound._through_the_model(fact)


def _finite_json(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(map(_finite_json, value))
    if isinstance(value, dict):
        return all(map(_finite_json, value.values()))
    return True


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["usage.recorded", "license.granted", "catalog.published",
                             "tenant.configured", "payment.failed"]),
       texts=st.lists(st.text(max_size=8), min_size=5, max_size=5),
       data=st.dictionaries(st.text(max_size=8), _JSON, max_size=5),
       effective=_MOMENTS, recorded=_MOMENTS, position=st.integers(min_value=1, max_value=2**63),
       sequence=st.integers(min_value=1, max_value=2**40), digest=st.text(max_size=64))
def test_a_record_spelled_out_for_the_relay_is_its_fact_s_message_byte_for_byte(
        kind: str, texts: list[str], data: dict[str, Any], effective: datetime,
        recorded: datetime, position: int, sequence: int, digest: str) -> None:
    """The relay's path from a stored record's JSON gives the very bytes of the fact's path
    (the fact loaded from the record, upcast, then `encode_fact`), and is taken for every
    record of today's formats: the store's own times and finite JSON values."""
    from consumers import outbound
    from ledger.store.eventstore import LedgerStore

    tenant, subject, source, event_id, _ = texts
    fact = Fact(tenant=tenant, subject=subject, type=kind, effective_at=effective.astimezone(UTC),
                recorded_at=recorded.astimezone(UTC), source=source, source_event_id=event_id,
                data=data, sequence=sequence, prev_hash=digest[::-1], hash=digest)
    try:
        stored = encode(fact_record(fact))
    except UnicodeEncodeError:  # a lone surrogate: the store cannot hold it either
        return
    spelled = outbound.encode_record(position, stored)
    if _finite_json(data):
        assert spelled is not None
    if spelled is not None:
        assert spelled == outbound.encode_fact(LedgerStore.fact_of(position, stored))


@pytest.mark.parametrize("change", [
    {"data_version": DATA_VERSION - 1}, {"v": STORAGE_VERSION - 1}, {"data_version": None},
    {"effective_at": "2026-03-01T00:00:00+00:00"}, {"effective_at": "2026-03-01T00:00:00.000000Z"},
    {"recorded_at": "2026-02-30T00:00:00Z"}, {"recorded_at": "2026-03-01 00:00:00Z"},
    {"sequence": True}, {"sequence": "2"}, {"tenant": 7}, {"data": [1]}, {"hash": None},
])
def test_a_record_not_of_today_s_formats_is_left_to_the_fact_s_path(change: dict[str, Any]) -> None:
    """Another version (to be upcast), a time in another spelling (which the fact's path
    would spell anew) or an impossible one (which it refuses), a value the model would change
    or refuse: not spelled out, so the relay loads the fact, exactly as before."""
    from consumers import outbound

    moment = datetime(2026, 3, 1, tzinfo=UTC)
    fact = Fact(tenant="acme", subject="lic-1", type="usage.recorded", effective_at=moment,
                recorded_at=moment, source="billing", source_event_id="e-1",
                data={"feature": "api_calls", "quantity": 3}, sequence=2, hash="ab",
                prev_hash="cd")
    record = fact_record(fact)
    assert outbound.encode_record(7, encode(record)) is not None  # the record as written
    assert outbound.encode_record(7, encode({**record, **change})) is None
    for text in (b"not json", b"[]", encode(record).replace(b'"quantity":3', b'"quantity":NaN'),
                 encode(record).replace(b'"quantity":3', b'"quantity":1e999')):
        assert outbound.encode_record(7, text) is None
