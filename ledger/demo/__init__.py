"""The demo `ledger up` loads on its first start: tenant `demo`, two catalog versions and the
history of a few customers, dated relative to that first start so it always looks current.

- cust-acme: a pro trial converted to basic, upgraded back to pro, ten seats, usage this month
- cust-globex: enterprise in Germany, seats and unlimited usage
- cust-tyrell: enterprise in Iran, where `audit_export` is blocked
- cust-initech: pro, suspended for a failed payment
- cust-hooli: a pro trial still running
- cust-soylent: basic, ended a month ago (expired)
- cust-umbrella: basic upgraded to pro, then a late record: a revocation dated before the
  upgrade, sent after it, which leaves the upgrade `superseded` in the history
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

TENANT = "demo"
SOURCE = "billing/demo"


def catalog(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files(__name__).joinpath(f"{name}.json").read_text("utf-8"))
    return data


class _History:
    def __init__(self, now: datetime):
        self.today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.now = now
        self.envelopes: list[dict[str, Any]] = []

    def day(self, offset: int) -> str:
        return _text(self.today + timedelta(days=offset))

    def add(self, type_: str, when: str, subject: str, **data: Any) -> None:
        self.envelopes.append(envelope(f"demo-{len(self.envelopes) + 1:03d}", type_, when,
                                       subject, **data))

    def this_month(self, fraction: float) -> str:
        """A moment in the current month, before now: usage that counts today."""
        start = self.today.replace(day=1)
        return _text(start + (self.now - start) * fraction)


def envelope(id_: str, type_: str, when: str, subject: str, **data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": id_, "source": SOURCE, "type": type_, "time": when,
            "subject": subject, "tenantid": TENANT, "data": data}


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def history(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo's envelopes: the history, then the late record sent after it."""
    h = _History(now)
    d = h.day
    h.add("catalog.published", d(-400), "demo-v1", **catalog("catalog-v1"))
    h.add("catalog.published", d(-60), "demo-v2", **catalog("catalog-v2"))

    h.add("license.trial_started", d(-100), "lic-acme-1", customer_id="cust-acme", plan="pro",
          ends_at=d(-86), seats=3, region="US")
    h.add("license.trial_converted", d(-88), "lic-acme-1", plan="basic", ends_at=d(277))
    h.add("license.upgraded", d(-30), "lic-acme-1", plan="pro")
    h.add("license.seats_changed", d(-30), "lic-acme-1", seats=10)
    for user in ("u-alice", "u-bob", "u-carol"):
        h.add("seat.assigned", d(-29), "lic-acme-1", user_id=user)
    h.add("usage.recorded", h.this_month(0.3), "lic-acme-1", feature="api_calls", quantity=800)
    h.add("usage.recorded", h.this_month(0.7), "lic-acme-1", feature="api_calls", quantity=400)

    h.add("license.granted", d(-200), "lic-globex-1", customer_id="cust-globex",
          plan="enterprise", seats=25, ends_at=d(165), region="DE")
    h.add("seat.assigned", d(-199), "lic-globex-1", user_id="u-hans")
    h.add("usage.recorded", h.this_month(0.5), "lic-globex-1", feature="api_calls",
          quantity=250000)

    h.add("license.granted", d(-150), "lic-tyrell-1", customer_id="cust-tyrell",
          plan="enterprise", seats=5, ends_at=d(215), region="IR")

    h.add("license.granted", d(-60), "lic-initech-1", customer_id="cust-initech", plan="pro",
          seats=5, ends_at=d(305))
    h.add("license.suspended", d(-5), "lic-initech-1", reason="payment_failed")

    h.add("license.trial_started", d(-3), "lic-hooli-1", customer_id="cust-hooli", plan="pro",
          ends_at=d(11))

    h.add("license.granted", d(-395), "lic-soylent-1", customer_id="cust-soylent", plan="basic",
          ends_at=d(-30))

    h.add("license.granted", d(-90), "lic-umbrella-1", customer_id="cust-umbrella", plan="basic")
    h.add("license.upgraded", d(-20), "lic-umbrella-1", plan="pro")
    late = envelope("demo-late-001", "license.revoked", d(-25), "lic-umbrella-1",
                    reason="chargeback")
    return h.envelopes, [late]


class DemoRejectedError(RuntimeError):
    """The demo history broke a rule: a bug in this module, not in the caller's setup."""


def seed(ledger: Any, now: datetime) -> int:
    """Record the demo in `ledger` (a `ledger.service.Ledger`); returns how many were accepted.
    The late record goes in its own batch, after the rest, as a late record would."""
    accepted = 0
    for batch in history(now):
        for outcome in ledger.ingest(batch, TENANT):
            if outcome.status == "rejected":
                raise DemoRejectedError(f"demo event {outcome.id} rejected: {outcome.code}: "
                                        f"{outcome.message}")
            accepted += outcome.status == "accepted"
    return accepted


def curl_lines(url: str, key: str, now: datetime) -> list[str]:
    """Ready-to-paste calls of the contract against the demo (README, e2e test)."""
    auth = f"-H 'Authorization: Bearer {key}'"
    json_ = "-H 'Content-Type: application/json'"
    event = json.dumps(envelope(f"curl-{now:%Y%m%d%H%M%S}", "usage.recorded", _text(now),
                                "lic-acme-1", feature="api_calls", quantity=5))
    past = _text(now - timedelta(days=40))
    check = json.dumps({"customer_id": "cust-acme", "feature": "api_calls", "quantity": 1})
    return [
        f"curl -s {url}/healthz",
        f"curl -s {auth} {json_} -d '{check}' {url}/v1/check",
        f"curl -s {auth} {url}/v1/customers/cust-acme/entitlements",
        f"curl -s {auth} '{url}/v1/customers/cust-acme/entitlements?as_of={past}'",
        f"curl -s {auth} {url}/v1/licenses/lic-umbrella-1/history",
        f"curl -s {auth} {json_} -d '{event}' {url}/v1/events",
        f"curl -s {auth} {url}/v1/customers/cust-acme/license-file",
    ]


def banner(url: str, key: str, now: datetime | None = None) -> str:
    lines = "\n".join(f"  {line}" for line in curl_lines(url, key, now or datetime.now(UTC)))
    return (f"\nThe ledger is up at {url}  (API docs: {url}/docs, customer portal: {url}/portal)\n"
            f"Tenant {TENANT!r}, admin key (kept in the data directory, shown on every start):\n"
            f"  {key}\n\nTry:\n{lines}\n\nCtrl-C stops it.\n")
