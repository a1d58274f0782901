"""Response models of the verifiable log (contract section 7), for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TreeHead(BaseModel):
    tenant: str
    tree_size: int
    root_hash: str = Field(description="Lower-case hex of the RFC 9162 root of the first tree_size events.")
    timestamp: str = Field(description="When the head was signed (RFC 3339, UTC).")


class SignedTreeHead(BaseModel):
    tree_head: TreeHead
    key_id: str
    algorithm: Literal["Ed25519"]
    signature: str = Field(description="Base64 Ed25519 signature over the RFC 8785 form of `tree_head`.")


class InclusionProof(BaseModel):
    tenant: str
    sequence: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    event_hash: str
    audit_path: list[str] = Field(description="RFC 9162 section 2.1.3 audit path, from the leaf up.")


class ConsistencyProof(BaseModel):
    tenant: str
    first: int
    second: int
    consistency_path: list[str] = Field(description="RFC 9162 section 2.1.4 consistency proof.")
