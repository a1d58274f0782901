"""The state at a moment: status by the clock, features from the catalog in force, usage by
period, and late records that change the past only for answers known after them."""

from __future__ import annotations

from ledger.domain.facts import Fact
from ledger.domain.fold import fold, history
from ledger.domain.state import license_state, status
from ledger.domain.usage import CountedUsage
from tests.builders import CATALOG, Facts, t

f = Facts()
CATALOGS = f.catalogs()


def grant(time: str = "2026-03-01", **data: object) -> Fact:
    return f.make("license.granted", time, **{"customer_id": "cust-7", "plan": "pro", "seats": 10,
                                              "ends_at": "2027-03-01T00:00:00Z", **data})


def state_at(facts: list[Fact], when: str, usage: list[Fact] = (), known_at: str | None = None,  # type: ignore[assignment]
             catalogs=CATALOGS) -> dict:  # type: ignore[no-untyped-def]
    known = t(known_at) if known_at else t("9999-01-01")
    terms = fold(facts, catalogs, t(when), known).terms
    assert terms is not None
    return license_state(terms, catalogs, CountedUsage.of(usage, known), t(when), known)


def test_a_license_granted_with_a_later_start_is_pending_until_it_starts() -> None:
    facts = [grant(starts_at="2026-04-01T00:00:00Z")]
    assert state_at(facts, "2026-03-15")["status"] == "pending"
    assert state_at(facts, "2026-04-01")["status"] == "active"


def test_terms_are_half_open_active_before_the_end_and_grace_from_the_end() -> None:
    facts = [grant()]
    assert state_at(facts, "2027-02-28T23:59:59Z")["status"] == "active"
    assert state_at(facts, "2027-03-01")["status"] == "grace"
    assert state_at(facts, "2027-03-07T23:59:59Z")["status"] == "grace"
    assert state_at(facts, "2027-03-08")["status"] == "expired"


def test_grace_keeps_features_on_and_expiry_turns_them_off() -> None:
    facts = [grant()]
    assert state_at(facts, "2027-03-02")["features"]["sso"]["enabled"] is True
    assert state_at(facts, "2027-03-09")["features"]["sso"]["enabled"] is False


def test_a_trial_gets_no_grace() -> None:
    facts = [f.make("license.trial_started", "2026-03-01", customer_id="c", plan="pro",
                    ends_at="2026-03-15T00:00:00Z")]
    assert state_at(facts, "2026-03-14")["status"] == "trial"
    assert state_at(facts, "2026-03-15")["status"] == "expired"


def test_each_status_comes_before_the_next_in_the_contracts_order() -> None:
    suspended_in_grace = [grant(ends_at="2026-04-01T00:00:00Z"),
                          f.make("license.suspended", "2026-03-15", reason="payment_failed")]
    assert state_at(suspended_in_grace, "2026-04-03")["status"] == "suspended"  # over grace
    assert state_at(suspended_in_grace, "2026-04-09")["status"] == "expired"  # over suspended
    pending_then_ended = [grant(starts_at="2026-05-01T00:00:00Z", ends_at="2026-06-01T00:00:00Z")]
    assert state_at(pending_then_ended, "2026-04-15")["status"] == "pending"
    suspended_trial = [f.make("license.trial_started", "2026-03-01", customer_id="c", plan="pro",
                              ends_at="2026-04-01T00:00:00Z"),
                       f.make("license.suspended", "2026-03-05", reason="x")]
    assert state_at(suspended_trial, "2026-03-10")["status"] == "suspended"  # over trial


def test_revoked_comes_before_every_other_status() -> None:
    facts = [grant(starts_at="2026-06-01T00:00:00Z"), f.make("license.revoked", "2026-04-01", reason="x")]
    assert state_at(facts, "2026-04-02")["status"] == "revoked"


def test_suspended_licenses_have_their_features_off() -> None:
    facts = [grant(), f.make("license.suspended", "2026-04-01", reason="payment_failed")]
    state = state_at(facts, "2026-04-02")
    assert state["status"] == "suspended"
    assert not any(feature["enabled"] for feature in state["features"].values())


def test_the_state_has_the_contracts_shape() -> None:
    facts = [grant(region="DE"), f.make("seat.assigned", "2026-03-02", user_id="u-1")]
    state = state_at(facts, "2026-03-05")
    assert state == {
        "license_id": "lic-1", "tenant": "acme", "customer_id": "cust-7", "plan": "pro",
        "status": "active", "seats": 10, "seats_assigned": ["u-1"],
        "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z", "region": "DE",
        "features": {"reports": {"enabled": True}, "sso": {"enabled": True},
                     "api_calls": {"enabled": True, "limit": 100000, "period": "month", "used": 0}},
        "catalog_version": "2026-03", "last_event_id": facts[1].source_event_id,
    }


