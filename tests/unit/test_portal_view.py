"""What the portal says about a license: the check's own verdicts, in the customer's words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.api.portal.view import UsageBar, describe, features, license_view, usage
from ledger.domain.check import decide
from ledger.domain.state import LicenseState
from schemas.events import EVENT_TYPES, PAYMENTS

STATUSES = ["trial", "active", "grace", "suspended", "expired", "revoked", "pending"]


def state(status: str = "active", region: str | None = None, **entries: dict[str, Any]) -> dict[str, Any]:
    return {"license_id": "lic-1", "tenant": "t", "customer_id": "c-1", "plan": "pro",
            "status": status, "seats": 3, "seats_assigned": ["u-1"], "region": region,
            "starts_at": "2026-01-01T00:00:00Z", "features": entries}


def typed(status: str = "active", region: str | None = None,
          **entries: dict[str, Any]) -> LicenseState:
    """The typed state the portal is given (the cache's), from the contract's document."""
    return LicenseState.from_dict(state(status, region, **entries), datetime(2026, 6, 1, tzinfo=UTC))


def test_a_feature_of_another_plan_is_off_because_the_plan_lacks_it() -> None:
    [line] = features(typed(), ["sso"])
    assert (line.on, line.reason, line.why_off) == (False, "feature_not_in_plan", "not in plan pro")


def test_a_suspended_license_shows_its_features_off_for_the_suspension() -> None:
    [line] = features(typed("suspended", sso={"enabled": False}), [])
    assert (line.on, line.why_off) == (False, "the license is suspended")


def test_a_region_block_names_the_region() -> None:
    [line] = features(typed(region="IR", audit={"enabled": False, "blocked_region": "IR"}), [])
    assert (line.reason, line.why_off) == ("region_blocked", "not available in region IR")


@given(st.sampled_from(STATUSES), st.integers(0, 20), st.integers(1, 20), st.booleans())
def test_every_feature_line_agrees_with_the_check(status: str, used: int, limit: int,
                                                  blocked: bool) -> None:
    entry: dict[str, Any] = {"enabled": status in {"trial", "active", "grace"} and not blocked,
                             "limit": limit, "used": used}
    if blocked:
        entry["blocked_region"] = "KP"
    s = typed(status, region="KP" if blocked else None, api=entry)
    [line] = features(s, ["api"])
    decision = decide([s], "api")
    assert line.reason == decision.reason
    assert (line.why_off is None) == decision.allowed


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_a_usage_bar_is_between_empty_and_full_and_full_at_the_limit(used: int, limit: int) -> None:
    bar = UsageBar("api", used, limit, "month")
    assert 0 <= bar.percent <= 100
    if used >= limit:
        assert bar.percent == 100
    if used * 100 < limit * 99:
        assert bar.percent < 100


def test_metered_features_are_listed_with_their_count_and_unlimited_ones_too() -> None:
    bars = usage(state(api={"enabled": True, "limit": 10, "used": 4, "period": "month"},
                       rows={"enabled": True, "limit": None, "used": 7}, sso={"enabled": True}))
    assert [(b.feature, b.used, b.limit) for b in bars] == [("api", 4, 10), ("rows", 7, None)]


def test_every_license_event_type_has_plain_words() -> None:
    for kind in EVENT_TYPES:  # payments are no license event: a license's history has none
        if kind not in ("catalog.published", *PAYMENTS):
            words = describe({"type": kind, "data": {"plan": "pro", "ends_at": "2027-03-01T00:00:00Z",
                                                     "reason": "x", "seats": 2, "user_id": "u",
                                                     "feature": "api", "quantity": 3}})
            assert words and words != kind and "None" not in words


def test_history_shows_the_newest_change_first_and_counts_the_rest() -> None:
    history = [{"type": "usage.recorded", "effective_at": f"2026-01-{d:02d}T00:00:00Z",
                "data": {"feature": "api", "quantity": d}, "status": "applied"} for d in range(1, 29)]
    history += [{"type": "license.upgraded", "effective_at": "2026-02-01T00:00:00Z",
                 "data": {"plan": "pro"}, "status": "superseded"}] * 30
    view = license_view(typed(), history, [])
    assert view.changes[0].words == "Upgraded to plan pro" and view.changes[0].superseded
    assert (len(view.changes), view.earlier_changes, view.seats_free) == (50, 8, 2)
