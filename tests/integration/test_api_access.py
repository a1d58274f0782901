"""Who may do what (contract section 4, Access): each role against each endpoint, revocation,
and tenant isolation tried every way the API allows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.builders import envelope
from tests.integration.test_api_harness import Api, running_api, sqlite

ROLES = ("none", "admin", "billing", "service", "auditor", "customer", "other_customer")
_ids = itertools.count()

# name -> (method, path, body or None, the roles answered 200; everyone else 403, no key 401)
ENDPOINTS: dict[str, tuple[str, str, Any, set[str]]] = {
    "post events": ("POST", "/v1/events", "envelope", {"admin", "billing"}),
    "check": ("POST", "/v1/check", {"customer_id": "cust-7", "feature": "sso"},
              {"admin", "service"}),
    "current entitlements": ("GET", "/v1/customers/cust-7/entitlements", None,
                             {"admin", "service", "customer"}),
    "entitlements as of": ("GET", "/v1/customers/cust-7/entitlements?as_of=2026-03-01T00:00:00Z",
                           None, {"admin", "auditor"}),
    "entitlements known at": ("GET", "/v1/customers/cust-7/entitlements?known_at=2099-01-01T00:00:00Z",
                              None, {"admin", "auditor"}),
    "license": ("GET", "/v1/licenses/lic-1", None, {"admin", "service"}),
    "history": ("GET", "/v1/licenses/lic-1/history", None, {"admin", "auditor"}),
    "license file": ("GET", "/v1/customers/cust-7/license-file", None, {"admin", "customer"}),
    "metrics": ("GET", "/metrics", None, {"admin"}),
    "public keys": ("GET", "/v1/license-files/keys", None, set(ROLES)),
    "health": ("GET", "/healthz", None, set(ROLES)),
}
OPEN = {"public keys", "health"}


def grant(license_id: str, customer: str, plan: str, **kw: Any) -> dict[str, Any]:
    return envelope("license.granted", "2026-02-01", license_id, customer_id=customer, plan=plan, **kw)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(sqlite(tmp_path_factory.mktemp("access"))) as served:
        for tenant in ("acme", "globex"):
            served.with_catalog(tenant)
        served.record([grant("lic-1", "cust-7", "pro"), grant("lic-2", "cust-8", "basic")], "acme")
        served.record([grant("lic-1", "cust-7", "enterprise", region="KP"),
                       grant("lic-g", "cust-g", "enterprise")], "globex")
        yield served


@pytest.fixture(scope="module")
def clients(api: Api) -> dict[str, httpx.Client]:
    made = {role: api.as_role(role) for role in ("admin", "billing", "service", "auditor")}
    made["customer"] = api.as_role("customer", customer="cust-7")
    made["other_customer"] = api.as_role("customer", customer="cust-8")
    made["none"] = api.client()
    return made


def call(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    if body == "envelope":
        body = envelope("license.granted", "2026-02-01", f"lic-new-{next(_ids)}",
                        customer_id="cust-9", plan="basic")
    return client.request(method, path, json=body)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_role_gets_exactly_what_its_role_allows(clients: dict[str, httpx.Client],
                                                     endpoint: str, role: str) -> None:
    method, path, body, allowed = ENDPOINTS[endpoint]
    expected = 200 if role in allowed else 401 if role == "none" else 403
    answer = call(clients[role], method, path, body)
    assert answer.status_code == expected, answer.text
    if expected != 200:
        assert answer.json()["code"] == {401: "unauthorized", 403: "forbidden"}[expected]


@pytest.mark.parametrize("header", ["", "Bearer", "Basic dXNlcjpwYXNz", "Token ldg_x",
                                    "Bearer ldg_not-a-key", "Bearer " + "x" * 5000])
@pytest.mark.parametrize("endpoint", sorted(set(ENDPOINTS) - OPEN))
def test_a_missing_or_unknown_key_is_unauthorized(api: Api, endpoint: str, header: str) -> None:
    method, path, body, _ = ENDPOINTS[endpoint]
    answer = call(httpx.Client(base_url=api.url, headers={"Authorization": header}), method, path, body)
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"


BAD_BODIES = [b"{bad", b"", b"42", b'{"customer_id": 7}', b'{"customer_id": "c", "quantity": 0}']


@pytest.mark.parametrize("content", BAD_BODIES)
@pytest.mark.parametrize("path", ["/v1/check", "/v1/events"])
@pytest.mark.parametrize("header", ["", "Bearer ldg_not-a-key"])
def test_without_a_valid_key_a_bad_body_is_unauthorized_before_it_is_judged(
        api: Api, path: str, content: bytes, header: str) -> None:
    client = httpx.Client(base_url=api.url, headers={"Authorization": header,
                                                     "Content-Type": "application/json"})
    answer = client.post(path, content=content)
    assert (answer.status_code, answer.json()["code"]) == (401, "unauthorized"), answer.text
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("content", BAD_BODIES)
@pytest.mark.parametrize(("path", "role"), [("/v1/check", "billing"), ("/v1/check", "auditor"),
                                            ("/v1/events", "service"), ("/v1/events", "customer")])
def test_a_bad_body_from_a_role_that_may_not_is_forbidden_before_it_is_judged(
        clients: dict[str, httpx.Client], path: str, role: str, content: bytes) -> None:
    answer = clients[role].post(path, content=content, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), answer.text


@pytest.mark.parametrize("content", [b"{bad", b'{"customer_id": 7}'])
def test_a_bad_body_from_a_role_that_may_is_an_invalid_request(
        clients: dict[str, httpx.Client], content: bytes) -> None:
    answer = clients["service"].post("/v1/check", content=content,
                                     headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_request"), answer.text


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    issued = api.keys.create("acme", "service")
    client = api.client(issued.key)
    ask = {"customer_id": "cust-7", "feature": "sso"}
    assert client.post("/v1/check", json=ask).status_code == 200
    assert api.keys.revoke(issued.key_id)
    assert client.post("/v1/check", json=ask).status_code == 401


def test_a_customer_key_reads_only_its_own_customer(clients: dict[str, httpx.Client]) -> None:
    customer = clients["customer"]
    assert customer.get("/v1/customers/cust-7/entitlements").status_code == 200
    assert customer.get("/v1/customers/cust-8/entitlements").status_code == 403
    assert customer.get("/v1/customers/cust-8/license-file").status_code == 403


# -- tenants -----------------------------------------------------------------------------------

def test_reads_by_id_never_reach_another_tenants_license(clients: dict[str, httpx.Client]) -> None:
    admin = clients["admin"]
    assert admin.get("/v1/licenses/lic-g").json()["code"] == "unknown_license"
    assert admin.get("/v1/licenses/lic-g/history").json()["code"] == "unknown_license"
    assert admin.get("/v1/customers/cust-g/license-file").json()["code"] == "no_license"
    assert admin.get("/v1/customers/cust-g/entitlements").json()["licenses"] == []
    past = admin.get("/v1/customers/cust-g/entitlements", params={"as_of": "2026-06-01T00:00:00Z"})
    assert past.json()["licenses"] == []
    check = admin.post("/v1/check", json={"customer_id": "cust-g", "feature": "sso"}).json()
    assert check["reason"] == "no_license"


def test_the_same_ids_in_two_tenants_answer_each_tenant_its_own(api: Api,
                                                                clients: dict[str, httpx.Client]) -> None:
    globex = api.as_role("admin", tenant="globex")
    for client, tenant, plan in ((clients["admin"], "acme", "pro"), (globex, "globex", "enterprise")):
        assert client.get("/v1/licenses/lic-1").json()["plan"] == plan
        states = client.get("/v1/customers/cust-7/entitlements").json()["licenses"]
        assert [(s["tenant"], s["plan"]) for s in states] == [(tenant, plan)]
        document = client.get("/v1/customers/cust-7/license-file").json()["license"]
        assert document["tenant"] == tenant and document["licenses"][0]["plan"] == plan
        history = client.get("/v1/licenses/lic-1/history").json()["events"]
        assert [e["data"]["plan"] for e in history] == [plan]
    globex_customer = api.as_role("customer", tenant="globex", customer="cust-7")
    assert globex_customer.get("/v1/customers/cust-7/entitlements").json()["licenses"][0][
        "tenant"] == "globex"


def test_writes_never_reach_another_tenant(api: Api, clients: dict[str, httpx.Client]) -> None:
    before = api.wiring.ledger.history("globex", "lic-g")
    attempts = [
        envelope("license.suspended", "2026-03-01", "lic-g", reason="x", tenant="globex"),
        envelope("license.suspended", "2026-03-01", "lic-g", reason="x"),
        envelope("license.revoked", "2026-03-01", "lic-g", reason="x", tenant="GLOBEX"),
        envelope("catalog.published", "2026-03-01", "v9", tenant="globex", version="v9",
                 plans={"x": {"tier": 1}}),
    ]
    for role in ("admin", "billing"):
        results = clients[role].post("/v1/events", json=attempts).json()["results"]
        assert [r["status"] for r in results] == ["rejected"] * 4
        assert [r["code"] for r in results] == ["tenant_mismatch", "unknown_license",
                                                "tenant_mismatch", "tenant_mismatch"]
    assert api.wiring.ledger.history("globex", "lic-g") == before
    assert api.wiring.store.catalogs("globex").version("v9") is None


def test_no_answer_to_one_tenant_carries_another_tenants_data(
        clients: dict[str, httpx.Client]) -> None:
    # globex's lic-1 is an enterprise license in KP; nothing of acme's is either.
    for method, path, body, _ in ENDPOINTS.values():
        for asked in (path, path.replace("cust-7", "cust-g").replace("lic-1", "lic-g")):
            for role in ("admin", "service", "auditor", "customer"):
                text = call(clients[role], method, asked, body).text
                assert "globex" not in text and '"KP"' not in text, (role, asked)
