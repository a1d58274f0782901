"""Offline license files: a customer's entitlements signed for its product to verify offline,
and the public keys to verify them with (contract section 4, `ledger.licensefile`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ledger.api.auth import Caller, Guarded, check_access
from ledger.api.errors import Answer, not_found, refuse_unknown_query
from ledger.api.models import CustomerId, LicenseFile, PublicKeys
from ledger.api.ports import PortsDep
from ledger.api.proofs import LogDep
from ledger.api.responses import problems
from ledger.licensefile import KeyRing, issue_license_file
from ledger.proofs import VerifiableLog
from ledger.service import Ledger
from ledger.store.eventstore import LedgerStore

router = APIRouter(tags=["license files"], route_class=Guarded)


def customer_license_file(ledger: Ledger, store: LedgerStore, keyring: KeyRing, tenant: str,
                          customer_id: str, now: datetime, valid_for: timedelta,
                          log: VerifiableLog | None = None) -> dict[str, Any] | None:
    """The signed file of a customer's licenses at `now`, or None if it has none.

    The licenses are the typed states (`Ledger.license_file_states`) as their contract
    documents. The head is read before the states are folded, so a file reflects at least the events up
    to its head: a product that refuses files older than one it has seen never goes back. The
    signed tree head of the log at that head rides along (`license.tree_head`).
    """
    head = store.head(tenant)
    states = ledger.license_file_states(tenant, customer_id, now)
    if not states or head is None:
        return None
    tree_head = (log or VerifiableLog(store, keyring, lambda: now)).tree_head(tenant, head.sequence)
    return issue_license_file(keyring, tenant, customer_id, [s.as_dict() for s in states],
                              head.as_dict(), now, valid_for, tree_head)


@router.get("/v1/customers/{customer_id:id}/license-file", response_model=None,
            responses={200: {"model": LicenseFile}, **problems(400, 401, 403, 404)})
def license_file(customer_id: CustomerId, principal: Caller, ports: PortsDep, log: LogDep) -> Answer:
    """A signed offline license file of the customer's licenses (404 `no_license` if none)."""
    check_access(principal, "license_file", customer_id)
    document = customer_license_file(ports.ledger, ports.store, ports.keyring, principal.tenant,
                                     customer_id, ports.clock(), ports.license_validity, log)
    if document is None:
        raise not_found("no_license", f"customer {customer_id!r} has no license in this tenant")
    return Answer(document)


@router.get("/v1/license-files/keys", response_model=None, responses={200: {"model": PublicKeys}})
def public_keys(ports: PortsDep, _: Annotated[None, Depends(refuse_unknown_query)]) -> Answer:
    """The public keys license files are signed with; no API key needed."""
    return Answer({"keys": ports.keyring.public_keys()})
