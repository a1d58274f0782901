"""`explain` over a realistic year of one tenant: at every week, for every customer and
feature, the answer is the check's, and the facts it names are the ones that decided it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.audit.explain import explain
from ledger.bootstrap import Wiring
from ledger.domain.check import decide
from ledger.domain.state import LicenseState
from tests.builders import catalog_envelope, envelope

YEAR = [
    envelope("license.granted", "2026-01-15", "lic-a", id="a-grant", customer_id="cust-a", plan="basic",
             ends_at="2027-01-15T00:00:00Z"),
    envelope("license.trial_started", "2026-02-01", "lic-b", id="b-trial", customer_id="cust-b", plan="pro",
             ends_at="2026-02-15T00:00:00Z"),
    envelope("license.granted", "2026-02-01", "lic-c", id="c-grant", customer_id="cust-c",
             plan="enterprise", region="KP", ends_at="2026-10-01T00:00:00Z"),
    envelope("license.granted", "2026-02-01", "lic-d", id="d-grant", customer_id="cust-d", plan="pro",
             starts_at="2026-03-01T00:00:00Z"),
    envelope("license.upgraded", "2026-03-01", "lic-a", id="a-up", plan="pro"),
    envelope("license.suspended", "2026-04-01", "lic-a", id="a12", source="billing/erp",
             reason="payment_failed"),
    envelope("license.reinstated", "2026-04-20", "lic-a", id="a-back"),
    envelope("license.suspended", "2026-08-01", "lic-a", id="a-again", reason="payment_failed"),
    envelope("license.trial_converted", "2026-05-01", "lic-b", id="b-paid", plan="basic"),
    envelope("license.revoked", "2026-09-01", "lic-d", id="d-end", reason="chargeback"),
    *[envelope("usage.recorded", f"2026-{m:02d}-{d:02d}", "lic-b", id=f"b-use-{m}-{d}",
               feature="api_calls", quantity=300) for m in range(5, 13) for d in (3, 9, 17, 25)],
    *[envelope("usage.recorded", f"2026-{m:02d}-10", "lic-a", id=f"a-use-{m}", feature="api_calls",
               quantity=5000) for m in range(3, 13)],
]
FEATURES = ["reports", "sso", "api_calls", "audit_export"]
CUSTOMERS = ["cust-a", "cust-b", "cust-c", "cust-d", "cust-nobody"]


def by_id() -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in YEAR}


def test_every_explanation_gives_the_checks_answer_and_names_what_decided_it(
        sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(sqlite_url)
    outcomes = wiring.ledger.ingest([catalog_envelope("2026-01-01"), *YEAR], "acme")
    assert {o.status for o in outcomes} == {"accepted"}
    known = datetime.now(UTC)
    events = by_id()
    seen: set[str] = set()
    moment = datetime(2026, 1, 10, tzinfo=UTC)
    while moment < datetime(2027, 1, 1, tzinfo=UTC):
        for customer in CUSTOMERS:
            states = wiring.ledger.replay("acme", moment, known, customer_id=customer)
            for feature in FEATURES:
                answer = explain(wiring.ledger, wiring.store, "acme", customer, feature, moment, known)
                check = answer["check"]
                assert check == decide([LicenseState.from_dict(s, moment) for s in states],
                                       feature).as_dict()
                reason = check["reason"]
                seen.add(reason)
                words = answer["explanation"]
                assert words.startswith("allowed" if check["allowed"] else f"denied: {reason}"), words
                facts = answer["facts"]
                assert all(f["position"] is not None and len(f["hash"]) == 64 for f in facts)
                assert all(datetime.fromisoformat(f["effective_at"]) <= moment for f in facts)
                named = {f["id"] for f in facts}
                if reason == "suspended":
                    latest = max((e for e in YEAR if e["type"] == "license.suspended"
                                  and e["subject"] == check["license_id"]
                                  and datetime.fromisoformat(e["time"]) <= moment), key=lambda e: e["time"])
                    assert latest["id"] in named and latest["id"] in words
                    assert latest["data"]["reason"] in words
                if reason == "revoked":
                    assert "d-end" in named and "chargeback" in words
                if reason == "region_blocked":
                    assert "region KP is blocked for audit_export" in words and "c-grant" in named
                if reason == "pending":
                    assert "d-grant" in named and "2026-03-01T00:00:00Z" in words
                if reason == "expired":
                    granted = {"lic-c": "c-grant", "lic-b": "b-trial"}[check["license_id"]]
                    assert granted in named
                if reason in ("ok", "limit_exceeded") and check["limit"] is not None:
                    counted = [f for f in facts if f["why"] == "usage counted"]
                    assert sum(f["data"]["quantity"] for f in counted) == check["used"]
                    assert all(events[f["id"]]["subject"] == check["license_id"] for f in counted)
                if reason == "no_license":
                    assert facts == []
                plan_setters = [f for f in facts if f["type"] in ("license.upgraded", "license.granted",
                                                                  "license.trial_converted", "license.trial_started")]
                if reason in ("ok", "feature_not_in_plan") and check["license_id"]:
                    state = next(s for s in states if s["license_id"] == check["license_id"])
                    assert plan_setters and plan_setters[-1]["data"]["plan"] == state["plan"]
                assert any(f["why"] == "catalog in force" for f in facts) or reason == "no_license"
        moment += timedelta(days=7)
    assert seen >= {"ok", "suspended", "revoked", "region_blocked", "pending", "expired",
                    "limit_exceeded", "feature_not_in_plan", "no_license"}


def test_a_suspension_reads_as_the_issue_says(sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(sqlite_url)
    wiring.ledger.ingest([catalog_envelope("2026-01-01"), *YEAR[:7]], "acme")
    answer = explain(wiring.ledger, wiring.store, "acme", "cust-a", "reports",
                     datetime(2026, 4, 5, tzinfo=UTC), datetime.now(UTC))
    assert answer["explanation"].startswith(
        "denied: suspended: suspended since 2026-04-01T00:00:00Z by a12 from billing/erp, effective "
        "2026-04-01T00:00:00Z, recorded ")
    assert "(payment_failed)" in answer["explanation"]
