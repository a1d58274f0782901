"""Fuzzing the envelope parser and POST /v1/events: every envelope is accepted, a duplicate or
rejected with a known code; never a 5xx, never a crash. POST /v1/events is driven in-process
(ASGI, no sockets) in batches of 100, so 10,000 envelopes per run stay cheap; the run prints
its count and time (docs/security.md has the figures of the last run). Each batch is made
from a seed hypothesis draws: a failure names its seed, and `Billing(seed)` makes it again."""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import InvalidEventError, parse_envelope
from tests.builders import catalog_envelope
from tests.integration.test_api_harness import built_api, sqlite
from tests.security.envelopes import KNOWN_CODES, UNREADABLE, Billing

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BATCH = 100
BATCHES = 100  # 10,000 envelopes
seeds = st.integers(min_value=0, max_value=2**64)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@st.composite
def raw_envelopes(draw: st.DrawFn) -> Any:
    """An envelope (as a value, as JSON text, as bytes), one of its fields replaced by any JSON
    value, or JSON, text and bytes of no envelope at all."""
    envelope = Billing(draw(seeds)).envelope()
    form = draw(st.integers(0, 5))
    if form == 0 and isinstance(envelope, dict) and envelope:
        envelope[draw(st.sampled_from(sorted(envelope)))] = draw(json_values)
    if form == 1:
        return json.dumps(envelope)
    if form == 2:
        return json.dumps(envelope).encode("utf-8")
    if form == 3:
        return draw(json_values | st.text(max_size=100) | st.binary(max_size=100))
    if form == 4 and draw(st.booleans()):
        return draw(st.sampled_from(UNREADABLE))  # what JSON cannot build, as a line or record
    return envelope


@given(raw_envelopes())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_envelope_parser_accepts_or_names_what_is_wrong_and_nothing_else(raw: Any) -> None:
    try:
        parsed = parse_envelope(raw)
    except InvalidEventError as exc:
        assert str(exc)
        return
    again = parse_envelope({"specversion": "1.0", "id": parsed.id, "source": parsed.source,
                            "type": parsed.type, "time": parsed.time.isoformat(),
                            "subject": parsed.subject, "data": parsed.data})
    assert again.data == parsed.data and again.time == parsed.time  # one spelling per fact
    json.dumps(parsed.data, allow_nan=False)  # what is recorded is plain JSON


def test_ten_thousand_fuzzed_envelopes_are_each_answered_with_a_known_outcome(tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    with built_api(sqlite(tmp_path)) as (app, api), TestClient(app) as client:
        api.record([catalog_envelope("2025-01-01")])
        client.headers["Authorization"] = f"Bearer {api.key('billing')}"
        client.headers["Content-Type"] = "application/json"

        @given(seeds)
        @settings(max_examples=BATCHES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def post_a_batch(seed: int) -> None:
            answer = client.post("/v1/events", content=Billing(seed).body(BATCH))
            assert answer.status_code == 200, f"seed {seed}: {answer.text}"
            results = answer.json()["results"]
            assert len(results) == BATCH
            for result in results:
                seen[result["status"]] += 1
                if result["status"] == "rejected":
                    assert result["code"] in KNOWN_CODES and result["message"], (seed, result)
                    seen[result["code"]] += 1
                else:
                    assert result["status"] in ("accepted", "duplicate"), (seed, result)

        started = time.perf_counter()
        post_a_batch()
        elapsed = time.perf_counter() - started
    total = seen["accepted"] + seen["duplicate"] + seen["rejected"]
    print(f"\nfuzzed POST /v1/events: {total} envelopes in {elapsed:.1f} s; {dict(seen)}")
    assert total >= BATCH * BATCHES
    # The generator reaches the rules, not only the schema.
    assert seen["accepted"] and seen["duplicate"] and seen["invalid_event"] and seen["license_exists"]