def test_a_blocked_region_turns_only_that_feature_off() -> None:
    facts = [grant(plan="enterprise", region="KP")]
    features = state_at(facts, "2026-03-05")["features"]
    assert features["audit_export"]["enabled"] is False
    assert features["sso"]["enabled"] is True


def test_monthly_usage_counts_only_the_calendar_month_asked_about() -> None:
    facts = [grant()]
    usage = [f.make("usage.recorded", "2026-03-10", feature="api_calls", quantity=5),
             f.make("usage.recorded", "2026-04-10", feature="api_calls", quantity=7),
             f.make("usage.recorded", "2026-04-20", feature="api_calls", quantity=1)]
    assert state_at(facts, "2026-03-31T23:59:59Z", usage)["features"]["api_calls"]["used"] == 5
    assert state_at(facts, "2026-04-15", usage)["features"]["api_calls"]["used"] == 7
    assert state_at(facts, "2026-04-30", usage)["features"]["api_calls"]["used"] == 8


def test_total_usage_counts_since_ever() -> None:
    total = {"version": "t", "plans": {"pro": {"tier": 1, "features": {"exports": {"limit": 10, "period": "total"}}}}}
    catalogs = f.catalogs(("2026-01-01", total))
    facts = [grant()]
    usage = [f.make("usage.recorded", "2026-03-10", feature="exports", quantity=2),
             f.make("usage.recorded", "2026-05-10", feature="exports", quantity=3)]
    assert state_at(facts, "2026-06-01", usage, catalogs=catalogs)["features"]["exports"]["used"] == 5


def test_features_limits_and_grace_come_from_the_catalog_in_force_at_the_moment_asked() -> None:
    richer = {"version": "2026-06", "plans": {**CATALOG["plans"], "pro": {
        "tier": 2, "features": {"reports": {}, "sso": {}, "ai": {}}, "grace_days": 30}}}
    catalogs = f.catalogs(("2026-01-01", CATALOG), ("2026-06-01", richer))
    facts = [grant()]
    assert "ai" not in state_at(facts, "2026-05-01", catalogs=catalogs)["features"]
    later = state_at(facts, "2026-06-02", catalogs=catalogs)
    assert later["features"]["ai"] == {"enabled": True} and later["catalog_version"] == "2026-06"
    assert state_at(facts, "2027-03-20", catalogs=catalogs)["status"] == "grace"


def test_a_late_revocation_supersedes_the_upgrade_recorded_after_it() -> None:
    facts = [grant(), f.make("license.upgraded", "2026-05-01", plan="enterprise", recorded="2026-05-01"),
             f.make("license.revoked", "2026-04-01", reason="chargeback", recorded="2026-06-01")]
    marked = {fact.type: mark for fact, mark in history(facts, [], CATALOGS)}
    assert marked == {"license.granted": "applied", "license.revoked": "applied",
                      "license.upgraded": "superseded"}


def test_what_we_believed_before_a_late_record_differs_from_what_we_know_after() -> None:
    facts = [grant(), f.make("license.upgraded", "2026-05-01", plan="enterprise", recorded="2026-05-01"),
             f.make("license.revoked", "2026-04-01", reason="chargeback", recorded="2026-06-01")]
    believed = state_at(facts, "2026-05-15", known_at="2026-05-20")
    known = state_at(facts, "2026-05-15", known_at="2026-06-02")
    assert (believed["status"], believed["plan"]) == ("active", "enterprise")
    assert (known["status"], known["plan"]) == ("revoked", "pro")


def test_usage_after_a_late_revocation_no_longer_counts() -> None:
    facts = [grant(), f.make("license.revoked", "2026-03-15", reason="x", recorded="2026-04-01")]
    usage = [f.make("usage.recorded", "2026-03-10", feature="api_calls", quantity=5),
             f.make("usage.recorded", "2026-03-20", feature="api_calls", quantity=7, recorded="2026-03-20")]
    assert state_at(facts, "2026-03-25", usage)["features"]["api_calls"]["used"] == 5
    marks = [mark for _, mark in history(facts, usage, CATALOGS) if _.type == "usage.recorded"]
    assert marks == ["applied", "superseded"]


def test_status_of_a_license_follows_the_clock_not_events() -> None:
    terms = fold([grant(ends_at="2026-04-01T00:00:00Z")], CATALOGS).terms
    assert terms is not None
    assert [status(terms, CATALOGS, t(d)) for d in ("2026-03-15", "2026-04-03", "2026-04-09")] == [
        "active", "grace", "expired"]


def test_an_event_at_the_end_of_time_is_still_in_history_and_the_fold_does_not_overflow() -> None:
    facts = [grant(ends_at="9999-12-31T23:00:00Z"),
             f.make("license.suspended", "9999-12-31T12:00:00Z", reason="x")]
    assert [mark for _, mark in history(facts, [], CATALOGS)] == ["applied", "applied"]
    assert state_at(facts, "9999-12-31T23:30:00Z")["status"] == "grace"
