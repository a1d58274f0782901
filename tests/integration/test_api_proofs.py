"""The verifiable log over HTTP: roles, the customer's own-events rule, refusals with the
field named, and answers that verify with the published public keys only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.licensefile import public_keys_from_published
from ledger.licensefile.proofs import verify_proof, verify_tree_head
from tests.builders import envelope
from tests.integration.test_api_harness import Api, running_api, sqlite


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = sqlite(tmp_path) if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with running_api(url) as served:
        served.with_catalog().record([
            envelope("license.granted", "2026-02-01", "lic-1", id="g-1", customer_id="cust-7", plan="pro"),
            envelope("license.granted", "2026-02-01", "lic-2", id="g-2", customer_id="cust-8", plan="basic"),
            envelope("usage.recorded", "2026-02-02", "lic-1", id="u-1", feature="api_calls", quantity=3),
        ])
        yield served


def keys(api: Api) -> dict[str, str]:
    return public_keys_from_published(api.client().get("/v1/license-files/keys").json())


def test_heads_and_proofs_verify_with_the_published_keys(api: Api) -> None:
    auditor = api.as_role("auditor")
    head = auditor.get("/v1/tree-head").json()
    assert verify_tree_head(head, keys(api))["tree_size"] == 4
    proof = auditor.get("/v1/proofs/inclusion", params={"source": "billing/test", "id": "u-1"}).json()
    assert proof["sequence"] == 4
    verify_proof(proof, [head], keys(api))
    api.record([envelope("usage.recorded", "2026-02-03", "lic-1", id="u-2", feature="api_calls",
                         quantity=1)])
    later = auditor.get("/v1/tree-head").json()
    consistency = auditor.get("/v1/proofs/consistency", params={"from": 4}).json()
    assert (consistency["first"], consistency["second"]) == (4, 5)
    verify_proof(consistency, [head, later], keys(api))
    old = auditor.get("/v1/proofs/inclusion", params={"sequence": 2, "tree_size": 4}).json()
    verify_proof(old, [head], keys(api))
    body = api.as_role("customer", customer="cust-7").get("/v1/customers/cust-7/license-file").json()
    assert body["license"]["tree_head"] == later


def test_an_event_of_a_history_recomputes_to_the_hash_its_inclusion_proof_names(api: Api) -> None:
    auditor = api.as_role("auditor")
    for event in auditor.get("/v1/licenses/lic-1/history").json()["events"]:
        content = {"tenant": "acme", "subject": "lic-1", "type": event["type"],
                   "effective_at": event["effective_at"], "recorded_at": event["recorded_at"],
                   "source": event["source"], "source_event_id": event["id"], "data": event["data"],
                   "sequence": event["sequence"], "prev_hash": event["prev_hash"]}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == event["hash"]
        proof = auditor.get("/v1/proofs/inclusion", params={"sequence": event["sequence"]}).json()
        assert proof["event_hash"] == event["hash"]


def test_a_customer_gets_proofs_of_its_own_licenses_events_only(api: Api) -> None:
    customer = api.as_role("customer", customer="cust-7")
    assert customer.get("/v1/tree-head").status_code == 200
    assert customer.get("/v1/proofs/inclusion", params={"sequence": 2}).status_code == 200
    for foreign in (1, 3):  # the catalog, and cust-8's grant
        refused = customer.get("/v1/proofs/inclusion", params={"sequence": foreign})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert customer.get("/v1/proofs/consistency", params={"from": 1}).status_code == 403
    for role in ("service", "billing"):
        assert api.as_role(role).get("/v1/tree-head").status_code == 403


def test_out_of_range_and_malformed_questions_are_400s_naming_the_problem(api: Api) -> None:
    admin = api.as_role("admin")
    cases = [
        ("/v1/proofs/inclusion", {"sequence": 2, "tree_size": 9}, "tree_size"),
        ("/v1/proofs/inclusion", {"sequence": 3, "tree_size": 2}, "tree_size >= sequence"),
        ("/v1/proofs/inclusion", {"sequence": 2, "source": "billing/test"}, "either sequence"),
        ("/v1/proofs/inclusion", {}, "either sequence"),
        ("/v1/proofs/inclusion", {"sequence": 0}, "sequence"),
        ("/v1/proofs/consistency", {"from": 3, "to": 2}, "from"),
        ("/v1/proofs/consistency", {"from": 1, "to": 99}, "to"),
        ("/v1/proofs/consistency", {}, "from"),
    ]
    for path, params, named in cases:
        answer = admin.get(path, params=params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert answer.json()["code"] == "invalid_request" and named in answer.json()["message"]
    missing = admin.get("/v1/proofs/inclusion", params={"source": "billing/test", "id": "nope"})
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_event"
    empty = api.as_role("admin", tenant="empty").get("/v1/tree-head")
    assert empty.status_code == 404 and empty.json()["code"] == "no_events"


def test_explain_now_gives_the_checks_answer_and_the_past_is_for_auditors(api: Api) -> None:
    service = api.as_role("service")
    for feature in ("reports", "sso", "audit_export", "api_calls"):
        check = service.post("/v1/check", json={"customer_id": "cust-7", "feature": feature}).json()
        answer = service.get("/v1/customers/cust-7/explain", params={"feature": feature})
        assert answer.status_code == 200, answer.text
        assert {k: answer.json()["check"][k] for k in check} == check
    past = {"feature": "reports", "at": "2026-02-01T12:00:00Z", "known_at": "2026-12-31T00:00:00Z"}
    assert service.get("/v1/customers/cust-7/explain", params=past).status_code == 403
    auditor = api.as_role("auditor").get("/v1/customers/cust-7/explain", params=past).json()
    assert auditor["explanation"].startswith("allowed: plan pro (set by g-1 from billing/test")
    assert api.as_role("customer", customer="cust-7").get(
        "/v1/customers/cust-7/explain", params={"feature": "sso"}).status_code == 403
    zoneless = api.as_role("auditor").get("/v1/customers/cust-7/explain",
                                          params={"feature": "sso", "at": "2026-02-01T00:00:00"})
    assert zoneless.status_code == 400 and "'at'" in zoneless.json()["message"]
