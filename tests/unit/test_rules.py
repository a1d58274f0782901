"""Every rule of the contract, as given events / when an event / then a state or a rejection."""

from __future__ import annotations

import pytest

from ledger.domain.facts import Fact, RuleBrokenError
from ledger.domain.fold import fold, judge
from ledger.domain.state import status
from tests.builders import CATALOG, Facts, t

f = Facts()
CATALOGS = f.catalogs()


def grant(time: str = "2026-03-01", subject: str = "lic-1", **data: object) -> Fact:
    defaults: dict[str, object] = {"customer_id": "cust-7", "plan": "pro", "seats": 2,
                                   "ends_at": "2027-03-01T00:00:00Z"}
    return f.make("license.granted", time, subject, **{**defaults, **data})


def rejected(given: list[Fact], when: Fact) -> str:
    with pytest.raises(RuleBrokenError) as caught:
        judge(given, CATALOGS, when)
    assert caught.value.message, "a rejection always carries a sentence"
    return caught.value.code


def test_a_grant_makes_an_active_license_with_the_contracts_defaults() -> None:
    terms = judge([], CATALOGS, f.make("license.granted", "2026-03-01", customer_id="c", plan="basic"))
    assert (terms.seats, terms.starts_at, terms.ends_at) == (1, t("2026-03-01"), None)
    assert status(terms, CATALOGS, t("2030-01-01")) == "active"


def test_a_grant_for_a_license_that_exists_is_rejected() -> None:
    assert rejected([grant()], grant("2026-04-01")) == "license_exists"


def test_a_back_dated_second_grant_for_an_existing_license_is_rejected() -> None:
    assert rejected([grant("2026-03-01")], grant("2026-02-01", customer_id="someone-else")) == "license_exists"


def test_an_event_before_the_grant_is_for_an_unknown_license() -> None:
    assert rejected([grant()], f.make("license.suspended", "2026-02-01", reason="x")) == "unknown_license"


def test_an_event_for_a_license_never_granted_is_for_an_unknown_license() -> None:
    assert rejected([], f.make("seat.assigned", "2026-04-01", user_id="u")) == "unknown_license"


def test_a_plan_the_catalog_does_not_list_is_rejected() -> None:
    assert rejected([], grant(plan="platinum")) == "unknown_plan"


def test_a_grant_before_any_catalog_is_in_force_is_an_unknown_plan() -> None:
    assert rejected([], grant("2025-12-31")) == "unknown_plan"


def test_an_upgrade_to_a_higher_tier_changes_the_plan() -> None:
    terms = judge([grant()], CATALOGS, f.make("license.upgraded", "2026-04-01", plan="enterprise"))
    assert terms.plan == "enterprise"


@pytest.mark.parametrize("plan", ["basic", "pro"])
def test_an_upgrade_to_a_tier_that_is_not_higher_is_rejected(plan: str) -> None:
    assert rejected([grant()], f.make("license.upgraded", "2026-04-01", plan=plan)) == "not_an_upgrade"


@pytest.mark.parametrize("plan", ["enterprise", "pro"])
def test_a_downgrade_to_a_tier_that_is_not_lower_is_rejected(plan: str) -> None:
    assert rejected([grant()], f.make("license.downgraded", "2026-04-01", plan=plan)) == "not_a_downgrade"


def test_tiers_are_compared_in_the_catalog_in_force_at_the_event() -> None:
    swapped = {"version": "2026-06", "plans": {**CATALOG["plans"],
                                               "basic": {**CATALOG["plans"]["basic"], "tier": 5}}}
    catalogs = f.catalogs(("2026-01-01", CATALOG), ("2026-06-01", swapped))
    early = f.make("license.upgraded", "2026-05-01", plan="basic")
    late = f.make("license.upgraded", "2026-07-01", plan="basic")
    with pytest.raises(RuleBrokenError):
        judge([grant()], catalogs, early)
    assert judge([grant()], catalogs, late).plan == "basic"


def test_a_seat_beyond_the_seat_count_is_rejected() -> None:
    given = [grant(), f.make("seat.assigned", "2026-03-02", user_id="u1"),
             f.make("seat.assigned", "2026-03-02", user_id="u2")]
    assert rejected(given, f.make("seat.assigned", "2026-03-03", user_id="u3")) == "no_free_seat"


def test_a_seat_assigned_twice_is_rejected() -> None:
    given = [grant(), f.make("seat.assigned", "2026-03-02", user_id="u1")]
    assert rejected(given, f.make("seat.assigned", "2026-03-03", user_id="u1")) == "seat_already_assigned"


def test_releasing_a_seat_the_user_does_not_hold_is_rejected() -> None:
    assert rejected([grant()], f.make("seat.released", "2026-03-03", user_id="u1")) == "seat_not_assigned"


