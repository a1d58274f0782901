"""The terms of one license and the rules each event must satisfy to change them.

`apply` is the single step of the fold: given the terms as they stand at an event's effective
time, it returns the new terms or raises RuleBrokenError. Acceptance and replay both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, Fact, assembled, reject
from schemas.times import format_time, parse_time

GRANTS = ("license.granted", "license.trial_started")


@dataclass(frozen=True)
class Terms:
    """What has been agreed for a license, independent of the moment it is looked at."""

    tenant: str
    license_id: str
    customer_id: str
    plan: str
    tier: int
    seats: int
    seats_assigned: tuple[str, ...]
    granted_at: datetime
    starts_at: datetime
    ends_at: datetime | None
    region: str | None
    trial: bool
    suspended: bool
    revoked_at: tuple[datetime, int] | None
    last_event_id: str


def _replaced(terms: Terms, **changes: Any) -> Terms:
    """`dataclasses.replace` without its per-field introspection, nor the frozen `__init__`'s
    field-by-field setting (`assembled`): a fold makes one per fact, and judging one per event
    (the same Terms, every field copied from one that was built whole)."""
    return assembled(Terms, {**terms.__dict__, **changes})


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _plan_tier(catalogs: CatalogHistory, plan: str, fact: Fact, known_at: datetime) -> int:
    found = catalogs.plan(plan, fact.effective_at, known_at)
    if found is None:
        catalog = catalogs.in_force(fact.effective_at, known_at)
        where = f"catalog {catalog.version}" if catalog else "no catalog (publish one first)"
        raise reject("unknown_plan", f"plan {plan!r} is not in the catalog in force at "
                     f"{format_time(fact.effective_at)}: {where}")
    return found.tier


def grant(fact: Fact, catalogs: CatalogHistory, known_at: datetime = FAR_FUTURE) -> Terms:
    """A new license from a grant or a trial start."""
    data = fact.data
    tier = _plan_tier(catalogs, data["plan"], fact, known_at)
    starts_at = _time(data.get("starts_at")) or fact.effective_at
    ends_at = _time(data.get("ends_at"))
    if ends_at is not None and ends_at <= starts_at:
        raise reject("invalid_event", f"field 'data.ends_at': {data['ends_at']} is not after the "
                     f"start {format_time(starts_at)}")
    return Terms(
        tenant=fact.tenant, license_id=fact.subject, customer_id=data["customer_id"],
        plan=data["plan"], tier=tier, seats=data.get("seats", 1), seats_assigned=(),
        granted_at=fact.effective_at, starts_at=starts_at, ends_at=ends_at,
        region=data.get("region"), trial=fact.type == "license.trial_started",
        suspended=False, revoked_at=None, last_event_id=fact.source_event_id,
    )


def apply(terms: Terms | None, fact: Fact, catalogs: CatalogHistory,
          known_at: datetime = FAR_FUTURE) -> Terms:
    """One step of the fold: the terms after `fact`, or RuleBrokenError if it may not happen."""
    if fact.type in GRANTS:
        if terms is not None:
            raise reject("license_exists", f"license {fact.subject!r} already exists")
        return grant(fact, catalogs, known_at)
    if terms is None:
        raise reject("unknown_license", f"license {fact.subject!r} does not exist at "
                     f"{format_time(fact.effective_at)}")
    if terms.revoked_at is not None:
        raise reject("revoked", f"license {fact.subject!r} was revoked; only history remains")
    step = _STEPS.get(fact.type)
    changed = step(terms, fact, catalogs, known_at) if step else terms
    return _replaced(changed, last_event_id=fact.source_event_id)


def _upgrade(terms: Terms, fact: Fact, catalogs: CatalogHistory, known_at: datetime) -> Terms:
    plan = fact.data["plan"]
    tier = _plan_tier(catalogs, plan, fact, known_at)
    current = _current_tier(terms, fact, catalogs, known_at)
    if tier <= current:
        raise reject("not_an_upgrade", f"plan {plan!r} (tier {tier}) is not of a higher tier "
                     f"than {terms.plan!r} (tier {current})")
    return _replaced(terms, plan=plan, tier=tier)


def _downgrade(terms: Terms, fact: Fact, catalogs: CatalogHistory, known_at: datetime) -> Terms:
    plan = fact.data["plan"]
    tier = _plan_tier(catalogs, plan, fact, known_at)
    current = _current_tier(terms, fact, catalogs, known_at)
    if tier >= current:
        raise reject("not_a_downgrade", f"plan {plan!r} (tier {tier}) is not of a lower tier "
                     f"than {terms.plan!r} (tier {current})")
    return _replaced(terms, plan=plan, tier=tier)


def _current_tier(terms: Terms, fact: Fact, catalogs: CatalogHistory, known_at: datetime) -> int:
    """Tiers compare in the catalog in force at the event; a plan it dropped keeps its old tier."""
    plan = catalogs.plan(terms.plan, fact.effective_at, known_at)
    return plan.tier if plan else terms.tier


def _suspend(terms: Terms, fact: Fact, *_: Any) -> Terms:
    if terms.suspended:
        raise reject("already_suspended", f"license {terms.license_id!r} is already suspended")
    return _replaced(terms, suspended=True)


def _reinstate(terms: Terms, fact: Fact, *_: Any) -> Terms:
    if not terms.suspended:
        raise reject("not_suspended", f"license {terms.license_id!r} is not suspended")
    return _replaced(terms, suspended=False)


def _revoke(terms: Terms, fact: Fact, *_: Any) -> Terms:
    return _replaced(terms, revoked_at=fact.order)


def _renew(terms: Terms, fact: Fact, *_: Any) -> Terms:
    ends_at = parse_time(fact.data["ends_at"])
    if terms.ends_at is None:
        raise reject("not_an_extension", f"license {terms.license_id!r} has no end to extend")
    if ends_at <= terms.ends_at:
        raise reject("not_an_extension", f"new end {fact.data['ends_at']} is not later than the "
                     f"current end {format_time(terms.ends_at)}")
    return _replaced(terms, ends_at=ends_at)


def _convert(terms: Terms, fact: Fact, catalogs: CatalogHistory, known_at: datetime) -> Terms:
    if not terms.trial:
        raise reject("not_a_trial", f"license {terms.license_id!r} is not a trial")
    ends_at = _time(fact.data.get("ends_at"))
    if ends_at is not None and ends_at <= fact.effective_at:
        raise reject("invalid_event", f"field 'data.ends_at': {fact.data['ends_at']} is not after "
                     f"the conversion at {format_time(fact.effective_at)}")
    plan = fact.data.get("plan") or terms.plan
    tier = _plan_tier(catalogs, plan, fact, known_at)
    return _replaced(terms, trial=False, plan=plan, tier=tier, ends_at=ends_at)


def _change_seats(terms: Terms, fact: Fact, *_: Any) -> Terms:
    seats = fact.data["seats"]
    if seats < len(terms.seats_assigned):
        raise reject("seats_in_use", f"{len(terms.seats_assigned)} seats are assigned; release "
                     f"some before lowering the count to {seats}")
    return _replaced(terms, seats=seats)


def _assign(terms: Terms, fact: Fact, *_: Any) -> Terms:
    user = fact.data["user_id"]
    if user in terms.seats_assigned:
        raise reject("seat_already_assigned", f"user {user!r} already holds a seat")
    if len(terms.seats_assigned) >= terms.seats:
        raise reject("no_free_seat", f"all {terms.seats} seats of license "
                     f"{terms.license_id!r} are assigned")
    return _replaced(terms, seats_assigned=(*terms.seats_assigned, user))


def _release(terms: Terms, fact: Fact, *_: Any) -> Terms:
    user = fact.data["user_id"]
    if user not in terms.seats_assigned:
        raise reject("seat_not_assigned", f"user {user!r} holds no seat on license "
                     f"{terms.license_id!r}")
    return _replaced(terms, seats_assigned=tuple(u for u in terms.seats_assigned if u != user))


_STEPS: dict[str, Callable[[Terms, Fact, CatalogHistory, datetime], Terms]] = {
    "license.upgraded": _upgrade,
    "license.downgraded": _downgrade,
    "license.suspended": _suspend,
    "license.reinstated": _reinstate,
    "license.revoked": _revoke,
    "license.renewed": _renew,
    "license.trial_converted": _convert,
    "license.seats_changed": _change_seats,
    "seat.assigned": _assign,
    "seat.released": _release,
}
