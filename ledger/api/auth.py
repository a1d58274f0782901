"""Who may do what. A key belongs to one tenant and has one role; every answer is computed
for the key's tenant only, so no id in a path or body can reach another tenant's data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
}

bearer = HTTPBearer(auto_error=False, description="An API key made with `ledger apikey create`.")


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The principal of a valid, unrevoked key, or 401."""
    if credentials is None or not credentials.credentials:
        raise unauthorized()
    found = request.app.state.ports.keys.authenticate(credentials.credentials)
    if found is None:
        raise unauthorized("the API key is unknown or revoked")
    refuse_unknown_query(request)
    return found


Caller = Annotated[Principal, Depends(caller)]


def check_access(principal: Principal, action: str, customer_id: str | None = None) -> None:
    """403 unless the principal's role may take `action` (for `customer_id`, if one is named)."""
    if principal.role not in ACCESS[action]:
        raise forbidden(f"a {principal.role} key may not {WHAT[action]}")
    if principal.role == "customer" and customer_id is not None \
            and customer_id != principal.customer_id:
        raise forbidden("a customer key reads only its own customer's entitlements")


def may(action: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, if its role may take `action`."""

    async def dependency(principal: Caller) -> Principal:  # pure: no worker thread needed
        check_access(principal, action)
        return principal

    return dependency
