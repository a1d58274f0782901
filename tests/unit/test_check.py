"""The check: allowed if any usable license grants the feature with room; else the first reason."""

from __future__ import annotations

from typing import Any

from ledger.domain.check import decide
from ledger.domain.state import LicenseState
from tests.builders import a_state


def state(license_id: str = "lic-1", status: str = "active", **features: dict[str, Any]) -> LicenseState:
    return a_state(license_id, status, features)


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
    off = {"enabled": False}
    states = [state("r", "revoked", sso=off), state("e", "expired", sso=off),
              state("p", "pending", sso=off), state("s", "suspended", sso=off),
              state("n", reports={"enabled": True}),
              state("b", sso={"enabled": False, "blocked_region": "IR"}),
              state("l", sso={"enabled": True, "limit": 5, "used": 5})]
    order = ["limit_exceeded", "region_blocked", "feature_not_in_plan", "suspended", "pending",
             "expired", "revoked"]
    for reason in order:
        decision = decide(states, "sso")
        assert decision.reason == reason and not decision.allowed
        states = [s for s in states if s.license_id != decision.license_id]


def test_a_license_that_is_not_usable_is_judged_on_its_plan_before_its_status() -> None:
    decision = decide([state("s", "suspended", reports={"enabled": False})], "sso")
    assert (decision.reason, decision.license_id) == ("feature_not_in_plan", "s")


def test_a_region_block_comes_before_the_status_of_the_same_license() -> None:
    blocked = {"enabled": False, "blocked_region": "KP"}
    assert decide([state("x", "expired", audit=blocked)], "audit").reason == "region_blocked"


def test_a_limit_counts_only_on_a_license_that_could_otherwise_grant_the_feature() -> None:
    decision = decide([state("p", "pending", reports={"enabled": False}),
                       state("s", "suspended", api={"enabled": False, "limit": 10, "used": 10})],
                      "api")
    assert (decision.reason, decision.license_id) == ("feature_not_in_plan", "p")
    revoked = decide([state("r", "revoked", api={"enabled": False, "limit": 10, "used": 99})], "api")
    assert revoked.reason == "revoked"


def test_a_status_that_is_not_usable_denies_a_feature_the_plan_has() -> None:
    decision = decide([state("s", "suspended", sso={"enabled": False})], "sso")
    assert (decision.allowed, decision.reason, decision.limit) == (False, "suspended", None)


def test_remaining_never_goes_below_zero_while_used_tells_the_truth() -> None:
    decision = decide([state(api={"enabled": True, "limit": 100, "used": 150})], "api")
    assert (decision.reason, decision.used, decision.remaining) == ("limit_exceeded", 150, 0)


def test_a_usable_license_allows_although_another_is_denied_for_an_earlier_reason() -> None:
    states = [state("full", api={"enabled": True, "limit": 1, "used": 1}),
              state("ok", "grace", api={"enabled": True, "limit": None, "used": 3})]
    assert (decide(states, "api").allowed, decide(states, "api").license_id) == (True, "ok")