def test_a_released_seat_can_be_taken_by_another_user() -> None:
    given = [grant(seats=1), f.make("seat.assigned", "2026-03-02", user_id="u1"),
             f.make("seat.released", "2026-03-03", user_id="u1")]
    assert judge(given, CATALOGS, f.make("seat.assigned", "2026-03-04", user_id="u2")).seats_assigned == ("u2",)


def test_lowering_the_seat_count_below_the_seats_in_use_is_rejected() -> None:
    given = [grant(), f.make("seat.assigned", "2026-03-02", user_id="u1"),
             f.make("seat.assigned", "2026-03-02", user_id="u2")]
    assert rejected(given, f.make("license.seats_changed", "2026-03-03", seats=1)) == "seats_in_use"


def test_a_renewal_that_does_not_extend_the_term_is_rejected() -> None:
    when = f.make("license.renewed", "2026-04-01", ends_at="2027-03-01T00:00:00Z")
    assert rejected([grant()], when) == "not_an_extension"


def test_renewing_a_license_without_an_end_is_rejected() -> None:
    when = f.make("license.renewed", "2026-04-01", ends_at="2028-03-01T00:00:00Z")
    assert rejected([grant(ends_at=None)], when) == "not_an_extension"


def test_a_lapsed_customer_who_pays_comes_back_with_a_renewal_after_expiry() -> None:
    given = [grant(ends_at="2026-06-01T00:00:00Z")]
    assert status(fold(given, CATALOGS).terms, CATALOGS, t("2026-07-01")) == "expired"  # type: ignore[arg-type]
    terms = judge(given, CATALOGS, f.make("license.renewed", "2026-07-01", ends_at="2027-07-01T00:00:00Z"))
    assert status(terms, CATALOGS, t("2026-07-02")) == "active"


def test_suspending_a_suspended_license_is_rejected() -> None:
    given = [grant(), f.make("license.suspended", "2026-04-01", reason="payment_failed")]
    assert rejected(given, f.make("license.suspended", "2026-04-02", reason="again")) == "already_suspended"


def test_reinstating_a_license_that_is_not_suspended_is_rejected() -> None:
    assert rejected([grant()], f.make("license.reinstated", "2026-04-01")) == "not_suspended"


def test_a_suspension_is_in_force_whatever_the_term_says() -> None:
    given = [grant(ends_at="2026-04-01T00:00:00Z"), f.make("license.suspended", "2026-05-01", reason="x")]
    terms = judge(given, CATALOGS, f.make("license.reinstated", "2026-05-02"))
    assert not terms.suspended


def test_converting_a_license_that_is_not_a_trial_is_rejected() -> None:
    assert rejected([grant()], f.make("license.trial_converted", "2026-04-01")) == "not_a_trial"


def test_a_trial_converted_after_its_trial_ended_and_without_an_end_has_no_end() -> None:
    trial = f.make("license.trial_started", "2026-03-01", customer_id="c", plan="pro",
                   ends_at="2026-03-15T00:00:00Z")
    assert status(fold([trial], CATALOGS).terms, CATALOGS, t("2026-03-20")) == "expired"  # type: ignore[arg-type]
    terms = judge([trial], CATALOGS, f.make("license.trial_converted", "2026-03-20", plan="enterprise"))
    assert (terms.trial, terms.plan, terms.ends_at) == (False, "enterprise", None)
    assert status(terms, CATALOGS, t("2030-01-01")) == "active"


def test_a_conversion_ending_before_it_takes_effect_is_invalid() -> None:
    trial = f.make("license.trial_started", "2026-03-01", customer_id="c", plan="pro",
                   ends_at="2026-03-15T00:00:00Z")
    when = f.make("license.trial_converted", "2026-03-10", ends_at="2026-03-05T00:00:00Z")
    assert rejected([trial], when) == "invalid_event"


def test_nothing_but_history_after_a_revocation() -> None:
    given = [grant(), f.make("license.revoked", "2026-04-01", reason="fraud")]
    for when in (f.make("license.reinstated", "2026-04-02"), f.make("seat.assigned", "2026-04-02", user_id="u"),
                 f.make("license.renewed", "2026-04-02", ends_at="2029-01-01T00:00:00Z"),
                 f.make("usage.recorded", "2026-04-02", feature="api_calls", quantity=1)):
        assert rejected(given, when) == "revoked"


def test_a_grant_ending_before_it_starts_is_invalid() -> None:
    assert rejected([], grant(starts_at="2026-05-01T00:00:00Z", ends_at="2026-04-01T00:00:00Z")) == "invalid_event"


def test_usage_is_accepted_for_an_existing_license_and_refused_before_its_grant() -> None:
    judge([grant()], CATALOGS, f.make("usage.recorded", "2026-04-02", feature="api_calls", quantity=3))
    assert rejected([grant()], f.make("usage.recorded", "2026-02-02", feature="api_calls",
                                      quantity=3)) == "unknown_license"
