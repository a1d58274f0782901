"""The check: allowed if any usable license grants the feature with room; else the first reason."""

from __future__ import annotations

from typing import Any

from ledger.domain.check import decide


def state(license_id: str = "lic-1", status: str = "active", **features: dict[str, Any]) -> dict[str, Any]:
    return {"license_id": license_id, "status": status, "features": features}


def test_a_customer_without_licenses_has_no_license() -> None:
    assert decide([], "sso").reason == "no_license"


def test_an_unmetered_feature_in_the_plan_is_allowed() -> None:
    decision = decide([state(sso={"enabled": True})], "sso")
    assert (decision.allowed, decision.reason, decision.license_id) == (True, "ok", "lic-1")


def test_a_metered_feature_reports_limit_used_and_remaining() -> None:
    decision = decide([state(api={"enabled": True, "limit": 100000, "used": 1200})], "api")
    assert (decision.limit, decision.used, decision.remaining) == (100000, 1200, 98800)


def test_a_quantity_beyond_what_remains_exceeds_the_limit() -> None:
    decision = decide([state(api={"enabled": True, "limit": 10, "used": 8})], "api", quantity=3)
    assert (decision.allowed, decision.reason, decision.remaining) == (False, "limit_exceeded", 2)


def test_any_usable_license_with_room_allows_and_is_named() -> None:
    states = [state("full", api={"enabled": True, "limit": 1, "used": 1}),
              state("roomy", api={"enabled": True, "limit": None, "used": 50})]
    decision = decide(states, "api")
    assert (decision.allowed, decision.license_id) == (True, "roomy")


def test_reasons_come_in_the_contracts_order() -> None:
    states = [state("r", "revoked"), state("e", "expired"), state("p", "pending"), state("s", "suspended"),
              state("n", reports={"enabled": True}), state("b", sso={"enabled": False})]
    order = ["region_blocked", "feature_not_in_plan", "suspended", "pending", "expired", "revoked"]
    for reason in order:
        decision = decide(states, "sso")
        assert decision.reason == reason and not decision.allowed
        states = [s for s in states if s["license_id"] != decision.license_id]
