"""Every endpoint of the API and its error paths, through real HTTP (contract section 4)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builders import catalog_envelope, envelope, t
from tests.integration.test_api_harness import Api, Clock, running_api, sqlite


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(sqlite(tmp_path)) as served:
        yield served.with_catalog()


@pytest.fixture
def admin(api: Api) -> httpx.Client:
    return api.as_role("admin")


def grant(license_id: str = "lic-1", customer: str = "cust-7", plan: str = "pro",
          time: str = "2026-02-01", **data: Any) -> dict[str, Any]:
    return envelope("license.granted", time, license_id, customer_id=customer, plan=plan, **data)


def usage(quantity: int, license_id: str = "lic-1", time: str | None = None) -> dict[str, Any]:
    from datetime import UTC, datetime

    moment = time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return envelope("usage.recorded", moment, license_id, feature="api_calls", quantity=quantity)


def problem(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]
    return str(body["message"])


# -- POST /v1/events ---------------------------------------------------------------------------

def test_one_envelope_is_accepted_and_answered_in_a_list(admin: httpx.Client) -> None:
    sent = grant()
    answer = admin.post("/v1/events", json=sent)
    assert answer.status_code == 200
    assert answer.json() == {"results": [{"id": sent["id"], "source": sent["source"],
                                          "status": "accepted"}]}


def test_a_batch_is_answered_in_order_and_one_bad_envelope_fails_no_other(admin: httpx.Client) -> None:
    first, bad, upgrade = grant(), {"specversion": "1.0", "id": "x-1"}, envelope(
        "license.upgraded", "2026-03-01", "lic-1", plan="enterprise")
    results = admin.post("/v1/events", json=[first, bad, upgrade, first, 42]).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "duplicate",
                                              "rejected"]
    assert results[1]["id"] == "x-1" and results[1]["code"] == "invalid_event"
    assert results[4]["code"] == "invalid_event"
    assert "code" not in results[0] and "code" not in results[3]


def test_an_envelope_sent_as_a_json_string_inside_the_array_is_not_an_envelope(admin: httpx.Client) -> None:
    result = admin.post("/v1/events", json=[json.dumps(grant())]).json()["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "invalid_event")
    assert "JSON object" in result["message"]


def test_a_rule_broken_is_rejected_with_its_code_and_a_sentence(admin: httpx.Client) -> None:
    result = admin.post("/v1/events", json=envelope("license.suspended", "2026-03-01", "lic-404",
                                                    reason="payment_failed")).json()["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "unknown_license")
    assert "lic-404" in result["message"] or "license" in result["message"]


def test_an_event_of_another_tenant_is_rejected_as_a_tenant_mismatch(admin: httpx.Client) -> None:
    result = admin.post("/v1/events", json=grant(tenant="globex")).json()["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "tenant_mismatch")


def test_an_event_naming_the_keys_own_tenant_is_accepted(admin: httpx.Client) -> None:
    assert admin.post("/v1/events", json=grant(tenant="acme")).json()["results"][0][
        "status"] == "accepted"


def test_an_empty_batch_is_answered_with_no_results(admin: httpx.Client) -> None:
    assert admin.post("/v1/events", json=[]).json() == {"results": []}


@pytest.mark.parametrize("content", [b"{not json", b"42", b'"an envelope"', b"", b"null"])
def test_a_body_that_is_neither_an_envelope_nor_a_list_is_an_invalid_request(
        admin: httpx.Client, content: bytes) -> None:
    answer = admin.post("/v1/events", content=content, headers={"Content-Type": "application/json"})
    problem(answer, 400, "invalid_request")


def test_more_envelopes_than_a_request_may_carry_is_an_invalid_request(admin: httpx.Client) -> None:
    message = problem(admin.post("/v1/events", json=[grant()] * 1001), 400, "invalid_request")
    assert "1000" in message


def test_a_check_right_after_an_accepted_event_sees_it(api: Api, admin: httpx.Client) -> None:
    service = api.as_role("service")
    ask = {"customer_id": "cust-7", "feature": "api_calls", "quantity": 1}
    assert service.post("/v1/check", json=ask).json()["reason"] == "no_license"
    admin.post("/v1/events", json=[grant(), usage(1200)])
    assert service.post("/v1/check", json=ask).json() == {
        "allowed": True, "reason": "ok", "message": "the feature is available",
        "license_id": "lic-1", "limit": 100000, "used": 1200, "remaining": 98800}
    admin.post("/v1/events", json=envelope("license.suspended", "2026-03-01", "lic-1",
                                           reason="payment_failed"))
    assert service.post("/v1/check", json=ask).json()["reason"] == "suspended"


# -- POST /v1/check ----------------------------------------------------------------------------

def test_the_check_names_the_reason_a_feature_is_denied(api: Api, admin: httpx.Client) -> None:
    api.record([grant(plan="basic"), grant("lic-2", customer="cust-8", plan="enterprise",
                                           region="IR")])
    def reason(customer: str, feature: str, quantity: int = 1) -> str:
        return str(admin.post("/v1/check", json={"customer_id": customer, "feature": feature,
                                                 "quantity": quantity}).json()["reason"])
    assert reason("cust-7", "sso") == "feature_not_in_plan"
    assert reason("cust-7", "api_calls", 1001) == "limit_exceeded"
    assert reason("cust-8", "audit_export") == "region_blocked"
    assert reason("cust-9", "sso") == "no_license"


def test_quantity_defaults_to_one(api: Api, admin: httpx.Client) -> None:
    api.record([grant(plan="basic")])
    answer = admin.post("/v1/check", json={"customer_id": "cust-7", "feature": "api_calls"})
    assert answer.json()["remaining"] == 1000 and answer.json()["allowed"] is True


@pytest.mark.parametrize("body", [
    {"customer_id": "cust-7", "feature": "sso", "quantity": 0},
    {"customer_id": "cust-7", "feature": "sso", "quantity": -3},
    {"customer_id": "cust-7", "feature": "sso", "quantity": 1.5},
    {"customer_id": "cust-7", "feature": "sso", "quantity": "2"},
    {"customer_id": "cust-7", "feature": "sso", "quantity": True},
    {"customer_id": "cust-7", "feature": "sso", "quantity": None},
    {"customer_id": "cust-7"},
    {"feature": "sso"},
    {"customer_id": "", "feature": "sso"},
    {"customer_id": 7, "feature": "sso"},
    {"customer_id": "cust-7", "feature": "sso", "qantity": 2},
    ["cust-7", "sso"],
])
def test_a_malformed_check_is_an_invalid_request(admin: httpx.Client, body: Any) -> None:
    problem(admin.post("/v1/check", json=body), 400, "invalid_request")


def test_a_check_whose_body_is_not_json_is_an_invalid_request(admin: httpx.Client) -> None:
    problem(admin.post("/v1/check", content=b"customer_id=cust-7",
                       headers={"Content-Type": "application/json"}), 400, "invalid_request")


def test_expiry_follows_the_clock_even_for_a_cached_answer(tmp_path: Path) -> None:
    clock = Clock(t("2026-06-30T23:59:00Z"))
    with running_api(sqlite(tmp_path), clock=clock) as api:
        api.with_catalog().record([grant(plan="basic", ends_at="2026-07-01T00:00:00Z")])
        service = api.as_role("service")
        ask = {"customer_id": "cust-7", "feature": "reports"}
        assert service.post("/v1/check", json=ask).json()["allowed"] is True
        assert service.post("/v1/check", json=ask).json()["allowed"] is True  # from the cache
        clock.fixed = t("2026-07-01T00:00:00Z")
        assert service.post("/v1/check", json=ask).json()["reason"] == "expired"


def test_a_scheduled_revocation_takes_effect_at_its_time_though_the_answer_was_cached(
        tmp_path: Path) -> None:
    clock = Clock(t("2026-03-10T12:00:00Z"))
    with running_api(sqlite(tmp_path), clock=clock) as api:
        api.with_catalog().record([grant(plan="basic")])
        admin, service = api.as_role("admin"), api.as_role("service")
        admin.post("/v1/events", json=envelope("license.revoked", "2026-03-10T12:00:04Z", "lic-1",
                                               reason="contract_ended"))
        ask = {"customer_id": "cust-7", "feature": "reports"}
        assert service.post("/v1/check", json=ask).json()["allowed"] is True
        assert service.post("/v1/check", json=ask).json()["allowed"] is True  # from the cache
        clock.fixed = t("2026-03-10T12:00:06Z")
        assert service.post("/v1/check", json=ask).json()["reason"] == "revoked"
        licenses = admin.get("/v1/customers/cust-7/entitlements").json()["licenses"]
        assert [s["status"] for s in licenses] == ["revoked"]
        assert admin.get("/v1/licenses/lic-1").json()["status"] == "revoked"


def test_usage_and_a_catalog_version_scheduled_ahead_change_a_cached_check_at_their_time(
        tmp_path: Path) -> None:
    clock = Clock(t("2026-03-10T12:00:00Z"))
    fewer = {"version": "2026-03-later", "plans": {"basic": {"tier": 1, "features": {
        "api_calls": {"limit": 1000, "period": "month"}}}}}
    with running_api(sqlite(tmp_path), clock=clock) as api:
        api.with_catalog().record([grant(plan="basic"), usage(1050, time="2026-03-10T12:00:04Z"),
                                   catalog_envelope("2026-03-10T12:00:08Z", fewer)])
        service = api.as_role("service")
        calls = {"customer_id": "cust-7", "feature": "api_calls"}
        reports = {"customer_id": "cust-7", "feature": "reports"}
        assert service.post("/v1/check", json=calls).json()["remaining"] == 1000
        assert service.post("/v1/check", json=reports).json()["allowed"] is True
        clock.fixed = t("2026-03-10T12:00:05Z")
        assert service.post("/v1/check", json=calls).json() == {
            "allowed": False, "reason": "limit_exceeded", "license_id": "lic-1", "limit": 1000,
            "used": 1050, "remaining": 0,
            "message": "the usage limit for this period would be exceeded"}
        assert service.post("/v1/check", json=reports).json()["allowed"] is True
        clock.fixed = t("2026-03-10T12:00:08Z")
        assert service.post("/v1/check", json=reports).json()["reason"] == "feature_not_in_plan"


def test_usage_counts_only_the_current_month_when_the_month_turns(tmp_path: Path) -> None:
    clock = Clock(t("2026-03-31T23:00:00Z"))
    with running_api(sqlite(tmp_path), clock=clock) as api:
        api.with_catalog().record([grant(plan="basic"), usage(900, time="2026-03-31T12:00:00Z")])
        service = api.as_role("service")
        ask = {"customer_id": "cust-7", "feature": "api_calls", "quantity": 200}
        assert service.post("/v1/check", json=ask).json()["reason"] == "limit_exceeded"
        clock.fixed = t("2026-04-01T00:00:00Z")
        assert service.post("/v1/check", json=ask).json()["used"] == 0


# -- entitlements, licenses, history ---------------------------------------------------------

def test_current_entitlements_list_the_customers_licenses_now(api: Api, admin: httpx.Client) -> None:
    api.record([grant(seats=10, region="DE", ends_at="2099-01-01T00:00:00Z"),
                grant("lic-2", plan="basic"), grant("lic-3", customer="cust-8")])
    body = admin.get("/v1/customers/cust-7/entitlements").json()
    assert body["customer_id"] == "cust-7" and body["as_of"] == body["known_at"]
    assert [s["license_id"] for s in body["licenses"]] == ["lic-1", "lic-2"]
    state = body["licenses"][0]
    assert {k: state[k] for k in ("tenant", "plan", "status", "seats", "region", "ends_at")} == {
        "tenant": "acme", "plan": "pro", "status": "active", "seats": 10, "region": "DE",
        "ends_at": "2099-01-01T00:00:00Z"}
    assert state["features"]["api_calls"] == {"enabled": True, "limit": 100000,
                                              "period": "month", "used": 0}


def test_a_customer_without_licenses_has_empty_entitlements(admin: httpx.Client) -> None:
    assert admin.get("/v1/customers/nobody/entitlements").json()["licenses"] == []


def test_as_of_answers_with_the_state_at_that_moment(api: Api, admin: httpx.Client) -> None:
    api.record([grant(plan="basic"), envelope("license.upgraded", "2026-04-01", "lic-1", plan="pro")])
    body = admin.get("/v1/customers/cust-7/entitlements",
                     params={"as_of": "2026-03-01T00:00:00Z"}).json()
    assert body["as_of"] == "2026-03-01T00:00:00Z"
    assert [s["plan"] for s in body["licenses"]] == ["basic"]
    before = admin.get("/v1/customers/cust-7/entitlements", params={"as_of": "2026-01-15T00:00:00Z"})
    assert before.json()["licenses"] == []


def test_known_at_leaves_out_what_was_recorded_later(api: Api, admin: httpx.Client) -> None:
    api.record([grant()])
    from datetime import UTC, datetime

    between = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    api.record([envelope("license.revoked", "2026-02-15", "lic-1", reason="fraud")])
    ask = {"as_of": "2026-03-01T00:00:00Z"}
    now = admin.get("/v1/customers/cust-7/entitlements", params=ask).json()
    then = admin.get("/v1/customers/cust-7/entitlements", params={**ask, "known_at": between}).json()
    assert now["licenses"][0]["status"] == "revoked"
    assert then["licenses"][0]["status"] == "active" and then["known_at"] == between


@pytest.mark.parametrize(("params", "named"), [
    ({"as_of": "2026-03-01T00:00:00"}, "as_of"),
    ({"known_at": "2026-03-01T00:00:00"}, "known_at"),
    ({"as_of": "yesterday"}, "as_of"),
    ({"as_of": "2026-03-01T00:00:00Z", "known_at": "2026-13-01T00:00:00Z"}, "known_at"),
    ({"as_of": "2026-03-01"}, "as_of"),
])
def test_a_zoneless_or_malformed_time_is_refused_naming_the_parameter(
        admin: httpx.Client, params: dict[str, str], named: str) -> None:
    message = problem(admin.get("/v1/customers/cust-7/entitlements", params=params), 400,
                      "invalid_request")
    assert named in message


def test_one_license_is_answered_with_its_current_state(api: Api, admin: httpx.Client) -> None:
    api.record([grant()])
    state = admin.get("/v1/licenses/lic-1").json()
    assert (state["license_id"], state["customer_id"], state["status"]) == ("lic-1", "cust-7", "active")


def test_an_unknown_license_is_not_found(admin: httpx.Client) -> None:
    problem(admin.get("/v1/licenses/lic-404"), 404, "unknown_license")
    problem(admin.get("/v1/licenses/lic-404/history"), 404, "unknown_license")


def test_history_lists_every_event_in_effective_order_with_superseded_ones(
        api: Api, admin: httpx.Client) -> None:
    api.record([grant(plan="basic"), envelope("license.upgraded", "2026-04-01", "lic-1", plan="pro")])
    api.record([envelope("license.revoked", "2026-03-01", "lic-1", reason="fraud")])
    body = admin.get("/v1/licenses/lic-1/history").json()
    assert body["license_id"] == "lic-1"
    assert [(e["type"], e["status"]) for e in body["events"]] == [
        ("license.granted", "applied"), ("license.revoked", "applied"),
        ("license.upgraded", "superseded")]
    event = body["events"][0]
    assert {"id", "source", "type", "effective_at", "recorded_at", "position", "data",
            "status"} <= set(event)
    assert event["effective_at"] == "2026-02-01T00:00:00Z" and event["data"]["plan"] == "basic"


def test_ids_holding_a_slash_are_reached_when_sent_percent_encoded(
        api: Api, admin: httpx.Client) -> None:
    api.record([grant("lic/1", customer="org/7"), envelope("license.upgraded", "2026-03-01",
                                                            "lic/1", plan="enterprise")])
    body = admin.get("/v1/customers/org%2F7/entitlements").json()
    assert body["customer_id"] == "org/7"
    assert [(s["license_id"], s["plan"]) for s in body["licenses"]] == [("lic/1", "enterprise")]
    assert admin.get("/v1/licenses/lic%2F1").json()["customer_id"] == "org/7"
    history = admin.get("/v1/licenses/lic%2F1/history").json()
    assert history["license_id"] == "lic/1"
    assert [e["type"] for e in history["events"]] == ["license.granted", "license.upgraded"]
    document = admin.get("/v1/customers/org%2F7/license-file").json()["license"]
    assert (document["customer_id"], document["licenses"][0]["license_id"]) == ("org/7", "lic/1")
    own = api.as_role("customer", customer="org/7")
    assert own.get("/v1/customers/org%2F7/entitlements").json()["licenses"][0]["license_id"] == "lic/1"
    assert own.get("/v1/customers/org%2F8/entitlements").status_code == 403
    problem(admin.get("/v1/licenses/lic%2F2"), 404, "unknown_license")
    problem(admin.get("/v1/licenses/lic%2F2/history"), 404, "unknown_license")


# -- operations and refusals -------------------------------------------------------------------

def test_health_reports_the_event_store_and_the_read_models_without_a_key(api: Api) -> None:
    body = api.client().get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["event_store"]["ok"] and body["checks"]["read_models"]["ok"]
    assert "kafka" not in body["checks"]


def test_health_degrades_while_the_follower_keeps_failing_and_reports_its_lag(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.client().get("/healthz").json()["checks"]["read_models"]["lag"] == 0
    projected = api.wiring.store.max_position()

    def full(*_: Any, **__: Any) -> int:
        raise RuntimeError("the read database is full")

    monkeypatch.setattr(api.models, "apply", full)
    api.wiring.ledger.ingest([grant(), grant("lic-2")], "acme")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            api.follower.catch_up()
    answer = api.client().get("/healthz")
    assert (answer.status_code, answer.json()["status"]) == (503, "degraded")
    read_models = answer.json()["checks"]["read_models"]
    assert read_models["ok"] is False
    assert read_models["lag"] == api.wiring.store.max_position() - projected > 0
    assert "2 times in a row" in read_models["error"]
    assert "RuntimeError: the read database is full" in read_models["error"]
    monkeypatch.undo()
    api.follower.catch_up()
    answer = api.client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["checks"]["read_models"] == {"ok": True, "watermark": 3, "lag": 0}


def test_health_reports_kafka_when_configured_and_degrades_without_it(tmp_path: Path) -> None:
    def down() -> dict[str, Any]:
        raise ConnectionError("no broker at 127.0.0.1:1")

    with running_api(sqlite(tmp_path), configure=lambda o: o.update(kafka_probe=down)) as api:
        answer = api.client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "degraded"
    assert answer.json()["checks"]["kafka"] == {"ok": False,
                                                "error": "ConnectionError: no broker at 127.0.0.1:1"}


def test_metrics_are_prometheus_text(admin: httpx.Client) -> None:
    admin.post("/v1/check", json={"customer_id": "cust-7", "feature": "sso"})
    answer = admin.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert 'ledger_checks_total{reason="no_license"} 1.0' in answer.text
    assert 'ledger_http_requests_total{method="POST",route="/v1/check",status="200"}' in answer.text
    assert "ledger_event_store_position" in answer.text
    assert "ledger_event_store_up 1.0" in answer.text and "ledger_read_models_up 1.0" in answer.text
    assert "ledger_check_decision_seconds_count 1.0" in answer.text


def test_metrics_count_every_check_not_only_the_first_of_its_labels(admin: httpx.Client) -> None:
    for _ in range(3):
        admin.post("/v1/check", json={"customer_id": "cust-7", "feature": "sso"})
    text = admin.get("/metrics").text
    assert 'ledger_checks_total{reason="no_license"} 3.0' in text
    assert 'ledger_http_requests_total{method="POST",route="/v1/check",status="200"} 3.0' in text
    assert "ledger_check_decision_seconds_count 3.0" in text
    hits = re.search(r'ledger_check_cache_total\{result="hit"\} ([\d.]+)', text)
    misses = re.search(r'ledger_check_cache_total\{result="miss"\} ([\d.]+)', text)
    assert sum(float(m.group(1)) for m in (hits, misses) if m) == 3.0


def test_the_public_keys_need_no_api_key(api: Api) -> None:
    assert api.client().get("/v1/license-files/keys").json() == {"keys": api.keyring.public_keys()}


def test_an_unknown_route_and_a_wrong_method_answer_in_the_error_shape(admin: httpx.Client) -> None:
    problem(admin.get("/v1/nothing-here"), 404, "not_found")
    problem(admin.get("/v1/check"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/v1/licenses/%00x", "/v1/customers/a%0Ab/entitlements",
                                  "/v1/licenses/" + "x" * 501])
def test_an_id_with_control_characters_or_too_long_is_an_invalid_request(
        admin: httpx.Client, path: str) -> None:
    problem(admin.get(path), 400, "invalid_request")


def test_the_openapi_document_is_served(api: Api) -> None:
    document = api.client().get("/openapi.json").json()
    assert "/v1/check" in document["paths"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00",
                                    "2026-03-01t00:00:00z", "2026-03-01T01:00:00.123456789+01:00"])
def test_any_rfc3339_time_is_answered_even_at_the_ends_of_the_calendar(
        api: Api, admin: httpx.Client, moment: str) -> None:
    api.record([grant()])
    answer = admin.get("/v1/customers/cust-7/entitlements", params={"as_of": moment,
                                                                    "known_at": moment})
    assert answer.status_code == 200, answer.text


def test_text_that_cannot_be_utf8_is_echoed_escaped_not_failed(admin: httpx.Client) -> None:
    body = b'[{"specversion": "1.0", "id": "\\ud800", "source": "s"}, ' \
           b'{"specversion": "1.0", "id": "ok", "source": "\\udfff"}]'
    answer = admin.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert [r["status"] for r in answer.json()["results"]] == ["rejected", "rejected"]
    assert answer.json()["results"][0]["id"] == "\ud800"
    check = admin.post("/v1/check", content=b'{"customer_id": "\\ud800", "feature": "sso"}',
                       headers={"Content-Type": "application/json"})
    problem(check, 400, "invalid_request")


@pytest.mark.parametrize(("path", "query"), [
    ("/v1/customers/cust-7/entitlements", {"asof": "2026-03-01T00:00:00Z"}),
    ("/v1/licenses/lic-1", {"as_of": "2026-03-01T00:00:00Z"}),
    ("/healthz", {"verbose": "1"}),
    ("/v1/license-files/keys", {"x": ""}),
])
def test_an_unknown_query_parameter_is_refused_not_ignored(admin: httpx.Client, path: str,
                                                           query: dict[str, str]) -> None:
    message = problem(admin.get(path, params=query), 400, "invalid_request")
    assert next(iter(query)) in message


def test_a_body_over_ten_megabytes_is_refused_without_being_read(admin: httpx.Client) -> None:
    huge = b"[" + b" " * (10 * 2**20) + b"]"
    problem(admin.post("/v1/events", content=huge, headers={"Content-Type": "application/json"}),
            413, "invalid_request")

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(11):
            yield b" " * 2**20
        yield b"]"

    streamed = admin.post("/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert "exceeds" in problem(streamed, 413, "invalid_request")


def test_health_in_kafka_mode_is_degraded_when_events_stay_out_of_the_read_models(tmp_path: Path) -> None:
    clock = Clock()
    with running_api(f"sqlite:///{tmp_path / 'k.db'}", clock=clock,
                     configure=lambda options: options.update(follower=None)) as api:
        api.wiring.ledger.ingest([catalog_envelope("2026-01-01")], "acme")  # no relay, no project
        fresh = httpx.get(f"{api.url}/healthz").json()["checks"]["read_models"]
        assert fresh["ok"] is True and fresh["lag"] == 1
        clock.fixed = datetime.now(UTC) + timedelta(minutes=5)
        answer = httpx.get(f"{api.url}/healthz")
        stale = answer.json()["checks"]["read_models"]
        assert answer.status_code == 503 and stale["ok"] is False and "ledger relay" in stale["error"]
        api.models.apply(api.wiring.store.facts_after(0))
        assert httpx.get(f"{api.url}/healthz").json()["checks"]["read_models"] == {
            "ok": True, "watermark": api.models.watermark(), "lag": 0}
