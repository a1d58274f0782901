"""The outbound message on `entitlements.events` (contract section 5): one accepted ledger fact.

A wire format, not the storage format: it may gain fields (consumers ignore what they do not
know) but never repurposes or drops one. `head` is the tenant chain's head as of this fact, so a
consumer can later ask `ledger verify --head` whether what it saw is still in the chain.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer

from ledger.domain.facts import Fact
from schemas.times import format_time

MESSAGE_VERSION = 1


class ChainHead(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: int
    hash: str


class OutboundEvent(BaseModel):
    """Version 1 of the message. `license_id` is the fact's subject (for `catalog.published`,
    the catalog version); `position` is the ledger position consumers deduplicate by."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_version: int = MESSAGE_VERSION
    position: int
    tenant: str
    license_id: str
    type: str
    effective_at: AwareDatetime
    recorded_at: AwareDatetime
    source: str
    source_event_id: str
    data: dict[str, Any]
    sequence: int
    hash: str
    prev_hash: str
    head: ChainHead

    @field_serializer("effective_at", "recorded_at")
    def _rfc3339(self, moment: datetime) -> str:
        return format_time(moment)

    @classmethod
    def of(cls, fact: Fact) -> OutboundEvent:
        if fact.position is None:
            raise ValueError("only recorded facts (with a ledger position) are published")
        return cls(position=fact.position, tenant=fact.tenant, license_id=fact.subject,
                   type=fact.type, effective_at=fact.effective_at, recorded_at=fact.recorded_at,
                   source=fact.source, source_event_id=fact.source_event_id, data=fact.data,
                   sequence=fact.sequence, hash=fact.hash, prev_hash=fact.prev_hash,
                   head=ChainHead(sequence=fact.sequence, hash=fact.hash))

    def to_fact(self) -> Fact:
        return Fact(tenant=self.tenant, subject=self.license_id, type=self.type,
                    effective_at=self.effective_at.astimezone(UTC),
                    recorded_at=self.recorded_at.astimezone(UTC), source=self.source,
                    source_event_id=self.source_event_id, data=self.data, sequence=self.sequence,
                    prev_hash=self.prev_hash, hash=self.hash, position=self.position)


def encode_fact(fact: Fact) -> bytes:
    """The message value for one recorded fact: compact UTF-8 JSON."""
    body = OutboundEvent.of(fact).model_dump(mode="json")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_fact(value: bytes | str) -> Fact:
    """The fact a message carries; raises pydantic's ValidationError on a foreign message."""
    return OutboundEvent.model_validate_json(value).to_fact()
