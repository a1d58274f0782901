"""The state of a license at a moment (contract section 3): terms seen through the clock and
the catalog in force at that moment. Expiry and grace are a matter of time, not of events.

`state_at` is the one typed answer: the check decides on it, the cache keeps it until its
`changes_at`, and `as_dict` gives the contract's document (API, license files, read-model rows).
The API's documented model is derived from these classes (`ledger.api.state_models`): a field
is on the wire unless its metadata says `ON_WIRE: False`, a datetime travels as its text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, later
from ledger.domain.terms import Terms
from ledger.domain.usage import UsageCounter, period_start
from schemas.times import format_time, parse_time

Status = Literal["trial", "active", "grace", "suspended", "expired", "revoked", "pending"]
USABLE = ("trial", "active", "grace")
ON_WIRE = "on_wire"  # field metadata: False for what the typed state knows but the document omits
OFF_WIRE = {ON_WIRE: False}


@dataclass(frozen=True, slots=True)
class FeatureState:
    """One feature of a license at a moment; `limit`/`period`/`used` only when it is metered."""

    enabled: bool
    blocked_region: str | None = None
    limit: int | None = None
    period: str | None = None
    used: int | None = None

    @property
    def metered(self) -> bool:
        return self.period is not None

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"enabled": self.enabled}
        if self.blocked_region is not None:
            entry["blocked_region"] = self.blocked_region
        if self.metered:
            entry.update(limit=self.limit, period=self.period, used=self.used)
        return entry


@dataclass(frozen=True, slots=True)
class LicenseState:
    """A license at `as_of`. `grace_ends_at` is when a grace period ends (None without one);
    `changes_at` the first moment after `as_of` at which the clock alone, or a fact already
    recorded with a later effective time, may change this answer (None: nothing known ahead)."""

    license_id: str
    tenant: str
    customer_id: str
    plan: str
    status: Status
    seats: int
    seats_assigned: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime | None
    region: str | None
    features: Mapping[str, FeatureState]
    catalog_version: str | None
    last_event_id: str
    as_of: datetime = field(metadata=OFF_WIRE)
    grace_ends_at: datetime | None = field(default=None, metadata=OFF_WIRE)
    changes_at: datetime | None = field(default=None, metadata=OFF_WIRE)

    @property
    def usable(self) -> bool:
        return self.status in USABLE

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], as_of: datetime) -> LicenseState:
        """The typed state back from the contract's document (an API answer or a license
        file), for deciding where the fold's inputs are not at hand (`ledger.client`)."""
        features = {name: FeatureState(bool(f["enabled"]), f.get("blocked_region"),
                                       f.get("limit"), f.get("period"), f.get("used"))
                    for name, f in state["features"].items()}
        return cls(
            license_id=state["license_id"], tenant=state["tenant"],
            customer_id=state["customer_id"], plan=state["plan"], status=state["status"],
            seats=state["seats"], seats_assigned=tuple(state["seats_assigned"]),
            starts_at=parse_time(state["starts_at"]),
            ends_at=parse_time(state["ends_at"]) if state.get("ends_at") else None,
            region=state.get("region"), features=features,
            catalog_version=state.get("catalog_version"),
            last_event_id=state.get("last_event_id") or "", as_of=as_of)

    def aged(self, moment: datetime) -> LicenseState:
        """This state at a later `moment` where no facts are at hand (a license file, the last
        states streamed): what the clock alone is known to change, from the document itself.
        A pending license stays pending (how it starts is not in the document: a review found
        one suspended while pending made active); a term ends at `ends_at`, into its grace if
        its end is known (`grace_ends_at`, which a document does not carry: offline, a
        license past its end is `expired` until the product checks in again; one already in
        grace stays in it); a period's usage starts again at 0 in the next period. What was
        recorded since is not known here: a license file's `expires_at` bounds that."""
        if moment <= self.as_of:
            return self
        status = self.status
        # A pending license stays pending: whether it starts as active, as a trial, or
        # suspended (a suspension while pending shows as pending) is not in the document.
        if (self.ends_at is not None and moment >= self.ends_at
                and status in ("active", "trial", "grace", "suspended")):
            grace_end = None if status == "trial" else self.grace_ends_at
            if grace_end is None and status == "grace":
                pass  # in grace already, its end not in the document: it stays in grace
            elif grace_end is None or moment >= grace_end:
                status = "expired"
            elif status == "active":
                status = "grace"
        features = self.features
        if status != self.status:  # a feature is enabled while usable, unless its region is blocked
            features = {name: replace(f, enabled=status in USABLE and f.blocked_region is None)
                        for name, f in features.items()}
        if (any(f.period == "month" for f in features.values())
                and period_start("month", moment) != period_start("month", self.as_of)):
            features = {name: replace(f, used=0) if f.period == "month" else f
                        for name, f in features.items()}
        return replace(self, status=status, features=features, as_of=moment, changes_at=None)

    def as_dict(self) -> dict[str, Any]:
        """The contract's state document, exactly as section 3 writes it."""
        return {
            "license_id": self.license_id,
            "tenant": self.tenant,
            "customer_id": self.customer_id,
            "plan": self.plan,
            "status": self.status,
            "seats": self.seats,
            "seats_assigned": list(self.seats_assigned),
            "starts_at": format_time(self.starts_at),
            "ends_at": format_time(self.ends_at) if self.ends_at else None,
            "region": self.region,
            "features": {name: f.as_dict() for name, f in self.features.items()},
            "catalog_version": self.catalog_version,
            "last_event_id": self.last_event_id,
        }


