"""The questions: the check (hot path), current entitlements, one license, its history, and
the state as of a past moment as known at another.

Current answers come from the read models (the check and entitlements through the in-memory
cache, see `cache.py`); as-of and known-at answers replay the ledger itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ledger.api.auth import BEARER, Caller, Guarded, authenticate, check_access, may, settled
from ledger.api.cache import Lookup, ReadModelsUnavailableError
from ledger.api.errors import Answer, ApiError, JsonSent, invalid_request, not_found
from ledger.api.keys import Principal
from ledger.api.models import CheckAnswer, CheckRequest, CustomerId, Entitlements, History, LicenseId
from ledger.api.models import LicenseState as LicenseStateModel
from ledger.api.ports import Ports, PortsDep
from ledger.api.responses import problems
from ledger.domain.check import decide
from schemas.times import ZonelessTimeError, format_time, parse_time

router = APIRouter(tags=["questions"], route_class=Guarded)

TIME_HELP = "RFC 3339 time with a zone, e.g. 2026-03-01T00:00:00Z."
AsOf = Annotated[str | None, Query(description=f"The business moment asked about. {TIME_HELP}",
                                   json_schema_extra={"format": "date-time"})]
KnownAt = Annotated[str | None, Query(description=f"Only what was recorded by then. {TIME_HELP}",
                                      json_schema_extra={"format": "date-time"})]


@router.post("/v1/check", response_model=None, openapi_extra=BEARER,
             responses={200: {"model": CheckAnswer}, **problems(400, 401, 403, 413, 503)})
async def check(request: CheckRequest, principal: Annotated[Principal, Depends(settled("check"))],
                _: JsonSent, http: Request) -> Answer:
    """May the customer use the feature right now (for `quantity` more units)? A hit is
    answered on the event loop; only a miss spends a worker thread on the read models."""
    ports: Ports = http.app.state.ports  # not `PortsDep`: one dependency fewer on the hot path
    now = ports.clock()
    found = ports.cache.lookup(principal.tenant, request.customer_id, now)
    if found is None:
        found = await run_in_threadpool(current_states, ports, principal.tenant,
                                        request.customer_id, now)
    return Answer(decided(ports, found, request.feature, request.quantity))


def decided(ports: Ports, found: Lookup, feature: str, quantity: int) -> dict[str, Any]:
    """The check's answer over the customer's states, counted and timed in /metrics; the one
    way to it, for the route and its fast path (`fastcheck.py`) alike."""
    started = time.perf_counter()
    decision = decide(found.states, feature, quantity)
    ports.metrics.checked(decision.reason, found.cached, time.perf_counter() - started)
    answer = decision.as_dict()
    if found.stale_for is not None:
        answer.update(stale=True, stale_seconds=found.stale_for)
    return answer


def current_states(ports: Ports, tenant: str, customer_id: str, now: datetime) -> Lookup:
    """The customer's states from the cache, or 503 `read_models_unavailable` when the read
    models fail and nothing recent enough is held."""
    try:
        return ports.cache.states(tenant, customer_id, now)
    except ReadModelsUnavailableError as exc:
        raise ApiError(503, "read_models_unavailable", f"{exc}; retry shortly, and see "
                       "/healthz (the read database may be down)", {"Retry-After": "1"}) from None


@router.get("/v1/customers/{customer_id:id}/entitlements", response_model=None,
            responses={200: {"model": Entitlements}, **problems(400, 401, 403)})
def entitlements(customer_id: CustomerId, principal: Caller, ports: PortsDep,
                 as_of: AsOf = None, known_at: KnownAt = None) -> Answer:
    """The customer's licenses now (from the read models), or as of `as_of` as known at
    `known_at` (replayed from the ledger; for auditors)."""
    now = ports.clock()
    if as_of is None and known_at is None:
        check_access(principal, "read_current", customer_id)
        found = current_states(ports, principal.tenant, customer_id, now)
        states = [s.as_dict() for s in found.states]
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


STREAM_POLL = 0.2  # seconds between looks at the cache (in memory unless the customer moved)
STREAM_KEEPALIVE = 15.0
STREAM_LIFETIME = 3600.0  # a stream ends after an hour: the client reconnects, as SSE does
STREAM_STALE_AFTER = 2.0  # `stale` once this far behind: one failed round does not flap it


@router.get("/v1/customers/{customer_id:id}/changes", response_model=None,
            responses={200: {"content": {"text/event-stream": {"schema": {
                "type": "object", "required": ["event", "data"],
                "properties": {"event": {"type": "string", "enum": ["entitlements", "stale"]},
                               "data": {"type": "string", "description": "`entitlements`: the "
                                        "JSON of the current entitlements document "
                                        "(`Entitlements`); `stale`: {\"stale_seconds\": age "
                                        "or null}."}}}}},
                "description": "Server-sent events: `entitlements`, each the current "
                               "entitlements document; `stale` once when the server can no "
                               "longer keep them fresh (its read models are unreachable or "
                               "behind), until the next `entitlements`."}, **problems(400, 401, 403)})
async def customer_changes(customer_id: CustomerId, principal: Caller, ports: PortsDep,
                           request: Request) -> StreamingResponse:
    """The customer's current entitlements now, then again each time they change (an event
    projected for the customer, or time alone: an expiry, the end of grace, a new month);
    `stale` once while they cannot be kept fresh, then the document again when they can."""
    check_access(principal, "read_current", customer_id)
    tenant = principal.tenant

    async def events() -> AsyncIterator[str]:
        sent: list[dict[str, Any]] | None = None
        stale = False  # a `stale` event was sent and no fresh document since
        started = quiet = time.monotonic()
        while (time.monotonic() - started < STREAM_LIFETIME and not ports.stopping.is_set()
               and not await request.is_disconnected()):
            if not await _still_valid(request):
                return  # the key was revoked: the stream ends, and a reconnect is told 401
            now = ports.clock()
            try:
                found = ports.cache.lookup(tenant, customer_id, now) or await run_in_threadpool(
                    ports.cache.states, tenant, customer_id, now)
            except ReadModelsUnavailableError:
                found = None
            if found is None or (found.stale_for or 0.0) >= STREAM_STALE_AFTER:
                if not stale:  # said once: what the client holds is no longer kept fresh
                    stale, quiet = True, time.monotonic()
                    age = None if found is None else found.stale_for
                    yield "event: stale\ndata: " + json.dumps({"stale_seconds": age}) + "\n\n"
            elif found.stale_for is None:
                licenses = [s.as_dict() for s in found.states]
                if licenses != sent or stale:
                    sent, stale, quiet = licenses, False, time.monotonic()
                    yield "event: entitlements\ndata: " + json.dumps(
                        {"customer_id": customer_id, "as_of": format_time(now),
                         "known_at": format_time(now), "licenses": licenses},
                        separators=(",", ":")) + "\n\n"
            if time.monotonic() - quiet >= STREAM_KEEPALIVE:
                quiet = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(STREAM_POLL)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _still_valid(request: Request) -> bool:
    """Whether the stream's key is still valid, asked before each look at the cache: from
    memory, as every request's key (`auth.authenticate`), so a revocation ends a stream as
    soon as it stops a plain request with the same key. A key that can no longer be vouched
    for at all (its table unreadable past the bound) ends it too."""
    try:
        await authenticate(request)
    except Exception:  # noqa: BLE001 - 401 or an unreadable table: either way, not valid now
        return False
    return True


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
