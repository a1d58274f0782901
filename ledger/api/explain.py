"""GET /v1/customers/{id}/explain: why the check answers as it does (issue 11, "why")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from ledger.api.auth import Caller, Guarded, check_access
from ledger.api.errors import Answer, invalid_request
from ledger.api.keys import Principal
from ledger.api.models import CustomerId
from ledger.api.ports import PortsDep
from ledger.api.queries import AsOf, KnownAt, query_time
from ledger.api.responses import problems
from ledger.audit.explain import explain as explain_check

router = APIRouter(tags=["audit"], route_class=Guarded)


async def explaining(principal: Caller, request: Request) -> Principal:
    """The caller, if its role may ask about this moment: now (admin, auditor, service) or a
    past one (admin, auditor). Checked as a dependency, so who asks is settled before what is
    asked (a role that may not gets its 403 whatever the query)."""
    past = "at" in request.query_params or "known_at" in request.query_params
    check_access(principal, "explain_past" if past else "explain_now")
    return principal


class Explanation(BaseModel):
    customer_id: str
    feature: str
    at: str
    known_at: str
    check: dict[str, Any]
    explanation: str
    facts: list[dict[str, Any]]


@router.get("/v1/customers/{customer_id:id}/explain", response_model=None,
            responses={200: {"model": Explanation}, **problems(400, 401, 403)})
def explain(customer_id: CustomerId, principal: Annotated[Principal, Depends(explaining)],
            ports: PortsDep,
            feature: Annotated[str, Query(min_length=1, max_length=500, description="The feature.")],
            at: AsOf = None, known_at: KnownAt = None,
            quantity: Annotated[int, Query(ge=1, le=10**9, description="Units (default 1).")] = 1
            ) -> Answer:
    """The check's answer for `feature` at `at` as known at `known_at` (default now), and the
    facts that decided it (admin, auditor; a service key for now only)."""
    now = ports.clock()
    moment = query_time("at", at) or now
    known = query_time("known_at", known_at) or now
    try:
        return Answer(explain_check(ports.ledger, ports.store, principal.tenant, customer_id, feature,
                                    moment, known, quantity))
    except OverflowError:
        raise invalid_request("'at' lies so far out that a license's term around it cannot be "
                              "computed; ask about an earlier moment") from None
