"""An adversarial customer against the API: every route without a valid key, another tenant's
ids through every path and body (spelled every way), and path tricks. No answer is a 5xx or a
redirect, none without a key but the public ones, and none carries another tenant's data."""

from __future__ import annotations

import itertools
import json
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from ledger.api import application
from tests.builders import envelope
from tests.integration.test_api_harness import Api, running_api, sqlite

SECRET = "u-secret-of-acme"  # a seat holder only tenant acme's answers may ever show
PUBLIC = {"/healthz", "/v1/license-files/keys", "/docs", "/openapi.json", "/docs/oauth2-redirect"}
_ids = itertools.count()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(sqlite(tmp_path_factory.mktemp("attacks"))) as served:
        for tenant in ("acme", "globex"):
            served.with_catalog(tenant)
        served.record([envelope("license.granted", "2026-02-01", "lic-a", customer_id="cust-a",
                                plan="enterprise", seats=3, region="KP"),
                       envelope("seat.assigned", "2026-02-02", "lic-a", user_id=SECRET)], "acme")
        served.record([envelope("license.granted", "2026-02-01", "lic-g", customer_id="cust-g",
                                plan="basic")], "globex")
        yield served


def http(api: Api, method: str, target: str, key: str | None = None, body: Any = None,
         content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    """One request as bytes on a socket (no client library to normalise the path), answered."""
    host, port = api.url.removeprefix("http://").split(":")
    payload = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             f"Content-Length: {len(payload)}"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    if payload:
        lines.append(f"Content-Type: {content_type}")
    with socket.create_connection((host, int(port)), timeout=15) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, text


def routes() -> list[tuple[str, str]]:
    """Every (method, path) the app documents, path parameters filled in: new routes are
    covered as soon as they are added."""
    found = []
    for template, operations in application().openapi()["paths"].items():
        path = template.replace("{customer_id}", "cust-a").replace("{license_id}", "lic-a")
        found += [(method.upper(), re.sub(r"\{[^}]*\}", "x", path)) for method in operations]
    return found


@pytest.mark.parametrize(("method", "path"), [r for r in routes() if r[1] not in PUBLIC])
@pytest.mark.parametrize("key", ["none", "unknown", "revoked"])
def test_every_route_but_the_public_ones_refuses_a_caller_without_a_valid_key(
        api: Api, method: str, path: str, key: str) -> None:
    credential = {"none": None, "unknown": "ldg_" + "x" * 43, "revoked": None}[key]
    if key == "revoked":
        issued = api.keys.create("acme", "admin")
        api.keys.revoke(issued.key_id)
        credential = issued.key
    status, headers, text = http(api, method, path, credential, body=b"{not json")
    assert status == 401 and json.loads(text)["code"] == "unauthorized"
    assert SECRET.encode() not in text


def spellings(identifier: str) -> list[str]:
    """Ways one might try to reach `identifier` from outside: as is and encoded, with case,
    padding, NUL, traversal and separators around it."""
    return [identifier, quote(identifier, safe=""), "".join(f"%{b:02X}" for b in identifier.encode()),
            identifier.upper(), f"{identifier}%20", f"%20{identifier}", f"{identifier}%00",
            f"{identifier}/", f"..%2F{identifier}", f"x%2F..%2F{identifier}", f"{identifier}%2F.",
            f"{identifier};x", f"{identifier}%23", quote(identifier.replace("a", "\u0430"))]


def other_tenant_calls(customer: str, license_id: str) -> list[tuple[str, str, Any]]:
    moment = "2026-03-01T00:00:00Z"
    return [
        ("GET", f"/v1/licenses/{license_id}", None),
        ("GET", f"/v1/licenses/{license_id}/history", None),
        ("GET", f"/v1/customers/{customer}/entitlements", None),
        ("GET", f"/v1/customers/{customer}/entitlements?as_of={moment}", None),
        ("GET", f"/v1/customers/{customer}/entitlements?known_at=2099-01-01T00:00:00Z", None),
        ("GET", f"/v1/customers/{customer}/license-file", None),
        ("POST", "/v1/check", {"customer_id": customer, "feature": "sso"}),
        ("POST", "/v1/check", {"customer_id": customer.replace("%2F", "/"), "feature": "audit_export"}),
    ]


@pytest.mark.parametrize("role", ["admin", "service", "auditor", "billing", "customer"])
def test_another_tenants_ids_reach_nothing_through_any_path_or_body(api: Api, role: str) -> None:
    key = api.key(role, "globex", "cust-a" if role == "customer" else None)
    answered = 0
    for customer, license_id in zip(spellings("cust-a"), spellings("lic-a"), strict=True):
        for method, target, body in other_tenant_calls(customer, license_id):
            status, headers, text = http(api, method, target, key, body)
            assert status < 500 and not 300 <= status < 400, (target, status, text)
            assert SECRET.encode() not in text and b'"KP"' not in text, (target, text)
            if status == 200:
                answered += 1
                answer = json.loads(text)
                assert answer.get("licenses", []) == [] and answer.get("events", []) == []
                assert answer.get("license_id") in (None, "lic-a") or "allowed" in answer
    assert role not in ("admin", "service") or answered  # the allowed roles were answered


@pytest.mark.parametrize("tenantid", ["acme", None, "ACME", "acme "])
def test_events_for_another_tenants_license_never_change_it(api: Api, tenantid: str | None) -> None:
    before = api.wiring.ledger.history("acme", "lic-a")
    sent = [envelope("seat.released", "2026-02-03", "lic-a", id=f"attack-{next(_ids)}", user_id=SECRET,
                     tenant=tenantid),
            envelope("license.revoked", "2026-02-03", "lic-a", id=f"attack-{next(_ids)}", reason="x",
                     tenant=tenantid)]
    status, _, text = http(api, "POST", "/v1/events", api.key("billing", "globex"), sent)
    assert status == 200
    assert {r["code"] for r in json.loads(text)["results"]} <= {"tenant_mismatch", "unknown_license",
                                                                 "invalid_event"}
    assert api.wiring.ledger.history("acme", "lic-a") == before


PATH_TRICKS = [
    "/v1/licenses/../../metrics", "/v1/licenses/%2e%2e/%2e%2e/metrics", "/v1//licenses/lic-a",
    "//metrics", "/./metrics", "/metrics/.", "/metrics%2f", "/metrics;x", "/metrics%00",
    "/METRICS", "/v1/LICENSES/lic-a", "/v1/licenses/lic-a%2Fhistory", "/v1/licenses/lic-a/history/",
    "/v1/licenses/lic-a/history%2F..", "/v1/licenses/%00", "/v1/licenses/%0a", "/v1/licenses/%ff",
    "/v1/licenses/" + "a" * 5000, "/v1/licenses/%", "/v1/licenses/%zz", "/v1/customers/cust-a",
    "/v1/customers//entitlements", "/v1/customers/cust-a/entitlements/..%2F..%2Flicense-file",
    "/v1/customers/cust-a/entitlements?as_of=%00", "/v1/customers/cust-a/entitlements?as_of",
    "/v1/customers/cust-a/entitlements?as_of=2026-03-01T00:00:00Z%26known_at%3D1",
    "/v1/customers/cust-a/entitlements?%61s_of=2026-03-01T00:00:00Z&as_of=2026-03-01T00:00:00Z",
    "/healthz/../metrics", "/healthz%2F..%2Fmetrics", "/docs/../metrics", "/openapi.json/../metrics",
    "/v1/license-files/keys/../../metrics", "/v1/check/../metrics", "*", "/\\metrics",
    "http://evil.example/metrics", "/v1/events?x=1", "/v1/licenses/lic-a#fragment",
]


@pytest.mark.parametrize("target", PATH_TRICKS)
def test_path_tricks_are_refused_or_answered_within_the_rules(api: Api, target: str) -> None:
    for key in (None, api.key("admin", "globex")):
        for method in ("GET", "POST"):
            status, headers, text = http(api, method, target, key)
            assert status < 500 and not 300 <= status < 400, (method, target, status, text)
            assert "location" not in headers
            assert SECRET.encode() not in text and b"ledger_http_requests_total" not in text or \
                key is not None
            if key is None and status == 200:  # only the public routes answer without a key
                assert target.split("?")[0] in PUBLIC, target
            if status >= 400 and headers.get("content-type", "").startswith("application/json"):
                assert set(json.loads(text)) == {"code", "message"}
