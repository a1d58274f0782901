"""The release workflow over HTTP: the role matrix, and every way around four eyes we could
think of (own draft, two keys of one name, an unnamed key, publishing unapproved, an approval
replayed on another version, steps or an unapproved catalog sent in as envelopes)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.builders import CATALOG, catalog_envelope, envelope
from tests.integration.test_api_harness import Api, running_api, sqlite

_versions = itertools.count()
ROLES = ("none", "admin", "catalog_editor", "auditor", "billing", "service", "customer")
READERS = {"admin", "catalog_editor", "auditor"}
# name -> (method, path, body, the roles that get past access control)
ENDPOINTS: dict[str, tuple[str, str, Any, set[str]]] = {
    "list": ("GET", "/v1/catalog/releases", None, READERS),
    "show": ("GET", "/v1/catalog/releases/v-matrix", None, READERS),
    "diff": ("GET", "/v1/catalog/releases/v-matrix/diff", None, READERS),
    "preview": ("GET", "/v1/catalog/releases/v-matrix/preview", None, READERS),
    "policy": ("GET", "/v1/governance/policy", None, READERS),
    "draft": ("POST", "/v1/catalog/releases", "draft", {"admin", "catalog_editor"}),
    "withdraw": ("POST", "/v1/catalog/releases/v-none/withdraw", {"reason": "x"},
                 {"admin", "catalog_editor"}),
    "approve": ("POST", "/v1/catalog/releases/v-none/approve", {"digest": "0" * 64}, {"admin"}),
    "reject": ("POST", "/v1/catalog/releases/v-none/reject", {"reason": "x"}, {"admin"}),
    "publish": ("POST", "/v1/catalog/releases/v-none/publish", {}, {"admin"}),
    "set policy": ("PUT", "/v1/governance/policy", {"failed_payment_days": 7}, {"admin"}),
}


def draft_body(version: str, effective_at: str = "2026-04-01T00:00:00Z") -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    catalog["version"] = version
    catalog["plans"]["basic"]["features"]["api_calls"]["limit"] = 500
    return {"catalog": catalog, "effective_at": effective_at, "reason": "price change"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(sqlite(tmp_path_factory.mktemp("releases"))) as served:
        served.with_catalog("acme")
        served.record([envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7",
                                plan="basic")], "acme")
        editor = served.client(served.keys.create("acme", "catalog_editor", name="erin").key)
        assert editor.post("/v1/catalog/releases", json=draft_body("v-matrix")).status_code == 200
        yield served


def named(api: Api, role: str, name: str | None, tenant: str = "acme") -> httpx.Client:
    return api.client(api.keys.create(tenant, role, name=name).key)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_role_gets_exactly_the_release_steps_its_role_allows(api: Api, endpoint: str, role: str) -> None:
    method, path, body, allowed = ENDPOINTS[endpoint]
    if role == "none":
        client = api.client()
    elif role == "customer":
        client = api.client(api.keys.create("acme", "customer", "cust-7", name="c").key)
    else:
        client = named(api, role, f"{role}-person")
    if body == "draft":
        body = draft_body(f"v-role-{next(_versions)}")
    answer = client.request(method, path, json=body)
    if role in allowed:
        assert answer.status_code not in (401, 403), answer.text
        if method == "GET" or endpoint in ("draft", "set policy"):
            assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == (401 if role == "none" else 403), answer.text


def test_the_author_cannot_approve_even_with_an_admin_key_of_the_same_name(api: Api) -> None:
    alice_editor, alice_admin = named(api, "catalog_editor", "alice"), named(api, "admin", "alice")
    drafted = alice_editor.post("/v1/catalog/releases", json=draft_body("v-own")).json()
    answer = alice_admin.post("/v1/catalog/releases/v-own/approve", json={"digest": drafted["digest"]})
    assert (answer.status_code, answer.json()["code"]) == (409, "own_draft")


def test_two_keys_of_one_name_are_one_pair_of_eyes(api: Api) -> None:
    admin = named(api, "admin", "root")
    assert admin.put("/v1/governance/policy", json={"approvals_required": 2}).status_code == 200
    try:
        drafted = named(api, "catalog_editor", "erin").post(
            "/v1/catalog/releases", json=draft_body("v-two")).json()
        bob_1, bob_2 = named(api, "admin", "bob"), named(api, "admin", "bob")
        first = bob_1.post("/v1/catalog/releases/v-two/approve", json={"digest": drafted["digest"]})
        assert first.json()["status"] == "draft"
        second = bob_2.post("/v1/catalog/releases/v-two/approve", json={"digest": drafted["digest"]})
        assert (second.status_code, second.json()["code"]) == (409, "already_approved")
        unapproved = bob_1.post("/v1/catalog/releases/v-two/publish", json={})
        assert (unapproved.status_code, unapproved.json()["code"]) == (409, "not_approved")
    finally:
        admin.put("/v1/governance/policy", json={"approvals_required": 1})


def test_an_unnamed_key_takes_no_release_step(api: Api) -> None:
    answer = named(api, "admin", None).post("/v1/catalog/releases", json=draft_body("v-anon"))
    assert (answer.status_code, answer.json()["code"]) == (403, "unnamed_key")


def test_an_approval_replayed_on_another_version_is_refused(api: Api) -> None:
    editor, bob = named(api, "catalog_editor", "erin"), named(api, "admin", "bob")
    first = editor.post("/v1/catalog/releases", json=draft_body("v-a")).json()
    editor.post("/v1/catalog/releases", json=draft_body("v-b", "2026-05-01T00:00:00Z"))
    replayed = bob.post("/v1/catalog/releases/v-b/approve", json={"digest": first["digest"]})
    assert (replayed.status_code, replayed.json()["code"]) == (409, "stale_approval")


def test_a_release_published_over_http_is_in_force_at_its_time_with_its_trail(api: Api) -> None:
    editor, bob = named(api, "catalog_editor", "erin"), named(api, "admin", "bob")
    drafted = editor.post("/v1/catalog/releases", json=draft_body("v-go")).json()
    preview = editor.get("/v1/catalog/releases/v-go/preview").json()
    assert preview["counts"]["changed"] == 1 and preview["licenses"][0]["license_id"] == "lic-1"
    bob.post("/v1/catalog/releases/v-go/approve", json={"digest": drafted["digest"], "reason": "ok"})
    published = bob.post("/v1/catalog/releases/v-go/publish", json={"reason": "April prices"})
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert [(s["type"], s["actor"]) for s in published.json()["steps"]] == [
        ("catalog.drafted", "erin"), ("catalog.approved", "bob"), ("catalog.released", "bob")]
    auditor = named(api, "auditor", "audrey")
    assert auditor.get("/v1/catalog/releases/v-go").json()["status"] == "published"


def test_steps_and_unapproved_catalogs_sent_as_envelopes_are_refused(api: Api) -> None:
    billing = api.as_role("billing", "globex")
    api.record([catalog_envelope("2026-01-01")], "globex")
    admin = named(api, "admin", "root", "globex")
    assert admin.put("/v1/governance/policy", json={"approval_required": True}).status_code == 200
    forged = envelope("catalog.approved", "2026-03-01", "v-x", actor="bob", digest="0" * 64)
    catalog = copy.deepcopy(CATALOG)
    catalog["version"] = "v-x"
    sent = billing.post("/v1/events", json=[forged, catalog_envelope("2026-04-01", catalog)])
    assert [(r["status"], r["code"]) for r in sent.json()["results"]] == [
        ("rejected", "not_an_inbound_event"), ("rejected", "approval_required")]
