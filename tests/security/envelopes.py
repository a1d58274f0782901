"""What a buggy or hostile billing system sends: envelopes that are right, nearly right and
wrong in every way (types, times, ids, tenants, nesting, sizes), made by a seeded generator so
that 10,000 of them cost milliseconds, not minutes, and any one is made again from its seed."""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import EVENT_TYPES

# Every code a rejection may carry (contract section 1, "The rules in detail", and section 4).
KNOWN_CODES = frozenset({
    "license_exists", "unknown_license", "unknown_plan", "not_an_upgrade", "not_a_downgrade",
    "no_free_seat", "seat_already_assigned", "seat_not_assigned", "seats_in_use",
    "not_an_extension", "already_suspended", "not_suspended", "not_a_trial", "revoked",
    "invalid_event", "tenant_mismatch", "catalog_version_exists"})

WRONG_TIMES = ["1764547200", "1798761600000", "20271201", "2026-03-01", "2026-03-01T00:00:00",
               "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
               "2026-03-01 00:00:00Z", "2026-W09-1T00:00:00Z", "", 1764547200, None]
WRONG_TEXT = ["", "\x00", "a\nb", "\t", "x" * 600, "\ud800", "é" * 3, "../../etc", "%2F", "💥"]
UNREADABLE = ['{"id": "big", "data": {"seats": ' + "9" * 5000 + "}}", "[" * 3000 + "]" * 3000,
              '{"id": "deep", "data": ' + '{"a": ' * 2500 + "1" + "}" * 2501]
# Grants, usage and seats more often than the end of a license, so that the rules get work.
KINDS = (*EVENT_TYPES, *("license.granted",) * 4, *("usage.recorded", "seat.assigned") * 2)
PLANS = {"basic": {"tier": 1, "features": {"api_calls": {"limit": 1000}}},
         "pro": {"tier": 2, "features": {"api_calls": {"limit": None}, "sso": {}}, "grace_days": 7}}


class Billing(random.Random):
    """A billing system gone wrong, reproducibly: `Billing(seed).envelope()`."""

    def junk(self, depth: int = 0) -> Any:
        """Any JSON value, small."""
        pick = self.randrange(9 if depth < 3 else 6)
        if pick == 0:
            return None
        if pick == 1:
            return self.random() < 0.5
        if pick == 2:
            return self.choice([0, -1, 1, 2**31, 2**53, 2**64, -(2**63), 10**30])
        if pick == 3:
            return self.choice([0.0, 1.5, -2.5, 1e308, 1e-308, float("inf")])
        if pick in (4, 5):
            return self.choice(WRONG_TEXT + ["".join(self.choices(string.printable, k=8))])
        if pick in (6, 7):
            return [self.junk(depth + 1) for _ in range(self.randrange(3))]
        return {self.choice(["a", "id", "data", ""]): self.junk(depth + 1)
                for _ in range(self.randrange(3))}

    def time(self) -> Any:
        moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self.randrange(3 * 365 * 86400))
        form = self.randrange(10)
        if form == 0:
            return moment.astimezone(datetime.now().astimezone().tzinfo).isoformat()
        if form == 1:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def data(self, kind: str) -> dict[str, Any]:
        plan = self.choice(["basic", "pro", "pro", "gold"])
        seats, quantity = self.randrange(1, 12), self.randrange(1, 5000)
        given: dict[str, dict[str, Any]] = {
            "license.granted": {"customer_id": self.choice(["cust-1", "cust-2"]), "plan": plan,
                                "seats": seats, "ends_at": self.time(), "region": "DE"},
            "license.trial_started": {"customer_id": "cust-3", "plan": plan, "ends_at": self.time(),
                                      "seats": seats},
            "license.trial_converted": {"plan": plan, "ends_at": self.time()},
            "license.upgraded": {"plan": plan}, "license.downgraded": {"plan": plan},
            "license.suspended": {"reason": "payment_failed"}, "license.reinstated": {},
            "license.revoked": {"reason": "fraud"}, "license.renewed": {"ends_at": self.time()},
            "license.seats_changed": {"seats": seats},
            "seat.assigned": {"user_id": self.choice(["u-1", "u-2", "u-3"])},
            "seat.released": {"user_id": self.choice(["u-1", "u-2"])},
            "usage.recorded": {"feature": self.choice(["api_calls", "sso"]), "quantity": quantity},
            "catalog.published": {"version": f"v{self.randrange(4)}", "plans": PLANS},
            **{kind: {"amount": quantity, "currency": "EUR", "period_start": "2026-03-01T00:00:00Z",
                      "period_end": "2026-04-01T00:00:00Z", "invoice_id": f"inv-{quantity}",
                      "seats": seats} for kind in ("payment.succeeded", "payment.failed")},
        }
        optional = {"ends_at", "region", "seats"} if kind != "license.renewed" else set()
        return {k: v for k, v in given[kind].items() if k not in optional or self.random() < 0.5}

    def envelope(self) -> Any:
        """One envelope's JSON value: about half of them right, the others wrong in 1-3 places."""
        if self.random() < 0.03:
            return self.junk()
        kind = self.choice(KINDS)
        envelope: dict[str, Any] = {
            "specversion": "1.0", "id": f"evt-{self.randrange(3000)}", "source": "billing/fuzz",
            "type": kind, "time": self.time(), "data": self.data(kind),
            "subject": self.choice([*(f"lic-{n}" for n in range(20)), "lic/4", "v1"])}
        if self.random() < 0.1:
            envelope["tenantid"] = self.choice(["acme", "acme", "other"])
        for _ in range(self.choice([0, 0, 0, 1, 1, 2, 3])):
            self._break(envelope)
        return envelope

    def _break(self, envelope: dict[str, Any]) -> None:
        part = self.choice(["specversion", "id", "source", "type", "time", "subject", "data",
                            "data", "time", "drop", "extra", "dataversion"])
        data = envelope["data"] if isinstance(envelope.get("data"), dict) else {}
        if part == "time":
            envelope["time"] = self.choice(WRONG_TIMES)
        elif part == "data" and data and self.random() < 0.5:
            field = self.choice(sorted(data))
            data[field] = self.choice(WRONG_TIMES) if field.endswith("_at") else self.junk()
        elif part == "data":
            data[self.choice(["colour", "ends_at", "seats", ""])] = self.junk()
        elif part == "drop":
            envelope.pop(self.choice(sorted(envelope)), None)
        elif part == "extra":
            envelope[self.choice(["colour", "tenantid", "datacontenttype", "traceparent"])] = self.junk()
        elif part == "dataversion":
            envelope["dataversion"] = self.choice([0, 1, 2, -1, "1", None])
        else:
            envelope[part] = self.choice([self.junk(), *WRONG_TEXT])

    def body(self, size: int) -> str:
        """A posted array of `size` elements, now and then one of them unreadable as JSON."""
        parts = [json.dumps(self.envelope()) for _ in range(size)]
        for _ in range(self.choice([0, 0, 0, 1, 2])):
            parts[self.randrange(size)] = self.choice(UNREADABLE)
        return "[" + ",".join(parts) + "]"
