"""The shapes of requests and answers, for validation and for the OpenAPI document.
Answers are the contract's documents; where the contract allows more fields, so do these."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from ledger.api.proof_models import SignedTreeHead
from ledger.api.state_models import LicenseState

# Ids are the senders' own: any printable text. Control characters would only ever be a mistake.
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
Id = Annotated[str, Field(min_length=1, max_length=500, pattern=ID_PATTERN)]
CustomerId = Annotated[str, Path(min_length=1, max_length=500, pattern=ID_PATTERN,
                                 description="The customer id, as billing sends it; a \"/\" in it as %2F.")]
LicenseId = Annotated[str, Path(min_length=1, max_length=500, pattern=ID_PATTERN,
                                description="The license id (the events' `subject`); a \"/\" in it as %2F.")]


class IdConvertor(Convertor[str]):
    """`{name:id}` in a route: any non-empty text, "/" included. Ids are the senders' own and
    may hold "/", sent as %2F, which the server decodes before routing (Starlette's `path`
    would do, but for a newline, which must reach ID_PATTERN to be refused as a bad request
    rather than go unrouted)."""

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())  # before any route that names it is declared


def whole_number(value: Any) -> Any:
    """A JSON number without a fraction (1 or 1.0); never a bool, a string or 1.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


Quantity = Annotated[int, Field(gt=0, description="Units about to be used; a positive whole number."),
                     BeforeValidator(whole_number)]


class Problem(BaseModel):
    """Every error: a stable code and a sentence."""

    code: str = Field(examples=["invalid_request"])
    message: str


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Id
    feature: Id
    quantity: Quantity = 1


class CheckAnswer(BaseModel):
    allowed: bool
    reason: Literal["ok", "no_license", "feature_not_in_plan", "pending", "suspended", "expired",
                    "revoked", "limit_exceeded", "region_blocked"]
    message: str
    license_id: str | None = None
    limit: int | None = None
    used: int | None = None
    remaining: int | None = None
    stale: bool | None = Field(default=None, description="Only when the read models could not be "
                               "reached: the answer comes from memory.")
    stale_seconds: float | None = Field(default=None, description="With `stale`: seconds since "
                                        "the read models last answered.")


class Entitlements(BaseModel):
    customer_id: str
    as_of: str
    known_at: str
    licenses: list[LicenseState]  # type: ignore[valid-type]  # derived: see state_models


class EventResult(BaseModel):
    id: str | None
    source: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    code: str | None = Field(default=None, description="Only for rejections.")
    message: str | None = Field(default=None, description="Only for rejections.")


class EventResults(BaseModel):
    results: list[EventResult]


class HistoryEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    source: str
    type: str
    effective_at: str
    recorded_at: str
    position: int | None
    sequence: int | None = None
    hash: str | None = Field(default=None, description="The event's chain hash (contract section 7).")
    prev_hash: str | None = Field(default=None, description="The hash of the tenant's event before it.")
    data: dict[str, Any]
    status: Literal["applied", "superseded"]


class History(BaseModel):
    license_id: str
    events: list[HistoryEvent]


class Head(BaseModel):
    sequence: int
    hash: str


class LicenseBody(BaseModel):
    tenant: str
    customer_id: str
    issued_at: str
    expires_at: str
    head: Head
    licenses: list[LicenseState]  # type: ignore[valid-type]  # derived: see state_models
    tree_head: SignedTreeHead | None = Field(
        default=None, description="The signed tree head of the tenant's log at head.sequence.")


class LicenseFile(BaseModel):
    license: LicenseBody
    key_id: str
    algorithm: Literal["Ed25519"]
    signature: str = Field(description="Base64 Ed25519 signature over the canonical JSON of `license`.")
    signature_rfc8785: str | None = Field(
        default=None, description="Base64 Ed25519 signature, by the same key, over the RFC 8785 "
        "form of `license`; verifiers check it when present. Absent only where RFC 8785 cannot "
        "express the body (an integer beyond 2**53).")


class PublicKey(BaseModel):
    key_id: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="Base64 of the raw 32-byte Ed25519 public key.")


class PublicKeys(BaseModel):
    keys: list[PublicKey]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]]
