"""The envelope validated at once (envelope and data in one typed model, JSON text read by
pydantic) is only a shortcut: whatever it accepts, the step-by-step path accepts with the same
result, and everything else is judged, and worded, by the step-by-step path as before."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.at_once import _at_once
from schemas.envelope import EnvelopeText, InvalidEventError, _step_by_step, parse_envelope
from tests.builders import CATALOG, envelope

SEEDS: list[dict[str, Any]] = [
    envelope("license.granted", "2026-03-01", customer_id="c", plan="pro", seats=5, region="de",
             ends_at="2027-03-01T00:00:00+01:00", tenant="acme"),
    envelope("license.trial_started", "2026-03-01T10:00:00.123456789Z", customer_id="c", plan="pro",
             ends_at="2026-04-01T00:00:00Z"),
    envelope("license.trial_converted", "2026-03-01", plan=None),
    envelope("license.upgraded", "2026-03-01", plan="enterprise"),
    envelope("license.suspended", "2026-03-01", reason="payment_failed"),
    envelope("license.reinstated", "2026-03-01"),
    envelope("license.renewed", "2026-03-01", ends_at="2028-01-01T00:00:00-00:00"),
    envelope("license.seats_changed", "2026-03-01", seats=7),
    envelope("seat.assigned", "2026-03-01", user_id="u-1"),
    envelope("usage.recorded", "2026-03-01T12:30:00Z", feature="api_calls", quantity=3, tenant="t"),
    envelope("catalog.published", "2026-01-01", CATALOG["version"], **CATALOG),
    envelope("payment.failed", "2026-03-01", amount=100, currency="eur", invoice_id="i",
             period_start="2026-03-01T00:00:00Z", period_end="2026-04-01T00:00:00Z", reason=None),
    envelope("catalog.approved", "2026-03-01", "2026-03", actor="ann", digest="0" * 64),
    envelope("tenant.configured", "2026-03-01", "acme", actor="ann", approvals_required=2),
]
for seed in SEEDS[:3]:
    seed.update(dataversion=1, datacontenttype="application/json", traceparent="00-ab")

# Values that the two paths could take differently if they read JSON or types differently.
ODD: list[Any] = [None, "", "x" * 501, 0, 1, -1, 1.0, 1.5, True, False, "1", "1.0", " 1 ", "1_0",
                  10**30, float("inf"), float("nan"), [], {}, [1], {"a": 1}, "\ud800", "a\x00b",
                  "2026-03-01T00:00:00", "2026-03-01 00:00:00Z", "2026-03-01T24:00:00Z",
                  "2026-02-30T00:00:00Z", "2026-03-01T00:00:00+01:60", "9999-12-31T23:59:59-01:00",
                  "2026-03-01T23:59:60Z", "2026-03-01t00:00:00z", "2026-03-01T00:00:00Z\n",
                  "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-01T00:60:00Z",
                  "\uff12026-03-01T00:00:00Z", "2026-03-01T00:00:00.000Z", "2026-03-01T00:00:00+00:00",
                  "+2026-03-01T00:00:00Z", "2026-3-01T00:00:00Z", "2026-03-01T00:00:00ZZ",
                  1772323200, "license.granted", "usage.recorded", "1.0", "application/json",
                  "DE", "zz", "EUR", "api_calls", datetime(2026, 3, 1, tzinfo=UTC),
                  datetime(2026, 3, 1)]
KEYS = ["specversion", "id", "source", "type", "time", "subject", "tenantid", "datacontenttype",
        "dataschema", "dataversion", "data", "traceparent", "colour"]
DATA_KEYS = ["customer_id", "plan", "seats", "starts_at", "ends_at", "region", "feature",
             "quantity", "reason", "user_id", "amount", "currency", "period_start", "period_end",
             "version", "plans", "actor", "digest", "approvals_required", "colour"]


def outcome(parse: Any, raw: Any, **kw: Any) -> tuple[Any, ...]:
    """What a parser made of `raw`; the repr tells 1 from 1.0 and True, and names the zone."""
    try:
        return ("accepted", repr(parse(raw, **kw)))
    except InvalidEventError as exc:
        return ("refused", str(exc), exc.event_id, exc.source)


def same_everywhere(raw: Any) -> None:
    """The shortcut gives the steps' answer or none; the parser gives the steps' answer."""
    for text in (True, False):
        expected = outcome(_step_by_step, raw, text=text)
        assert outcome(parse_envelope, raw, text=text) == expected
    if isinstance(raw, dict | bytes | str):
        quick = _at_once(raw) if not isinstance(raw, dict) or isinstance(raw.get("data"), dict) else None
        if quick is not None:
            assert ("accepted", repr(quick)) == outcome(_step_by_step, raw, text=True)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    raw = json.loads(json.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(0, 3))):
        where = raw["data"] if draw(st.booleans()) and isinstance(raw.get("data"), dict) else raw
        key = draw(st.sampled_from(DATA_KEYS if where is not raw else KEYS))
        if draw(st.integers(0, 4)) == 0:
            where.pop(key, None)
        else:
            where[key] = copy.deepcopy(draw(st.sampled_from(ODD)))  # ODD's own stay as they are
    return raw


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_an_object_gets_the_step_by_step_answer(raw: dict[str, Any]) -> None:
    same_everywhere(raw)


def dumped(raw: dict[str, Any], ascii_only: bool) -> bytes:
    return json.dumps(raw, ensure_ascii=ascii_only, default=str).encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_json_text_gets_the_step_by_step_answer(raw: dict[str, Any], ascii_only: bool) -> None:
    text = dumped(raw, ascii_only)
    same_everywhere(text)
    same_everywhere(EnvelopeText(text))
    try:
        same_everywhere(text.decode())
    except UnicodeDecodeError:  # a lone surrogate written as UTF-8 bytes: no str to send
        pass


USAGE = json.dumps(SEEDS[9])[1:-1]  # the members of a valid envelope, without the braces

# JSON text where a reader could differ from `json.loads`: each must get the same answer.
TEXTS: list[bytes] = [
    ("{" + USAGE + ', "id": "other"}').encode(),  # a duplicate key: the last one counts
    ("{" + USAGE + ', "subject": "a", "subject": "b"}').encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": 3, "quantity": 4') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": 0, "quantity": 4') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": 4, "quantity": 0') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": ' + "9" * 5000) + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": ' + "9" * 4000) + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": 3.0') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": 3e0') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": NaN') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": Infinity') + "}").encode(),
    ("{" + USAGE.replace('"quantity": 3', '"quantity": -Infinity') + "}").encode(),
    ("{" + USAGE + ', "dataversion": NaN}').encode(),
    ("{" + USAGE + ', "dataversion": 1e400}').encode(),
    ("{" + USAGE + ', "dataversion": "1"}').encode(),
    ("{" + USAGE + ', "dataversion": 0}').encode(),
    ("{" + USAGE + ', "dataversion": true}').encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "\\ud800"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "\\udc00x"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "\\ud83d\\ude00"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "\\u0000"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "a\tb"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "\\u00e9"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "é"') + "}").encode(),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "\xff"') + "}").encode("latin-1"),
    ("{" + USAGE.replace('"feature": "api_calls"', '"feature": "') + "\ud800\"}").encode(
        "utf-8", "surrogatepass"),
    ("{" + USAGE + "}").encode() + b"\xc0\xaf",
    b"\xef\xbb\xbf{" + USAGE.encode() + b"}",  # a byte order mark
    b" \t\r\n{" + USAGE.encode() + b"}\n \t\r",
    b"\x0c{" + USAGE.encode() + b"}",  # a form feed is not JSON white space
    b"{" + USAGE.encode() + b"}\x00",
    b"{" + USAGE.encode() + b"} {}",
    b"{" + USAGE.encode() + b",}",
    b"{" + USAGE.encode().replace(b'"source"', b"'source'") + b"}",
    b"{" + USAGE.encode().replace(b'{"feature"', b'[' * 3000 + b']' * 3000 + b', {"feature"') + b"}",
    b"[{" + USAGE.encode() + b"}]",
    b"null", b"", b"{}", b'"text"', b"1",
    ("{" + USAGE.replace('"time": "2026-03-01T12:30:00Z"', '"time": "2026-03-01T12:30:00"') + "}").encode(),
    ("{" + USAGE.replace('"time": "2026-03-01T12:30:00Z"', '"time": 1772368200') + "}").encode(),
    ("{" + USAGE.replace('"time": "2026-03-01T12:30:00Z"', '"time": "0001-01-01T00:00:00+01:00"')
     + "}").encode(),
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_json_a_reader_could_take_differently_gets_the_same_answer(text: bytes) -> None:
    same_everywhere(text)
    same_everywhere(EnvelopeText(text))
    try:
        same_everywhere(text.decode())
    except UnicodeDecodeError:
        pass


def test_the_shortcut_takes_the_usual_envelopes() -> None:
    """Not a rule of the ledger: a guard that the shortcut is taken at all (for a time in its
    usual spelling, UTC in whole seconds)."""
    usual = [seed for seed in SEEDS if len(seed["time"]) == 20 and seed["time"].endswith("Z")]
    assert len(usual) == len(SEEDS) - 1
    for seed in usual:
        assert _at_once(seed) is not None, seed["type"]
        assert _at_once(json.dumps(seed).encode()) is not None, seed["type"]


def test_older_data_and_mere_objects_take_the_steps() -> None:
    old = {**SEEDS[9], "dataversion": 0}
    assert _at_once(old) is None and _at_once(json.dumps(old)) is None
    assert repr(parse_envelope(old)) == repr(_step_by_step(old, text=True))
