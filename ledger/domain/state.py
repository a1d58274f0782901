"""The state of a license at a moment (contract section 3): terms seen through the clock and
the catalog in force at that moment. Expiry and grace are a matter of time, not of events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE
from ledger.domain.terms import Terms
from ledger.domain.usage import UsageCounter, period_start
from schemas.times import format_time

USABLE = ("trial", "active", "grace")


def status(terms: Terms, catalogs: CatalogHistory, as_of: datetime,
           known_at: datetime = FAR_FUTURE) -> str:
    """In the contract's order: revoked, pending, expired, suspended, grace, trial/active."""
    if terms.revoked_at is not None and terms.revoked_at[0] <= as_of:
        return "revoked"
    if as_of < terms.starts_at:
        return "pending"
    if terms.ends_at is not None and as_of >= terms.ends_at:
        plan = catalogs.plan(terms.plan, as_of, known_at)
        grace = timedelta(days=0 if terms.trial or plan is None else plan.grace_days)
        if as_of - terms.ends_at >= grace:  # subtraction: no overflow near the end of time
            return "expired"
        return "suspended" if terms.suspended else "grace"
    if terms.suspended:
        return "suspended"
    return "trial" if terms.trial else "active"


def license_state(terms: Terms, catalogs: CatalogHistory, usage: UsageCounter, as_of: datetime,
                  known_at: datetime = FAR_FUTURE) -> dict[str, Any]:
    """The contract's state document for one license at `as_of`, as known at `known_at`."""
    current = status(terms, catalogs, as_of, known_at)
    catalog = catalogs.in_force(as_of, known_at)
    plan = catalog.plans.get(terms.plan) if catalog else None
    features: dict[str, Any] = {}
    for name, feature in (plan.features.items() if plan else ()):
        blocked = terms.region is not None and terms.region in feature.blocked_regions
        entry: dict[str, Any] = {"enabled": current in USABLE and not blocked}
        if blocked:
            entry["blocked_region"] = terms.region
        if feature.metered:
            since = period_start(feature.period, as_of)
            entry.update(limit=feature.limit, period=feature.period,
                         used=usage.used(terms, name, since, as_of))
        features[name] = entry
    return {
        "license_id": terms.license_id,
        "tenant": terms.tenant,
        "customer_id": terms.customer_id,
        "plan": terms.plan,
        "status": current,
        "seats": terms.seats,
        "seats_assigned": list(terms.seats_assigned),
        "starts_at": format_time(terms.starts_at),
        "ends_at": format_time(terms.ends_at) if terms.ends_at else None,
        "region": terms.region,
        "features": features,
        "catalog_version": catalog.version if catalog else None,
        "last_event_id": terms.last_event_id,
    }
