"""Who may do what. A key belongs to one tenant and has one role; every answer is computed
for the key's tenant only, so no id in a path or body can reach another tenant's data.

Who is asking is settled before anything about the request is judged: a route of a `Guarded`
router answers 401 without a valid key and 403 for a role that may not, before FastAPI reads
and validates the body, so a bad body is a 400 only for a caller allowed to send one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ledger.api.credentials import bearer_key
from ledger.api.errors import forbidden, refuse_unknown_query, unauthorized
from ledger.api.keys import Principal

# action -> the roles that may take it. `customer` keys are further held to their own customer.
ACCESS: dict[str, frozenset[str]] = {
    "post_events": frozenset({"admin", "billing"}),
    "check": frozenset({"admin", "service"}),
    "read_current": frozenset({"admin", "service", "customer"}),
    "read_license": frozenset({"admin", "service"}),
    "read_past": frozenset({"admin", "auditor"}),
    "read_history": frozenset({"admin", "auditor"}),
    "license_file": frozenset({"admin", "customer"}),
    "metrics": frozenset({"admin"}),
    "tree_head": frozenset({"admin", "auditor", "customer"}),
    "inclusion_proof": frozenset({"admin", "auditor", "customer"}),
    "consistency_proof": frozenset({"admin", "auditor"}),
    "explain_now": frozenset({"admin", "auditor", "service"}),
    "explain_past": frozenset({"admin", "auditor"}),
    # controlled change (issue 8): editors draft and preview, admins approve and publish
    "read_releases": frozenset({"admin", "catalog_editor", "auditor"}),
    "draft_catalog": frozenset({"admin", "catalog_editor"}),
    "withdraw_catalog": frozenset({"admin", "catalog_editor"}),
    "approve_catalog": frozenset({"admin"}),
    "publish_catalog": frozenset({"admin"}),
    "set_policy": frozenset({"admin"}),
    "read_governance": frozenset({"admin", "auditor"}),
}

WHAT = {
    "post_events": "post events",
    "check": "ask the check",
    "read_current": "read current entitlements",
    "read_license": "read licenses",
    "read_past": "ask about past moments (as_of, known_at)",
    "read_history": "read license history",
    "license_file": "fetch license files",
    "metrics": "read metrics",
    "tree_head": "read the signed tree head",
    "inclusion_proof": "get inclusion proofs",
    "consistency_proof": "get consistency proofs",
    "explain_now": "ask why the check answers as it does",
    "explain_past": "ask why the check answered as it did at a past moment (at, known_at)",
    "read_releases": "read catalog releases",
    "draft_catalog": "draft or preview catalog versions",
    "withdraw_catalog": "withdraw catalog versions",
    "approve_catalog": "approve or reject catalog versions",
    "publish_catalog": "publish catalog versions",
    "set_policy": "change the tenant's governance policy",
    "read_governance": "read reconciliation and compliance findings",
}

bearer = HTTPBearer(auto_error=False, description="An API key made with `ledger apikey create`.")


async def authenticate(request: Request) -> Principal:
    """The principal of a valid, unrevoked key, or 401: from memory when it can vouch for the
    key (see `remembered_keys.ApiKeys`), else from the table on a worker thread. Only one spelling of the
    credentials reaches either (`credentials.bearer_key`)."""
    key = bearer_key(request.headers.getlist("authorization"))
    if key is None:
        raise unauthorized()
    keys = request.app.state.ports.keys
    found: Principal | None = keys.remembered(key)
    if found is None:  # unknown here, or revocations due to be counted: ask the table
        found = await run_in_threadpool(keys.authenticate, key)
    if found is None:
        raise unauthorized("the API key is unknown or revoked")
    return found


async def caller(request: Request,
                 _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The principal (found by `Guarded` before the body was read), then a typo in the query
    refused; `bearer` is named here so that the OpenAPI document shows the scheme."""
    found = getattr(request.state, "principal", None)
    principal = found if isinstance(found, Principal) else await authenticate(request)
    refuse_unknown_query(request)
    return principal


Caller = Annotated[Principal, Depends(caller)]


def check_access(principal: Principal, action: str, customer_id: str | None = None) -> None:
    """403 unless the principal's role may take `action` (for `customer_id`, if one is named)."""
    if principal.role not in ACCESS[action]:
        raise forbidden(f"a {principal.role} key may not {WHAT[action]}")
    if principal.role == "customer" and customer_id is not None \
            and customer_id != principal.customer_id:
        raise forbidden("a customer key reads only its own customer's entitlements")


_ACTIONS: dict[Callable[..., Any], str] = {}  # each `may` dependency -> its action


def may(action: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, if its role may take `action`."""

    async def dependency(principal: Caller) -> Principal:  # pure: no worker thread needed
        check_access(principal, action)
        return principal

    _ACTIONS[dependency] = action
    return dependency


_SETTLED: set[Callable[..., Any]] = set()  # `settled` dependencies: Guarded finds the caller
# The security requirement `caller` puts in the OpenAPI document, for a route that uses `settled`.
BEARER: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


def settled(action: str) -> Callable[[Request], Awaitable[Principal]]:
    """Like `may(action)`, for a hot path (the check): one dependency instead of three, as the
    key and role are settled by `Guarded` before the body is read; only the query is left to
    judge. The route passes `openapi_extra=BEARER`, which `caller` would otherwise document."""

    async def dependency(request: Request) -> Principal:
        refuse_unknown_query(request)
        found: Principal = request.state.principal
        return found

    _ACTIONS[dependency] = action
    _SETTLED.add(dependency)
    return dependency


class Guarded(APIRoute):
    """A route whose key and role, if it asks for a caller, are checked before the body is
    read: the contract's 401 without a valid key holds whatever the body (malformed JSON,
    a missing field), and so does the 403 of a route's `may`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        calls = _calls(self.dependant)
        if caller not in calls and not _SETTLED.intersection(calls):
            return handle
        actions = [_ACTIONS[call] for call in calls if call in _ACTIONS]

        async def guarded(request: Request) -> Response:
            principal = await authenticate(request)
            for action in actions:
                check_access(principal, action)
            request.state.principal = principal
            return await handle(request)

        return guarded


def _calls(dependant: Dependant) -> list[Callable[..., Any]]:
    found = []
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.append(sub.call)
        found += _calls(sub)
    return found
