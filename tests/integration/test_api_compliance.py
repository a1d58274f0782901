"""GET /v1/compliance: what `ledger compliance` finds, for the key's tenant only, to admin and
auditor keys; the read models the server answers from are compared with a replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.builders import envelope
from tests.integration.test_api_harness import running_api, sqlite


@pytest.fixture
def api(tmp_path: Path) -> Any:
    with running_api(sqlite(tmp_path)) as served:
        for tenant in ("acme", "globex"):  # enterprise has a feature blocked in some regions
            served.with_catalog(tenant)
            served.record([envelope("license.granted", "2026-02-01", f"lic-{tenant}",
                                    customer_id="c-1", plan="enterprise")], tenant)
        yield served


def test_compliance_answers_admins_and_auditors_with_the_tenants_own_findings(api: Any) -> None:
    for role in ("admin", "auditor"):
        answer = api.as_role(role).get("/v1/compliance", params={"as_of": "2026-03-01T00:00:00Z"})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert (report["tenant"], report["as_of"]) == ("acme", "2026-03-01T00:00:00Z")
        assert report["counts"]["region_missing"] == 1
        assert {f.get("license_id") for f in report["findings"]} == {"lic-acme"}
        assert report["counts"]["read_model_mismatch"] == 0 and report["skipped"] == []
    for role in ("service", "billing", "catalog_editor"):
        assert api.as_role(role).get("/v1/compliance").status_code == 403


def test_compliance_finds_read_models_that_disagree_with_replay(api: Any) -> None:
    outcomes = api.wiring.ledger.ingest([envelope("license.suspended", "2026-02-10", "lic-acme",
                                                reason="unpaid")], "acme")
    assert [o.status for o in outcomes] == ["accepted"], outcomes
    behind = api.as_role("auditor").get("/v1/compliance").json()
    assert behind["counts"]["read_model_mismatch"] >= 1
    api.follower.catch_up()
    assert api.as_role("auditor").get("/v1/compliance").json()["counts"]["read_model_mismatch"] == 0
