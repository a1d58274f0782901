"""/v1/catalog/releases and /v1/governance/policy: the catalog release workflow over HTTP.

`catalog_editor` keys draft, withdraw and preview; `admin` keys approve, reject and publish;
`auditor` keys read. Every step is recorded under the key's name (`ledger apikey create
--name`): an unnamed key cannot take one, since four eyes need to know whose eyes they are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from ledger.api.auth import Guarded, may
from ledger.api.errors import Answer, ApiError, JsonSent
from ledger.api.events import await_projection
from ledger.api.keys import Principal
from ledger.api.models import ID_PATTERN, whole_number
from ledger.api.ports import Ports, PortsDep
from ledger.api.responses import problems
from ledger.governance.releases import ReleaseError, Releases
from schemas.times import Time

router = APIRouter(tags=["catalog releases"], route_class=Guarded)
Version = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN,
                              description="The catalog version; a \"/\" in it as %2F.")]
STEP = problems(400, 401, 403, 404, 409)
Whole = BeforeValidator(whole_number)  # 7 or 7.0, never "7" or 7.5


class DraftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: dict[str, Any] = Field(description="The catalog (contract section 2).")
    effective_at: Time = Field(description="When it is to take effect, RFC 3339 with a zone.")
    reason: str | None = Field(default=None, max_length=2000)


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digest: str = Field(pattern=r"^[0-9a-f]{64}$",
                        description="The `digest` of the draft reviewed (from GET or preview).")
    reason: str | None = Field(default=None, max_length=2000)


class ReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)


class PolicyRequest(BaseModel):
    """Only the settings given change; the others keep their values."""

    model_config = ConfigDict(extra="forbid")

    approval_required: StrictBool | None = None
    approvals_required: Annotated[int, Field(ge=1, le=20), Whole] | None = None
    failed_payment_days: Annotated[int, Field(ge=0, le=3650), Whole] | None = None
    api_key_unused_days: Annotated[int, Field(ge=1, le=3650), Whole] | None = None
    signing_key_max_age_days: Annotated[int, Field(ge=1, le=36500), Whole] | None = None
    reason: str | None = Field(default=None, max_length=2000)


def actor(principal: Principal) -> str:
    if not principal.name:
        raise ApiError(403, "unnamed_key", "release steps are recorded under the key's name; "
                       "use a key made with `ledger apikey create --name NAME`")
    return principal.name


def _step(ports: Ports, take: Any, *, writes: bool = False) -> Answer:
    try:
        found = take(Releases(ports.ledger, ports.clock))
    except ReleaseError as exc:
        status = 404 if exc.code == "unknown_release" else 400 if exc.code == "invalid_event" else 409
        raise ApiError(status, exc.code, exc.message) from None
    if writes:  # embedded mode: a check right after a publication sees the catalog
        await_projection(ports, ports.store.max_position())
    return Answer(found)


# Routes with a suffix first: `{version:id}` would take "v1/preview" for a version.
@router.get("/v1/catalog/releases/{version:id}/diff", response_model=None, responses=STEP)
def release_diff(version: Version, principal: Annotated[Principal, Depends(may("read_releases"))],
                 ports: PortsDep) -> Answer:
    """The draft against the catalog in force at its effective time: what is added, removed, changed."""
    return _step(ports, lambda r: r.diff(principal.tenant, version))


@router.get("/v1/catalog/releases/{version:id}/preview", response_model=None, responses=STEP)
def release_preview(version: Version, principal: Annotated[Principal, Depends(may("read_releases"))],
                    ports: PortsDep, first: Annotated[int, Query(ge=0, le=1000)] = 20) -> Answer:
    """Which licenses the draft changes at its effective time (counts and the first `first`);
    computed over a fork of the catalog history, nothing is written."""
    return _step(ports, lambda r: r.preview(principal.tenant, version, first))


@router.post("/v1/catalog/releases/{version:id}/approve", response_model=None, responses=STEP)
def release_approve(version: Version, request: ApproveRequest,
                    principal: Annotated[Principal, Depends(may("approve_catalog"))],
                    _: JsonSent, ports: PortsDep) -> Answer:
    """One approval, by someone other than the author, of the draft with this digest."""
    return _step(ports, lambda r: r.approve(principal.tenant, version, actor(principal),
                                            request.digest, request.reason), writes=True)


@router.post("/v1/catalog/releases/{version:id}/reject", response_model=None, responses=STEP)
def release_reject(version: Version, request: ReasonRequest,
                   principal: Annotated[Principal, Depends(may("approve_catalog"))],
                   _: JsonSent, ports: PortsDep) -> Answer:
    return _step(ports, lambda r: r.reject(principal.tenant, version, actor(principal),
                                           request.reason), writes=True)


@router.post("/v1/catalog/releases/{version:id}/withdraw", response_model=None, responses=STEP)
def release_withdraw(version: Version, request: ReasonRequest,
                     principal: Annotated[Principal, Depends(may("withdraw_catalog"))],
                     _: JsonSent, ports: PortsDep) -> Answer:
    """Withdraw a draft or an approved version, or a published one whose effective time is
    still ahead: it then never takes effect for any answer known afterwards."""
    return _step(ports, lambda r: r.withdraw(principal.tenant, version, actor(principal),
                                             request.reason), writes=True)


@router.post("/v1/catalog/releases/{version:id}/publish", response_model=None, responses=STEP)
def release_publish(version: Version, request: PublishRequest,
                    principal: Annotated[Principal, Depends(may("publish_catalog"))],
                    _: JsonSent, ports: PortsDep) -> Answer:
    """Publish an approved version at its effective time (a future time schedules it)."""
    return _step(ports, lambda r: r.publish(principal.tenant, version, actor(principal),
                                            request.reason), writes=True)


@router.get("/v1/catalog/releases/{version:id}", response_model=None, responses=STEP)
def release(version: Version, principal: Annotated[Principal, Depends(may("read_releases"))],
            ports: PortsDep) -> Answer:
    """One release: its status, author, approvals, digest, every step and the drafted catalog."""
    return _step(ports, lambda r: r.show(principal.tenant, version))


@router.get("/v1/catalog/releases", response_model=None, responses=problems(400, 401, 403))
def releases(principal: Annotated[Principal, Depends(may("read_releases"))],
             ports: PortsDep) -> Answer:
    return _step(ports, lambda r: {"releases": r.all(principal.tenant)})


@router.post("/v1/catalog/releases", response_model=None, responses=STEP)
def release_draft(request: DraftRequest, principal: Annotated[Principal, Depends(may("draft_catalog"))],
                  _: JsonSent, ports: PortsDep) -> Answer:
    """Draft a catalog version to take effect at `effective_at`; its author can never approve it."""
    return _step(ports, lambda r: r.draft(principal.tenant, actor(principal), request.catalog,
                                          request.effective_at, request.reason), writes=True)


@router.get("/v1/governance/policy", response_model=None, responses=problems(400, 401, 403))
def policy(principal: Annotated[Principal, Depends(may("read_releases"))], ports: PortsDep) -> Answer:
    """The tenant's governance settings: approval, four eyes, reconciliation and compliance limits."""
    return _step(ports, lambda r: r.policy(principal.tenant).as_dict())


@router.put("/v1/governance/policy", response_model=None, responses=STEP)
def set_policy(request: PolicyRequest, principal: Annotated[Principal, Depends(may("set_policy"))],
               _: JsonSent, ports: PortsDep) -> Answer:
    """Change some governance settings; the change is recorded in the ledger under the key's name."""
    changes = request.model_dump(exclude={"reason"})
    return _step(ports, lambda r: r.configure(principal.tenant, actor(principal), request.reason,
                                              **changes).as_dict(), writes=True)
