"""Over HTTP: a version published for 2099 and withdrawn before then by a catalog editor never
takes effect for answers asked afterwards; a second withdrawal is refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.builders import envelope
from tests.integration.test_api_harness import running_api, sqlite
from tests.integration.test_api_releases import draft_body, named

LATER = "2099-02-01T00:00:00Z"


def _catalog_at(client: httpx.Client, moment: str) -> str:
    answer = client.get("/v1/customers/cust-7/entitlements", params={"as_of": moment})
    assert answer.status_code == 200, answer.text
    [license_] = answer.json()["licenses"]
    return str(license_["catalog_version"])


def test_a_scheduled_version_withdrawn_over_http_never_takes_effect(tmp_path: Path) -> None:
    with running_api(sqlite(tmp_path)) as api:
        api.with_catalog("acme")
        api.record([envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7",
                             plan="basic")], "acme")
        erin, bob = named(api, "catalog_editor", "erin"), named(api, "admin", "bob")
        auditor = api.as_role("auditor")
        before = _catalog_at(auditor, LATER)
        drafted = erin.post("/v1/catalog/releases",
                            json=draft_body("v-2099", "2099-01-01T00:00:00Z")).json()
        assert bob.post("/v1/catalog/releases/v-2099/approve",
                        json={"digest": drafted["digest"]}).status_code == 200
        assert bob.post("/v1/catalog/releases/v-2099/publish", json={}).json()["status"] == "published"
        assert _catalog_at(auditor, LATER) == "v-2099"

        withdrawn = erin.post("/v1/catalog/releases/v-2099/withdraw", json={"reason": "later"})
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "withdrawn"
        assert _catalog_at(auditor, LATER) == before
        again = erin.post("/v1/catalog/releases/v-2099/withdraw", json={"reason": "again"})
        assert (again.status_code, again.json()["code"]) == (409, "release_closed")
