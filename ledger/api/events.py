"""POST /v1/events: billing systems without Kafka send envelopes here.

Each envelope is judged on its own and answered in the order sent; one bad envelope never
fails the others. An envelope's `tenantid` defaults to the key's tenant, and any other
tenant is refused (`tenant_mismatch`). In the embedded mode the answer waits until the read
models have caught up with what was accepted, so a check right after it sees the change.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends

from ledger.api.auth import Guarded, may
from ledger.api.errors import Answer, ApiError, invalid_request
from ledger.api.keys import Principal
from ledger.api.models import EventResults
from ledger.api.ports import Ports, PortsDep
from ledger.api.responses import problems
from ledger.store.eventstore import ConcurrentAppendError, CorruptStoreError

log = structlog.get_logger()
router = APIRouter(tags=["events"], route_class=Guarded)
MAX_ENVELOPES = 1000

@router.post("/v1/events", response_model=None,
             responses={200: {"model": EventResults, "description": "One result per envelope, in order."},
                        **problems(400, 401, 403, 413, 503)})
def post_events(payload: Annotated[dict[str, Any] | list[Any], Body()],
                principal: Annotated[Principal, Depends(may("post_events"))],
                ports: PortsDep) -> Answer:
    """Record one envelope or a JSON array of them: each is accepted, a duplicate, or rejected
    with a stable code and a sentence."""
    envelopes = payload if isinstance(payload, list) else [payload]
    if len(envelopes) > MAX_ENVELOPES:
        raise invalid_request(f"at most {MAX_ENVELOPES} envelopes per request; "
                              f"this one has {len(envelopes)}")
    try:
        outcomes = ports.ledger.ingest(envelopes, principal.tenant, enforce_tenant=True, text=False)
    except ConcurrentAppendError:
        raise ApiError(503, "busy", "the ledger is under heavy write contention; "
                       "send the same envelopes again, duplicates are harmless") from None
    except CorruptStoreError as exc:
        log.error("ingest.store_corrupt", reason=str(exc))
        raise ApiError(503, "busy", "the ledger cannot record events for this tenant until an "
                       "operator has run `ledger verify`; nothing was recorded") from None
    for outcome in outcomes:
        ports.metrics.events.labels(outcome.status).inc()
    positions = [o.fact.position for o in outcomes if o.fact is not None and o.fact.position]
    if positions:
        await_projection(ports, max(positions))
    return Answer({"results": [o.as_dict() for o in outcomes]})


def await_projection(ports: Ports, position: int) -> None:
    """Read your writes in the embedded mode: wait (boundedly) for the in-process follower to
    project `position`, then make the check cache read the watermark afresh."""
    if ports.follower is not None:
        ports.follower.notify()
        try:
            ports.follower.wait_for(position, ports.write_wait)
        except Exception as exc:  # noqa: BLE001 - the events are recorded; the answer stands
            log.warning("api.projection_wait_failed", position=position, error=repr(exc))
    ports.cache.refresh()
