"""The verifiable log over HTTP (contract section 7): the signed tree head, inclusion proofs
(a customer key only for its own licenses' events) and consistency proofs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ledger.api.auth import Guarded, may
from ledger.api.errors import Answer, forbidden, invalid_request, not_found
from ledger.api.keys import Principal
from ledger.api.ports import PortsDep
from ledger.api.proof_models import ConsistencyProof, InclusionProof, SignedTreeHead
from ledger.api.responses import problems
from ledger.proofs import NoSuchEventError, ProofRequestError, VerifiableLog

router = APIRouter(tags=["proofs"], route_class=Guarded)

MAX = 2**62  # beyond any log; keeps numbers in range of every database
Size = Annotated[int | None, Query(ge=1, le=MAX, description="A tree size (default: the current one).")]


def verifiable_log(request: Request, ports: PortsDep) -> VerifiableLog:
    """One log per app, built on first use from the app's store, keys and clock."""
    found = getattr(request.app.state, "verifiable_log", None)
    if found is None:
        found = VerifiableLog(ports.store, ports.keyring, ports.clock)
        request.app.state.verifiable_log = found
    return found


LogDep = Annotated[VerifiableLog, Depends(verifiable_log)]


def _answer(compute: Callable[[], dict[str, Any]]) -> Answer:
    """The answer, with the log's refusals as 400 (`invalid_request`) and 404."""
    try:
        return Answer(compute())
    except ProofRequestError as exc:
        raise invalid_request(str(exc)) from None
    except NoSuchEventError as exc:
        raise not_found(exc.code, str(exc)) from None


@router.get("/v1/tree-head", response_model=None,
            responses={200: {"model": SignedTreeHead}, **problems(400, 401, 403, 404)})
def tree_head(principal: Annotated[Principal, Depends(may("tree_head"))], log: LogDep,
              tree_size: Size = None) -> Answer:
    """The tenant's signed tree head (404 `no_events` while its log is empty)."""
    return _answer(lambda: log.tree_head(principal.tenant, tree_size))


@router.get("/v1/proofs/inclusion", response_model=None,
            responses={200: {"model": InclusionProof}, **problems(400, 401, 403, 404)})
def inclusion(principal: Annotated[Principal, Depends(may("inclusion_proof"))], log: LogDep,
              ports: PortsDep,
              sequence: Annotated[int | None, Query(ge=1, le=MAX, description="The event.")] = None,
              source: Annotated[str | None, Query(min_length=1, description="With `id`: the event's source.")
                                ] = None,
              event_id: Annotated[str | None, Query(alias="id", min_length=1, description="With `source`.")
                                  ] = None,
              tree_size: Size = None) -> Answer:
    """That an event is in the tenant's log: by `sequence`, or by `source` and `id`."""
    tenant = principal.tenant

    def compute() -> dict[str, Any]:
        by_event = source is not None or event_id is not None
        if by_event == (sequence is not None) or by_event and (source is None or event_id is None):
            raise invalid_request("give either sequence, or both source and id")
        found = sequence if sequence is not None else log.sequence_of(tenant, str(source), str(event_id))
        if principal.role == "customer":
            fact = ports.store.fact_at_sequence(tenant, found)
            own = ports.store.licenses_of_customer(tenant, principal.customer_id or "")
            if fact is not None and (fact.type == "catalog.published" or fact.subject not in own):
                raise forbidden("a customer key gets proofs of its own licenses' events only")
        return log.inclusion(tenant, found, tree_size)

    return _answer(compute)


@router.get("/v1/proofs/consistency", response_model=None,
            responses={200: {"model": ConsistencyProof}, **problems(400, 401, 403, 404)})
def consistency(principal: Annotated[Principal, Depends(may("consistency_proof"))], log: LogDep,
                first: Annotated[int, Query(alias="from", ge=1, le=MAX,
                                            description="The earlier tree size.")],
                second: Annotated[int | None, Query(alias="to", ge=1, le=MAX, description=(
                    "The later tree size (default: the current one)."))] = None) -> Answer:
    """That the tree of size `from` is a prefix of the tree of size `to`."""
    return _answer(lambda: log.consistency(principal.tenant, first, second))
