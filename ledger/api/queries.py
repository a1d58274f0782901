"""The questions: the check (hot path), current entitlements, one license, its history, and
the state as of a past moment as known at another.

Current answers come from the read models (the check and entitlements through the in-memory
cache, see `cache.py`); as-of and known-at answers replay the ledger itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ledger.api.auth import Caller, Guarded, check_access, may
from ledger.api.errors import Answer, invalid_request, not_found
from ledger.api.keys import Principal
from ledger.api.models import CheckAnswer, CheckRequest, CustomerId, Entitlements, History, LicenseId
from ledger.api.models import LicenseState as LicenseStateModel
from ledger.api.ports import PortsDep
from ledger.api.responses import problems
from ledger.domain.check import decide
from schemas.times import ZonelessTimeError, format_time, parse_time

router = APIRouter(tags=["questions"], route_class=Guarded)

TIME_HELP = "RFC 3339 time with a zone, e.g. 2026-03-01T00:00:00Z."
AsOf = Annotated[str | None, Query(description=f"The business moment asked about. {TIME_HELP}",
                                   json_schema_extra={"format": "date-time"})]
KnownAt = Annotated[str | None, Query(description=f"Only what was recorded by then. {TIME_HELP}",
                                      json_schema_extra={"format": "date-time"})]


@router.post("/v1/check", response_model=None,
             responses={200: {"model": CheckAnswer}, **problems(400, 401, 403, 413)})
def check(request: CheckRequest, principal: Annotated[Principal, Depends(may("check"))],
          ports: PortsDep) -> Answer:
    """May the customer use the feature right now (for `quantity` more units)?"""
    states, cached = ports.cache.states(principal.tenant, request.customer_id, ports.clock())
    with ports.metrics.decision.time():
        decision = decide(states, request.feature, request.quantity)
    ports.metrics.cache.labels("hit" if cached else "miss").inc()
    ports.metrics.checks.labels(decision.reason).inc()
    return Answer(decision.as_dict())


@router.get("/v1/customers/{customer_id:id}/entitlements", response_model=None,
            responses={200: {"model": Entitlements}, **problems(400, 401, 403)})
def entitlements(customer_id: CustomerId, principal: Caller, ports: PortsDep,
                 as_of: AsOf = None, known_at: KnownAt = None) -> Answer:
    """The customer's licenses now (from the read models), or as of `as_of` as known at
    `known_at` (replayed from the ledger; for auditors)."""
    now = ports.clock()
    if as_of is None and known_at is None:
        check_access(principal, "read_current", customer_id)
        states, _ = ports.cache.states(principal.tenant, customer_id, now)
        moment = known = now
    else:
        check_access(principal, "read_past", customer_id)
        moment = query_time("as_of", as_of) or now
        known = query_time("known_at", known_at) or now
        try:
            states = ports.ledger.replay(principal.tenant, moment, known, customer_id=customer_id)
        except OverflowError:
            raise invalid_request("as_of lies so far out that a license's term around it "
                                  "cannot be computed; ask about an earlier moment") from None
    return Answer({"customer_id": customer_id, "as_of": format_time(moment),
                   "known_at": format_time(known), "licenses": states})


# Ids may hold "/" (`models.IdConvertor`), so the route with the suffix must come first: the
# bare one would take "lic-1/history" for an id.
@router.get("/v1/licenses/{license_id:id}/history", response_model=None,
            responses={200: {"model": History}, **problems(400, 401, 403, 404)})
def license_history(license_id: LicenseId,
                    principal: Annotated[Principal, Depends(may("read_history"))],
                    ports: PortsDep) -> Answer:
    """Every accepted event of the license in effective order, `applied` or `superseded`."""
    events = ports.ledger.history(principal.tenant, license_id)
    if not events:
        raise unknown_license(license_id)
    return Answer({"license_id": license_id, "events": events})


@router.get("/v1/licenses/{license_id:id}", response_model=None,
            responses={200: {"model": LicenseStateModel}, **problems(400, 401, 403, 404)})
def license_state(license_id: LicenseId, principal: Annotated[Principal, Depends(may("read_license"))],
                  ports: PortsDep) -> Answer:
    """The current state of one license (404 `unknown_license`)."""
    state = ports.models.license_state(principal.tenant, license_id, ports.clock())
    if state is None:
        raise unknown_license(license_id)
    return Answer(state)


def unknown_license(license_id: str) -> Exception:
    return not_found("unknown_license", f"there is no license {license_id!r} in this tenant")


def query_time(name: str, value: str | None) -> datetime | None:
    """A query parameter's time; a zone-less or malformed one is refused, naming the parameter."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ZonelessTimeError as exc:
        raise invalid_request(f"query parameter '{name}': {exc}") from None
    except OverflowError:  # in range, but not once moved to UTC: nothing is recorded out there
        return datetime.min.replace(tzinfo=UTC) if value.lstrip().startswith("0001") \
            else datetime.max.replace(tzinfo=UTC)
    except ValueError:
        raise invalid_request(f"query parameter '{name}': {value!r} is not an RFC 3339 time "
                              "like 2026-03-01T00:00:00Z") from None
