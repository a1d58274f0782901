"""Writes examples/events.jsonl: a year (2026) of billing events of tenant `acme`, the data the
README's commands use. Deterministic: `python examples/make_events.py > examples/events.jsonl`
gives the committed file again (a test checks it).

- lic-42 (cust-7): pro in Germany from 2026-01-01, seats given out, weekly API usage, more
  seats in July, renewed in December for 2027
- lic-43 (cust-8): a pro trial in February converted to basic, upgraded to pro in June,
  downgraded to basic in November
- lic-44 (cust-9): enterprise in Iran (audit_export blocked there), suspended in August for a
  failed payment and reinstated
- lic-45 (cust-10): basic for six months, ended 2026-10-01
- lic-46 (cust-11): basic, upgraded in September, then a late record: a revocation dated
  2026-08-15 sent after the upgrade, which leaves the upgrade superseded
- payments (sent last): lic-42's July paid; lic-44's July failed, a week before its suspension
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

TENANT, SOURCE = "acme", "billing/stripe"
START = datetime(2026, 1, 1, tzinfo=UTC)


def at(month: int, day: int, hour: int = 0) -> str:
    return datetime(2026, month, day, hour, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(type_: str, time: str, subject: str, **data: Any) -> None:
        out.append({"specversion": "1.0", "id": f"stripe-evt-{len(out) + 1:04d}", "source": SOURCE,
                    "type": type_, "time": time, "subject": subject, "tenantid": TENANT,
                    "datacontenttype": "application/json", "data": data})

    add("license.granted", at(1, 1), "lic-42", customer_id="cust-7", plan="pro", seats=10,
        ends_at="2027-01-01T00:00:00Z", region="DE")
    for n, user in enumerate(("u-anna", "u-ben", "u-chen", "u-dara"), start=2):
        add("seat.assigned", at(1, n, 9), "lic-42", user_id=user)
    add("license.trial_started", at(2, 1), "lic-43", customer_id="cust-8", plan="pro",
        ends_at="2026-02-15T00:00:00Z", seats=3)
    add("license.trial_converted", at(2, 14), "lic-43", plan="basic", ends_at="2027-02-14T00:00:00Z")
    add("license.granted", at(3, 1), "lic-44", customer_id="cust-9", plan="enterprise", seats=25,
        ends_at="2027-03-01T00:00:00Z", region="IR")
    add("license.granted", at(4, 1), "lic-45", customer_id="cust-10", plan="basic",
        ends_at="2026-10-01T00:00:00Z")
    add("license.granted", at(5, 1), "lic-46", customer_id="cust-11", plan="basic")
    add("license.upgraded", at(6, 1), "lic-43", plan="pro")
    add("license.seats_changed", at(7, 1), "lic-42", seats=15)
    add("seat.assigned", at(7, 2, 9), "lic-42", user_id="u-eli")
    add("seat.released", at(7, 20, 9), "lic-42", user_id="u-ben")
    add("license.suspended", at(8, 1), "lic-44", reason="payment_failed")
    add("license.reinstated", at(8, 20), "lic-44")
    add("license.upgraded", at(9, 1), "lic-46", plan="pro")
    add("license.downgraded", at(11, 1), "lic-43", plan="basic")
    add("license.renewed", at(12, 1), "lic-42", ends_at="2028-01-01T00:00:00Z")
    week = START + timedelta(days=4, hours=12)  # the first Monday, at noon
    while week.year == 2026:
        add("usage.recorded", week.strftime("%Y-%m-%dT%H:%M:%SZ"), "lic-42", feature="api_calls",
            quantity=1500 + 100 * (week.isocalendar().week % 7))
        if week.day <= 7 and week.month >= 3:
            add("usage.recorded", week.strftime("%Y-%m-%dT%H:%M:%SZ"), "lic-44", feature="exports",
                quantity=2)
        if week.day <= 7 and week.month >= 2:
            add("usage.recorded", week.strftime("%Y-%m-%dT%H:%M:%SZ"), "lic-43", feature="api_calls",
                quantity=300)
        week += timedelta(days=7)
    add("license.revoked", at(8, 15), "lic-46", reason="chargeback")  # sent late, after the upgrade
    # payments, for `ledger reconcile` (docs/governance.md): lic-44's July invoice failed
    add("payment.succeeded", at(7, 1), "lic-42", amount=49000, currency="EUR",
        period_start=at(7, 1), period_end=at(8, 1), invoice_id="inv-42-2026-07", seats=15)
    add("payment.failed", at(7, 25), "lic-44", amount=99000, currency="EUR",
        period_start=at(7, 1), period_end=at(8, 1), invoice_id="inv-44-2026-07",
        reason="card_declined")
    return out


if __name__ == "__main__":
    for envelope in events():
        sys.stdout.write(json.dumps(envelope, separators=(",", ":")) + "\n")
