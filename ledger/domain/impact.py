"""What a catalog change changes: the diff of two catalogs, and what it does to one license.

Both are pure. The license side compares two states of the contract (section 3) computed by
the one fold: under the catalog history as recorded, and under a fork of it in which the draft
is published at its effective time. Nothing here writes anything.
"""

from __future__ import annotations

from typing import Any

from schemas.catalog import meaning

PLAN_FIELDS = ("tier", "grace_days")
FEATURE_FIELDS = ("metered", "limit", "period", "blocked_regions")


def catalog_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """Plans, tiers, grace, features, limits and blocked regions added, removed or changed,
    compared by meaning (defaults spelled out), in a stable order."""
    old = meaning(before)["plans"] if before else {}
    new = meaning(after)["plans"]
    changes: list[dict[str, Any]] = []
    for plan in sorted(old.keys() | new.keys()):
        if plan not in new or plan not in old:
            changes.append({"change": "removed" if plan not in new else "added", "plan": plan})
            continue
        for name in PLAN_FIELDS:
            if old[plan][name] != new[plan][name]:
                changes.append({"change": "changed", "plan": plan, "field": name,
                                "before": old[plan][name], "after": new[plan][name]})
        was, now = old[plan]["features"], new[plan]["features"]
        for feature in sorted(was.keys() | now.keys()):
            if feature not in now or feature not in was:
                changes.append({"change": "removed" if feature not in now else "added",
                                "plan": plan, "feature": feature})
                continue
            for name in FEATURE_FIELDS:
                if was[feature][name] != now[feature][name]:
                    changes.append({"change": "changed", "plan": plan, "feature": feature,
                                    "field": name, "before": was[feature][name],
                                    "after": now[feature][name]})
    return changes


def enabled(state: dict[str, Any] | None) -> set[str]:
    return {name for name, f in (state or {}).get("features", {}).items() if f["enabled"]}


def license_impact(before: dict[str, Any], after: dict[str, Any], plan_listed: bool,
                   used_now: dict[str, int]) -> dict[str, Any] | None:
    """How one license changes at the effective time, or None if it does not: features lost or
    gained, limits lowered (and whether below the usage of the current period) or raised, whether its
    plan disappears from the catalog (leaving it without features)."""
    lost, gained = sorted(enabled(before) - enabled(after)), sorted(enabled(after) - enabled(before))
    lowered, raised = [], []
    for name, feature in after.get("features", {}).items():
        if not feature.get("enabled") or name in gained:
            continue
        # no limit (unmetered, or metered without one) is unlimited
        limit, previous = feature.get("limit"), before["features"].get(name, {}).get("limit")
        if limit is not None and (previous is None or limit < previous):
            used = used_now.get(name, 0)
            lowered.append({"feature": name, "before": previous, "after": limit, "used": used,
                            "below_usage": used > limit})
        elif previous is not None and (limit is None or limit > previous):
            raised.append({"feature": name, "before": previous, "after": limit})
    if not (lost or gained or lowered or raised or not plan_listed):
        return None
    return {"license_id": before["license_id"], "customer_id": before["customer_id"],
            "plan": before["plan"], "status": after["status"], "features_lost": lost,
            "features_gained": gained, "limits_lowered": lowered, "limits_raised": raised,
            "plan_removed": not plan_listed}


def summary(impacts: list[dict[str, Any]], licenses: int) -> dict[str, int]:
    return {"licenses": licenses, "changed": len(impacts),
            "losing_features": sum(bool(i["features_lost"]) for i in impacts),
            "gaining_features": sum(bool(i["features_gained"]) for i in impacts),
            "limits_below_usage": sum(any(x["below_usage"] for x in i["limits_lowered"])
                                      for i in impacts),
            "plans_removed": sum(i["plan_removed"] for i in impacts)}
