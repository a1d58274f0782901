"""Reconciliation rules over one license's facts and payments, pure."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.reconcile import reconcile
from ledger.domain.timeline import Span, statuses, uncovered
from tests.builders import Facts, t


def paid(facts: Facts, kind: str, start: str, end: str, invoice: str, at: str | None = None,
         **extra: Any) -> Any:
    return facts.make(kind, at or start, "lic-1", amount=4900, currency="eur", period_start=t(start),
                      period_end=t(end), invoice_id=invoice, **extra)


def findings(facts: Facts, lifecycle: list[Any], payments: list[Any], as_of: str,
             usage: list[Any] | None = None, days: int = 7) -> list[dict[str, Any]]:
    return reconcile(lifecycle, usage or [], payments, facts.catalogs(), t(as_of), days)


def test_a_license_paid_for_every_active_day_has_no_finding() -> None:
    f = Facts()
    grant = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic")]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-03-01", "inv-1"),
                paid(f, "payment.succeeded", "2026-03-01", "2026-04-01", "inv-2")]
    assert findings(f, grant, payments, "2026-04-01") == []


def test_an_active_month_nobody_paid_for_is_revenue_leakage() -> None:
    f = Facts()
    grant = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic")]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-03-01", "inv-1")]
    [leak] = findings(f, grant, payments, "2026-04-01")
    assert (leak["code"], leak["from"], leak["to"]) == ("unpaid_usage", "2026-03-01T00:00:00Z",
                                                        "2026-04-01T00:00:00Z")
    assert leak["facts"] == [grant[0].source_event_id]


def test_a_suspension_inside_a_paid_period_is_customer_harm() -> None:
    f = Facts()
    lifecycle = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic"),
                 f.make("license.suspended", "2026-02-10", reason="payment_failed"),
                 f.make("license.reinstated", "2026-02-20")]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-03-01", "inv-1")]
    [harm] = findings(f, lifecycle, payments, "2026-03-01")
    assert (harm["code"], harm["status"], harm["from"], harm["to"]) == (
        "paid_but_blocked", "suspended", "2026-02-10T00:00:00Z", "2026-02-20T00:00:00Z")
    assert harm["payments"][0]["invoice_id"] == "inv-1"


def test_a_failed_payment_without_suspension_is_found_after_the_tenants_days() -> None:
    f = Facts()
    grant = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic")]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-03-01", "inv-1"),
                paid(f, "payment.failed", "2026-03-01", "2026-04-01", "inv-2", at="2026-03-02")]
    assert [x["code"] for x in findings(f, grant, payments, "2026-03-08", days=7)] == ["unpaid_usage"]
    codes = [x["code"] for x in findings(f, grant, payments, "2026-03-10", days=7)]
    assert codes == ["unpaid_usage", "failed_payment_not_suspended"]
    settled = [*payments, paid(f, "payment.succeeded", "2026-03-01", "2026-04-01", "inv-2", at="2026-03-05")]
    assert findings(f, grant, settled, "2026-03-10", days=7) == []


def test_usage_above_the_limit_of_a_month_is_overage_to_bill() -> None:
    f = Facts()
    grant = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic")]
    usage = [f.make("usage.recorded", "2026-02-10", feature="api_calls", quantity=700),
             f.make("usage.recorded", "2026-02-20", feature="api_calls", quantity=500),
             f.make("usage.recorded", "2026-03-02", feature="api_calls", quantity=10)]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-04-01", "inv-1")]
    [over] = findings(f, grant, payments, "2026-03-15", usage)
    assert (over["code"], over["month"], over["limit"], over["used"], over["overage"]) == (
        "overage", "2026-02", 1000, 1200, 200)
    assert over["facts"] == [u.source_event_id for u in usage[:2]]


def test_seats_assigned_beyond_the_seats_paid_for_are_found() -> None:
    f = Facts()
    lifecycle = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic", seats=3),
                 f.make("seat.assigned", "2026-02-02", user_id="u1"),
                 f.make("seat.assigned", "2026-02-03", user_id="u2")]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-03-01", "inv-1", seats=1)]
    [seats] = findings(f, lifecycle, payments, "2026-02-15")
    assert (seats["code"], seats["seats_assigned"], seats["seats_paid"]) == ("seats_over_paid", 2, 1)


spans = st.lists(st.tuples(st.integers(0, 100), st.integers(1, 30)), max_size=6)


@given(spans, st.integers(0, 50), st.integers(1, 80))
def test_the_uncovered_parts_and_the_covers_together_are_the_whole_span(covers: list[tuple[int, int]],
                                                                       start: int, length: int) -> None:
    day = t("2026-01-01")
    moment = lambda n: day.replace(day=1) + (n * (t("2026-01-02") - day))  # noqa: E731
    intervals = [(moment(a), moment(a + n)) for a, n in covers]
    gaps = uncovered(moment(start), moment(start + length), intervals)
    for n in range(start, start + length):
        point = moment(n)
        in_gap = any(lo <= point < hi for lo, hi in gaps)
        covered = any(lo <= point < hi for lo, hi in intervals)
        assert in_gap != covered


def test_a_term_ending_at_the_end_of_time_with_a_plans_grace_past_it_is_reconciled() -> None:
    """Its end plus a plan's grace lies past year 9999: no status changes out there (it was an
    OverflowError, a 500 from /v1/reconciliation for the tenant's every call)."""
    f = Facts()
    grant = [f.make("license.granted", "2026-02-01", customer_id="c", plan="pro",
                    ends_at=t("9999-12-31T23:59:59Z"))]
    payments = [paid(f, "payment.succeeded", "2026-02-01", "2026-03-01", "inv-1")]
    [leak] = findings(f, grant, payments, "2026-04-01")
    assert (leak["code"], leak["from"], leak["to"]) == ("unpaid_usage", "2026-03-01T00:00:00Z",
                                                        "2026-04-01T00:00:00Z")
    assert statuses(grant, f.catalogs(), t("2026-04-01")) == [
        Span(t("2026-02-01"), t("2026-04-01"), "active")]


def test_a_failed_payment_at_the_end_of_time_is_never_due() -> None:
    f = Facts()
    grant = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic")]
    payments = [paid(f, "payment.failed", "9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z", "inv-9",
                     at="9999-12-31T23:59:59Z")]
    assert [x["code"] for x in findings(f, grant, payments, "9999-12-31T23:59:59Z")
            if x["code"] == "failed_payment_not_suspended"] == []


def test_usage_in_the_last_month_of_time_is_judged_at_as_of() -> None:
    """December 9999 has no following month to end before (it was a ValueError, a 500)."""
    f = Facts()
    grant = [f.make("license.granted", "9999-12-01", customer_id="c", plan="basic")]
    usage = [f.make("usage.recorded", "9999-12-15", feature="api_calls", quantity=1500)]
    payments = [paid(f, "payment.succeeded", "9999-12-01", "9999-12-31T23:59:59Z", "inv-1")]
    over = [x for x in findings(f, grant, payments, "9999-12-31T00:00:00Z", usage)
            if x["code"] != "unpaid_usage"]
    assert [(x["code"], x["used"], x["limit"]) for x in over] == [("overage", 1500, 1000)]
