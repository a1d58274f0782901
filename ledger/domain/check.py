"""May customer C use feature F? Decided over the states of its licenses at one moment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ledger.domain.state import USABLE

# Most telling first: what the customer could act on comes before what merely is.
DENIALS = ("limit_exceeded", "region_blocked", "feature_not_in_plan",
           "suspended", "pending", "expired", "revoked")

MESSAGES = {
    "ok": "the feature is available",
    "no_license": "the customer has no license",
    "feature_not_in_plan": "the customer's plan does not include this feature",
    "limit_exceeded": "the usage limit for this period would be exceeded",
    "region_blocked": "the feature is not available in the license's region",
    "suspended": "the license is suspended",
    "pending": "the license has not started yet",
    "expired": "the license has expired",
    "revoked": "the license was revoked",
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    message: str
    license_id: str | None = None
    limit: int | None = None
    used: int | None = None
    remaining: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _verdict(state: dict[str, Any], feature: str, quantity: int) -> Decision:
    license_id = state["license_id"]
    if state["status"] not in USABLE:
        return Decision(False, state["status"], MESSAGES[state["status"]], license_id)
    entry = state["features"].get(feature)
    if entry is None:
        return Decision(False, "feature_not_in_plan", MESSAGES["feature_not_in_plan"], license_id)
    if not entry["enabled"]:
        return Decision(False, "region_blocked", MESSAGES["region_blocked"], license_id)
    limit, used = entry.get("limit"), entry.get("used")
    remaining = None if limit is None else limit - (used or 0)
    if remaining is not None and quantity > remaining:
        return Decision(False, "limit_exceeded", MESSAGES["limit_exceeded"], license_id,
                        limit, used, remaining)
    return Decision(True, "ok", MESSAGES["ok"], license_id, limit, used, remaining)


def decide(states: Sequence[dict[str, Any]], feature: str, quantity: int = 1) -> Decision:
    """Allowed if any usable license grants the feature with room; else the first denial that
    applies to one of the licenses, in the contract's order."""
    if not states:
        return Decision(False, "no_license", MESSAGES["no_license"])
    verdicts = [_verdict(s, feature, quantity) for s in states]
    for verdict in verdicts:
        if verdict.allowed:
            return verdict
    return min(verdicts, key=lambda v: DENIALS.index(v.reason))
