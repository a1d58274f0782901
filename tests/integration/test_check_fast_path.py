"""The check's fast path (`ledger.api.fastcheck`) answers exactly what the full stack answers:
the same status, headers and bytes, for hits it takes and for every request it hands on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.api import create_app
from ledger.api.cache import EntitlementCache
from ledger.api.fastcheck import FastCheck
from projections.embedded import Follower
from projections.readmodel import ReadModels
from tests.builders import envelope
from tests.integration.test_api_harness import Api, built_api, sqlite

JSON = {"Content-Type": "application/json"}


def _as_served(models: ReadModels, follower: Follower) -> EntitlementCache:
    return EntitlementCache(models, hint=follower.reached, behind=follower.behind)  # as serve


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[tuple[TestClient, TestClient, Api, list[str]]]:
    """The app with its fast path and one without it over the same parts (one cache), and
    the paths of the requests the fast path handed on."""
    handed_on: list[str] = []
    full = FastCheck.full

    async def counted(self: FastCheck, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            handed_on.append(scope["path"])
        await full(self, scope, receive, send)

    monkeypatch.setattr(FastCheck, "full", counted)
    with fast_and_full(tmp_path) as (fast_app, slow_app, api):
        with TestClient(fast_app) as fast, TestClient(slow_app) as slow:
            yield fast, slow, api, handed_on


@contextmanager
def fast_and_full(tmp_path: Path) -> Iterator[tuple[FastAPI, FastAPI, Api]]:
    """The app with its fast path and one without it over the same parts (one cache), two
    customers granted: c1 on pro, c2 on basic."""
    with built_api(sqlite(tmp_path), cache=_as_served) as (fast_app, api):
        api.keys.recheck = 3600.0  # no revocation count falls due during the test
        ports = fast_app.state.ports
        slow_app = create_app(api.wiring, api.models, api.keyring, keys=api.keys,
                              follower=api.follower, clock=api.clock, cache=ports.cache,
                              fast_check=False)
        api.with_catalog().record([
            envelope("license.granted", "2026-02-01", "lic-1", customer_id="c1", plan="pro"),
            envelope("license.granted", "2026-02-01", "lic-2", customer_id="c2", plan="basic"),
        ])
        yield fast_app, slow_app, api


def _same(fast: TestClient, slow: TestClient, **request: Any) -> int:
    """Send the request to both apps (the fast one first); their answers are identical."""
    method = request.pop("method", "POST")
    path = request.pop("path", "/v1/check")
    a = fast.request(method, path, **request)
    b = slow.request(method, path, **request)
    assert (a.status_code, a.headers.multi_items(), a.content) == \
        (b.status_code, b.headers.multi_items(), b.content), request
    return a.status_code


def test_hits_and_every_other_request_get_the_full_stacks_bytes(apps: Any) -> None:
    fast, slow, api, handed_on = apps
    service, auditor = api.key("service"), api.key("auditor")
    auth = {"Authorization": f"Bearer {service}", **JSON}
    hits = [b'{"customer_id":"c1","feature":"sso"}',
            b'{"customer_id":"c1","feature":"api_calls","quantity":3}',
            b'{"customer_id":"c2","feature":"sso"}',  # feature_not_in_plan
            b'{"customer_id":"nobody","feature":"sso"}',  # no_license
            b'{"feature":"sso","customer_id":"c1","quantity":2}',
            b'{"customer_id":"c1","customer_id":"c2","feature":"sso"}']
    for body in hits:  # the first asks: the key's first use today and cache misses
        assert _same(fast, slow, content=body, headers=auth) == 200
    assert handed_on  # at least the key's first use went the full way
    handed_on.clear()
    for body in hits:
        assert _same(fast, slow, content=body, headers=auth) == 200
    assert handed_on == []  # all answered by the fast path

    others: list[dict[str, Any]] = [
        {"content": hits[0], "headers": {"Authorization": "Bearer ldg_unknown", **JSON}},
        {"content": hits[0], "headers": JSON},
        {"content": hits[0], "headers": {"Authorization": f"Bearer {auditor}", **JSON}},
        {"content": hits[0], "headers": [("Authorization", f"Bearer {service}"),
                                         ("Authorization", f"Bearer {service}"),
                                         ("Content-Type", "application/json")]},
        {"content": b'{"customer_id":"c1"', "headers": auth},
        {"content": b'["c1","sso"]', "headers": auth},
        {"content": b'{"customer_id":"c1","feature":"sso","extra":1}', "headers": auth},
        {"content": b'{"customer_id":"c1"}', "headers": auth},
        {"content": b'{"customer_id":"c1","feature":"sso","quantity":0}', "headers": auth},
        {"content": b'{"customer_id":"c1","feature":"sso","quantity":"2"}', "headers": auth},
        {"content": b'{"customer_id":"c1","feature":"sso","quantity":1.5}', "headers": auth},
        {"content": b'{"customer_id":"c1","feature":"sso","quantity":NaN}', "headers": auth},
        {"content": b'{"customer_id":"","feature":"sso"}', "headers": auth},
        {"content": b"", "headers": auth},
        {"content": hits[0], "headers": auth, "params": {"as_of": "2026-01-01T00:00:00Z"}},
        {"content": hits[0], "headers": {**auth, "Content-Type": "text/plain"}},
        {"content": hits[0], "headers": {**auth, "Content-Type": "application/json; charset=latin-1"}},
        {"content": hits[0], "headers": {"Authorization": f"Bearer {service}"}},
        {"content": [hits[0][:10], hits[0][10:]], "headers": auth},  # chunked
        {"content": hits[0] + b" " * 20_000, "headers": auth},  # larger than the fast path takes
        {"content": hits[0], "headers": auth, "method": "GET"},
        {"content": hits[0], "headers": auth, "path": "/v1/check/"},
    ]
    for request in others:
        _same(fast, slow, **request)
    assert len(handed_on) == len(others)  # none of them answered by the fast path


def test_the_fast_path_keeps_the_request_counters_and_the_keys_first_use(apps: Any) -> None:
    fast, slow, api, handed_on = apps
    admin = api.key("admin")
    auth = {"Authorization": f"Bearer {admin}", **JSON}
    for _ in range(5):
        fast.post("/v1/check", content=b'{"customer_id":"c1","feature":"sso"}', headers=auth)
    assert handed_on == ["/v1/check"]  # only the first: the key's first use today is written
    used = [k["last_used_on"] for k in api.keys.listed("acme") if k["role"] == "admin"]
    assert used[0] is not None
    text = fast.get("/metrics", headers=auth).text
    assert 'ledger_http_requests_total{method="POST",route="/v1/check",status="200"} 5.0' in text
    assert 'ledger_check_cache_total{result="hit"} 4.0' in text


_VALUES = st.one_of(st.sampled_from(["c1", "c2", "nobody", "sso", "api_calls", "", " c1"]),
                    st.text(max_size=8), st.integers(-3, 10**20), st.floats(allow_nan=True),
                    st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
_FIELDS = st.sampled_from(["customer_id", "feature", "quantity", "extra"])
# a valid body (mostly a hit), then some of its fields changed or dropped, or one added
_BODIES = st.builds(
    lambda base, changed, dropped: {k: v for k, v in {**base, **changed}.items() if k not in dropped},
    st.fixed_dictionaries({"customer_id": st.sampled_from(["c1", "c2", "nobody"]),
                           "feature": st.sampled_from(["sso", "api_calls"])},
                          optional={"quantity": st.integers(1, 2000)}),
    st.dictionaries(_FIELDS, _VALUES, max_size=2), st.sets(_FIELDS, max_size=1))


def test_random_check_bodies_get_the_same_answer_both_ways(apps: Any) -> None:
    fast, slow, api, handed_on = apps
    auth = {"Authorization": f"Bearer {api.key('service')}"}
    sent = [0]

    @settings(max_examples=150, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=_BODIES, ascii_only=st.booleans(), content_type=st.sampled_from(
        ["application/json", "application/json", "application/json; charset=utf-8",
         "application/problem+json", "text/plain"]))
    def same(body: dict[str, Any], ascii_only: bool, content_type: str) -> None:
        raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        _same(fast, slow, content=raw, headers={**auth, "Content-Type": content_type})
        sent[0] += 1

    for customer in ("c1", "c2", "nobody"):  # these are then cache hits for the fast path
        _same(fast, slow, json={"customer_id": customer, "feature": "sso"}, headers=auth)
    handed_on.clear()
    same()
    assert 0 < len(handed_on) < sent[0]  # some answered by the fast path, some handed on


def test_a_failure_in_the_fast_path_is_answered_by_the_full_stack(
        apps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path runs in front of the framework's error middleware: when its own step
    fails, the request is handed on and gets exactly the full stack's answer, as without it."""
    fast, slow, api, handed_on = apps
    auth = {"Authorization": f"Bearer {api.key('service')}", **JSON}
    body = b'{"customer_id":"c1","feature":"sso"}'
    _same(fast, slow, content=body, headers=auth)  # now a hit for the fast path
    handed_on.clear()
    ports = fast.app.state.ports

    def broken(*args: Any) -> None:
        raise RuntimeError("the cache failed")

    monkeypatch.setattr(ports.cache, "lookup", broken)
    quiet_fast = TestClient(fast.app, raise_server_exceptions=False)
    quiet_slow = TestClient(slow.app, raise_server_exceptions=False)
    status = _same(quiet_fast, quiet_slow, content=body, headers=auth)
    assert handed_on == ["/v1/check"]
    assert status in (200, 500)
