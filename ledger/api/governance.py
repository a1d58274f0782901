"""GET /v1/reconciliation: the tenant's entitlements against its payments; GET /v1/compliance:
against the rules they must obey (both admin, auditor). Each reconciliation also sets the
`ledger_reconciliation_findings` gauges of /metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response

from ledger.api.auth import Guarded, may
from ledger.api.errors import Answer
from ledger.api.keys import Principal
from ledger.api.ports import PortsDep
from ledger.api.queries import AsOf, query_time
from ledger.api.responses import problems
from ledger.governance.compliance import compliance
from ledger.governance.reconciliation import as_csv, reconciliation
from ledger.licensefile.keys import key_ages
from projections.readmodel import ReadModels

router = APIRouter(tags=["governance"], route_class=Guarded)


@router.get("/v1/reconciliation", response_model=None, responses={
    200: {"description": "The findings, as JSON or (`format=csv`) CSV.",
          "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}},
    **problems(400, 401, 403)})
def reconcile(principal: Annotated[Principal, Depends(may("read_governance"))], ports: PortsDep,
              as_of: AsOf = None,
              format: Annotated[Literal["json", "csv"], Query()] = "json") -> Response:
    """Findings (revenue leakage, customer harm, unsuspended failed payments, overage, seats
    above those paid for), each naming the license, its facts and the payments involved."""
    report = reconciliation(ports.ledger, principal.tenant, query_time("as_of", as_of) or ports.clock())
    for code, count in report["counts"].items():
        ports.metrics.reconciliation.labels(principal.tenant, code).set(count)
    if format == "csv":
        return PlainTextResponse(as_csv(report), media_type="text/csv")
    return Answer(report)


@router.get("/v1/compliance", response_model=None, responses={
    200: {"description": "The findings, with counts by code (see docs/governance.md)."},
    **problems(400, 401, 403)})
def check_compliance(principal: Annotated[Principal, Depends(may("read_governance"))],
                     ports: PortsDep, as_of: AsOf = None) -> Answer:
    """What `ledger compliance` finds, for the key's tenant: the same checks, including the
    read models this server answers from against a replay, this tenant's API keys and the
    signing keys this server signs license files with."""
    now = ports.clock()
    directory = ports.keyring.directory
    # the read models this server answers from; another implementation is skipped, and said so
    models = ports.models if isinstance(ports.models, ReadModels) else None
    report = compliance(ports.ledger, principal.tenant, query_time("as_of", as_of) or now,
                        models=models, api_keys=ports.keys.listed(principal.tenant),
                        signing_keys=key_ages(directory) if directory else [], today=now)
    return Answer(report)
