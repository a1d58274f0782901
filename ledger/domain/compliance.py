"""Compliance checks: do the entitlements obey the rules they must? Pure; each finding has a
stable code and names what it concerns.

Check answers are not recorded (the check is the hot path and writes nothing), so "a blocked
feature that was allowed" is judged from what the ledger does record: usage of a feature at
a moment the catalog in force blocked it for the license's region (`blocked_feature_used`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import fold
from ledger.domain.state import USABLE, status
from schemas.times import format_time

CODES = ("blocked_feature_used", "usage_while_not_usable", "region_missing",
         "read_model_mismatch", "api_key_unused", "signing_key_old")


def license_findings(facts: Sequence[Fact], usage: Iterable[Fact], catalogs: CatalogHistory,
                     as_of: datetime) -> list[dict[str, Any]]:
    """The findings of one license: its usage against its status and region at each use, and
    its region against the catalog in force at `as_of`."""
    final = fold(facts, catalogs, as_of).terms
    if final is None:
        return []
    base = {"license_id": final.license_id, "customer_id": final.customer_id}
    found = []
    for use in sorted((u for u in usage if u.effective_at <= as_of), key=lambda u: u.order):
        terms = fold(facts, catalogs, use.effective_at).terms
        feature = use.data["feature"]
        now = status(terms, catalogs, use.effective_at) if terms else "unknown_license"
        cited = {**base, "feature": feature, "at": format_time(use.effective_at),
                 "facts": [use.source_event_id]}
        if now not in USABLE:
            found.append({**cited, "code": "usage_while_not_usable", "status": now})
        plan = catalogs.plan(terms.plan, use.effective_at) if terms else None
        spec = plan.features.get(feature) if plan else None
        if terms and terms.region and spec and terms.region in spec.blocked_regions:
            found.append({**cited, "code": "blocked_feature_used", "region": terms.region})
    plan = catalogs.plan(final.plan, as_of)
    blocking = sorted(name for name, spec in (plan.features.items() if plan else ())
                      if spec.blocked_regions)
    if final.region is None and blocking and final.revoked_at is None:
        found.append({**base, "code": "region_missing", "features": blocking,
                      "facts": [f.source_event_id for f in facts if f.type in (
                          "license.granted", "license.trial_started")]})
    return found


def unused_keys(keys: Iterable[dict[str, Any]], today: datetime, days: int) -> list[dict[str, Any]]:
    """Unrevoked API keys not used (or, never used, made) in the last `days` days."""
    found = []
    for key in keys:
        if key["revoked_at"] is not None:
            continue
        last = key["last_used_on"] or key["created_at"][:10]
        if last < (today - timedelta(days=days)).date().isoformat():
            found.append({"code": "api_key_unused", "key_id": key["key_id"], "name": key["name"],
                          "role": key["role"], "last_used_on": key["last_used_on"],
                          "created_at": key["created_at"]})
    return found


def old_signing_keys(keys: Iterable[tuple[str, datetime]], today: datetime,
                     days: int) -> list[dict[str, Any]]:
    return [{"code": "signing_key_old", "key_id": key_id, "created_at": format_time(made),
             "age_days": (today - made).days}
            for key_id, made in keys if today - made > timedelta(days=days)]
