"""Reconciliation: do a license's entitlements match what was paid? Pure: one license's
facts, usage and payments in, findings out, each with a stable code and the facts and
payments that show it.

- `unpaid_usage` (revenue leakage): the license was `active` in a stretch of time that no
  successful payment's period covers. Trials and grace are free by design and not counted.
- `paid_but_blocked` (customer harm): it was `suspended` or `revoked` inside a paid period.
- `failed_payment_not_suspended`: a payment failed, nothing paid that invoice since, and the
  license was still usable the tenant's `failed_payment_days` later.
- `overage`: metered usage above the plan's limit in a period (to bill).
- `seats_over_paid`: more seats assigned than the newest payment in force paid for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact, later
from ledger.domain.fold import fold
from ledger.domain.state import USABLE, license_state, next_period, status
from ledger.domain.timeline import statuses, uncovered
from ledger.domain.usage import CountedUsage, month_key
from schemas.times import format_time, parse_time

CODES = ("unpaid_usage", "paid_but_blocked", "failed_payment_not_suspended", "overage",
         "seats_over_paid")


def _period(payment: Fact) -> tuple[datetime, datetime]:
    return parse_time(payment.data["period_start"]), parse_time(payment.data["period_end"])


def _cites(payment: Fact) -> dict[str, Any]:
    return {"id": payment.source_event_id, "source": payment.source, "type": payment.type,
            "invoice_id": payment.data["invoice_id"], "amount": payment.data["amount"],
            "currency": payment.data["currency"], "period_start": payment.data["period_start"],
            "period_end": payment.data["period_end"]}


def _fact_ids(facts: Sequence[Fact], start: datetime, end: datetime) -> list[str]:
    """The license facts in force over a stretch: those up to its end (what made it so)."""
    return [f.source_event_id for f in sorted(facts, key=lambda f: f.order) if f.effective_at < end]


def reconcile(facts: Sequence[Fact], usage: Sequence[Fact], payments: Sequence[Fact],
              catalogs: CatalogHistory, as_of: datetime, failed_payment_days: int) -> list[dict[str, Any]]:
    """Every finding for one license as of `as_of` (known now); [] if it matches its payments."""
    terms = fold(facts, catalogs, as_of).terms
    if terms is None:
        return []
    payments = [p for p in payments if p.effective_at <= as_of]
    paid = [p for p in payments if p.type == "payment.succeeded"]
    covers = [_period(p) for p in paid]
    spans = statuses(facts, catalogs, as_of, extra=[m for c in covers for m in c])
    base = {"license_id": terms.license_id, "customer_id": terms.customer_id}
    findings: list[dict[str, Any]] = []
    for span in spans:
        if span.status == "active":
            for lo, hi in uncovered(span.start, span.end, covers):
                findings.append({**base, "code": "unpaid_usage", "from": format_time(lo),
                                 "to": format_time(hi), "facts": _fact_ids(facts, lo, hi),
                                 "payments": []})
        elif span.status in ("suspended", "revoked"):
            for payment in paid:
                hit = span.overlap(*_period(payment))
                if hit:
                    findings.append({**base, "code": "paid_but_blocked", "status": span.status,
                                     "from": format_time(hit[0]), "to": format_time(hit[1]),
                                     "facts": _fact_ids(facts, hit[0], hit[1]),
                                     "payments": [_cites(payment)]})
    findings += _failed(base, facts, payments, catalogs, as_of, failed_payment_days)
    findings += _overage(base, facts, usage, catalogs, as_of)
    findings += _seats(base, facts, paid, catalogs, as_of)
    return findings


def _failed(base: dict[str, Any], facts: Sequence[Fact], payments: Sequence[Fact],
            catalogs: CatalogHistory, as_of: datetime, days: int) -> list[dict[str, Any]]:
    found = []
    for failed in (p for p in payments if p.type == "payment.failed"):
        due = later(failed.effective_at, timedelta(days=days))
        settled = any(p.type == "payment.succeeded" and p.data["invoice_id"] == failed.data["invoice_id"]
                      and p.effective_at >= failed.effective_at for p in payments)
        if settled or due is None or due > as_of:  # None: due past the end of time
            continue
        terms = fold(facts, catalogs, due).terms
        if terms is not None and status(terms, catalogs, due) in USABLE:
            found.append({**base, "code": "failed_payment_not_suspended", "due": format_time(due),
                          "status": status(terms, catalogs, due),
                          "facts": _fact_ids(facts, due, due), "payments": [_cites(failed)]})
    return found


def _overage(base: dict[str, Any], facts: Sequence[Fact], usage: Sequence[Fact],
             catalogs: CatalogHistory, as_of: datetime) -> list[dict[str, Any]]:
    """Per month that has usage, the state at the month's last moment (or `as_of`) says the
    limit and the usage counted; a `total` limit is judged once, at `as_of`."""
    counted = CountedUsage.of(usage)
    found = []
    months = sorted({month_key(u.effective_at) for u in usage if u.effective_at <= as_of})
    for month in months:
        following = next_period(datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC))
        moment = as_of if following is None else min(following - timedelta(microseconds=1), as_of)
        terms = fold(facts, catalogs, moment).terms
        if terms is None:
            continue
        state = license_state(terms, catalogs, counted, moment)
        for name, feature in state["features"].items():
            limit, used = feature.get("limit"), feature.get("used", 0)
            if limit is None or used <= limit or (feature["period"] == "total" and month != months[-1]):
                continue
            ids = [u.source_event_id for u in usage if u.data["feature"] == name
                   and (feature["period"] == "total" or month_key(u.effective_at) == month)]
            found.append({**base, "code": "overage", "feature": name, "period": feature["period"],
                          "month": month, "limit": limit, "used": used, "overage": used - limit,
                          "facts": ids, "payments": []})
    return found


def _seats(base: dict[str, Any], facts: Sequence[Fact], paid: Sequence[Fact],
           catalogs: CatalogHistory, as_of: datetime) -> list[dict[str, Any]]:
    current = [p for p in paid if "seats" in p.data and _period(p)[0] <= as_of < _period(p)[1]]
    terms = fold(facts, catalogs, as_of).terms
    if not current or terms is None:
        return []
    newest = max(current, key=lambda p: (p.effective_at, p.sequence))
    assigned = len(terms.seats_assigned)
    if assigned <= newest.data["seats"]:
        return []
    return [{**base, "code": "seats_over_paid", "seats_assigned": assigned,
             "seats_paid": newest.data["seats"],
             "facts": [f.source_event_id for f in facts if f.type.startswith("seat.")],
             "payments": [_cites(newest)]}]
