"""What the portal shows of one license, in the customer's words: pure functions over the
API's own answers (the state of contract section 3, the history events, the check's
`decide`), so the page can never say something the API does not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.domain.check import decide
from ledger.domain.state import LicenseState

HISTORY_SHOWN = 50  # newest events listed per license; usage can be thousands a year

STATUS_WORDS = {
    "trial": "Trial", "active": "Active", "grace": "In grace period", "suspended": "Suspended",
    "expired": "Expired", "revoked": "Revoked", "pending": "Not started yet",
}


@dataclass(frozen=True)
class FeatureLine:
    name: str
    on: bool
    reason: str  # the check's reason code for one more unit
    why_off: str | None  # that reason in the customer's words, unless allowed


@dataclass(frozen=True)
class UsageBar:
    feature: str
    used: int
    limit: int | None  # None: unlimited
    period: str | None

    @property
    def percent(self) -> int:
        """How full the bar is, 0-100 (usage past the limit shows a full bar)."""
        if not self.limit:
            return 0
        return min(100, round(100 * self.used / self.limit))


@dataclass(frozen=True)
class Change:
    when: str
    words: str
    superseded: bool


@dataclass(frozen=True)
class LicenseView:
    state: dict[str, Any]
    status_words: str
    features: list[FeatureLine]
    usage: list[UsageBar]
    seats_free: int
    changes: list[Change]
    earlier_changes: int


def features(typed: LicenseState, catalog_features: Iterable[str]) -> list[FeatureLine]:
    """Every feature the catalog knows, on or off for this license and why, as the check
    (`POST /v1/check` for one unit) would answer for this license alone."""
    state = typed.as_dict()
    words = {
        "feature_not_in_plan": f"not in plan {state['plan']}",
        "region_blocked": f"not available in region {state.get('region')}",
        "limit_exceeded": "this period's limit is reached",
        "suspended": "the license is suspended", "expired": "the license has expired",
        "revoked": "the license was revoked", "pending": "the license has not started yet",
    }
    lines = []
    for name in sorted(set(state["features"]) | set(catalog_features)):
        decision = decide([typed], name)
        on = decision.allowed or decision.reason == "limit_exceeded"
        why = None if decision.allowed else words.get(decision.reason, decision.message)
        lines.append(FeatureLine(name, on, decision.reason, why))
    return lines


def usage(state: dict[str, Any]) -> list[UsageBar]:
    """The metered features: those with a limit, or with usage counted."""
    return [UsageBar(name, entry.get("used") or 0, entry.get("limit"), entry.get("period"))
            for name, entry in sorted(state["features"].items())
            if entry.get("limit") is not None or entry.get("used") is not None]


def day(moment: Any) -> str:
    """The date of an RFC 3339 time, as people read a term ("2027-03-01")."""
    return str(moment)[:10]


def money(data: dict[str, Any]) -> str:
    """An amount in minor units as people read it ("120.00 EUR")."""
    amount = data.get("amount")
    if not isinstance(amount, int):
        return "an amount"
    return f"{amount / 100:.2f} {data.get('currency') or ''}".rstrip()


def describe(event: dict[str, Any]) -> str:
    """One history event in plain words."""
    data, kind = event.get("data") or {}, event["type"]
    ends = f", until {day(data['ends_at'])}" if data.get("ends_at") else ""
    invoice = f" (invoice {data['invoice_id']})" if data.get("invoice_id") else ""
    sentences = {
        "license.granted": lambda: f"Licensed on plan {data.get('plan')} with "
                                   f"{data.get('seats', 1)} seat(s){ends}",
        "license.trial_started": lambda: f"Trial of plan {data.get('plan')} started{ends}",
        "license.trial_converted": lambda: "Trial converted to a paid license"
                                           + (f" on plan {data['plan']}" if data.get("plan") else "")
                                           + ends,
        "license.upgraded": lambda: f"Upgraded to plan {data.get('plan')}",
        "license.downgraded": lambda: f"Downgraded to plan {data.get('plan')}",
        "license.suspended": lambda: f"Suspended ({data.get('reason')})",
        "license.reinstated": lambda: "Reinstated",
        "license.revoked": lambda: f"Revoked ({data.get('reason')})",
        "license.renewed": lambda: f"Renewed until {day(data.get('ends_at'))}",
        "license.seats_changed": lambda: f"Seats changed to {data.get('seats')}",
        "seat.assigned": lambda: f"Seat given to {data.get('user_id')}",
        "seat.released": lambda: f"Seat taken back from {data.get('user_id')}",
        "usage.recorded": lambda: f"Used {data.get('quantity')} {data.get('feature')}",
        "payment.succeeded": lambda: f"Paid {money(data)}{invoice}",
        "payment.failed": lambda: f"Payment of {money(data)} failed{invoice}",
    }
    words = sentences.get(kind)
    return words() if words else kind


def license_view(typed: LicenseState, history: list[dict[str, Any]],
                 catalog_features: Iterable[str], total: int | None = None) -> LicenseView:
    """The whole card of one license: newest changes first. `history` is the license's, or its
    newest entries (`Ledger.recent_history`) with `total` the count of all of them."""
    state = typed.as_dict()
    newest = list(reversed(history))[:HISTORY_SHOWN]
    changes = [Change(e["effective_at"], describe(e), e.get("status") == "superseded") for e in newest]
    return LicenseView(state=state, status_words=STATUS_WORDS.get(state["status"], state["status"]),
                       features=features(typed, catalog_features), usage=usage(state),
                       seats_free=max(0, state["seats"] - len(state["seats_assigned"])),
                       changes=changes,
                       earlier_changes=max(0, (len(history) if total is None else total) - HISTORY_SHOWN))