def _grace_end(terms: Terms, catalogs: CatalogHistory, as_of: datetime,
               known_at: datetime) -> datetime | None:
    """When the grace after the term's end runs out, by the plan in force at `as_of`; None for a
    license without an end, a trial (no grace) or a moment past the end of time."""
    if terms.ends_at is None or terms.trial:
        return None
    plan = catalogs.plan(terms.plan, as_of, known_at)
    days = 0 if plan is None else plan.grace_days
    return later(terms.ends_at, timedelta(days=days)) if days else None


def status(terms: Terms, catalogs: CatalogHistory, as_of: datetime,
           known_at: datetime = FAR_FUTURE) -> Status:
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


def next_period(moment: datetime) -> datetime | None:
    """The start of the usage month after the one holding `moment` (None past the end of time)."""
    moment = moment.astimezone(UTC)
    if moment.year == 9999 and moment.month == 12:
        return None
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


def state_at(terms: Terms, catalogs: CatalogHistory, usage: UsageCounter, as_of: datetime,
             known_at: datetime = FAR_FUTURE, scheduled: datetime | None = None) -> LicenseState:
    """The typed state of one license at `as_of`, as known at `known_at`; `scheduled` is the
    effective time of the next fact already recorded for it (or its catalogs), if any."""
    current = status(terms, catalogs, as_of, known_at)
    catalog = catalogs.in_force(as_of, known_at)
    plan = catalog.plans.get(terms.plan) if catalog else None
    features: dict[str, FeatureState] = {}
    monthly = False
    for name, feature in (plan.features.items() if plan else ()):
        blocked = terms.region is not None and terms.region in feature.blocked_regions
        enabled = current in USABLE and not blocked
        region = terms.region if blocked else None
        if feature.metered:
            monthly = monthly or feature.period == "month"
            since = period_start(feature.period, as_of)
            features[name] = FeatureState(enabled, region, feature.limit, feature.period,
                                          usage.used(terms, name, since, as_of))
        else:
            features[name] = FeatureState(enabled, region)
    grace_ends_at = _grace_end(terms, catalogs, as_of, known_at)
    ahead = [m for m in (terms.starts_at, terms.ends_at, grace_ends_at, scheduled,
                         next_period(as_of) if monthly else None) if m is not None and m > as_of]
    return LicenseState(
        license_id=terms.license_id, tenant=terms.tenant, customer_id=terms.customer_id,
        plan=terms.plan, status=current, seats=terms.seats,
        seats_assigned=tuple(terms.seats_assigned), starts_at=terms.starts_at,
        ends_at=terms.ends_at, region=terms.region, features=features,
        catalog_version=catalog.version if catalog else None, last_event_id=terms.last_event_id,
        as_of=as_of, grace_ends_at=grace_ends_at, changes_at=min(ahead, default=None))


def license_state(terms: Terms, catalogs: CatalogHistory, usage: UsageCounter, as_of: datetime,
                  known_at: datetime = FAR_FUTURE) -> dict[str, Any]:
    """The contract's state document for one license at `as_of`, as known at `known_at`."""
    return state_at(terms, catalogs, usage, as_of, known_at).as_dict()
