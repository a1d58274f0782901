"""The encoders built once for speed give exactly the bytes of `json.dumps` with the same
options: the chain's hash and `ledger verify` (which re-encodes stored records and compares)
depend on every byte."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from ledger.domain.chain import canonical
from ledger.store.codec import encode
from schemas.times import NotRfc3339Error, parse_time

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
