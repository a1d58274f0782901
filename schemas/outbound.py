"""The outbound message on `entitlements.events` (contract section 5): one accepted ledger fact.

A wire format, not the storage format: it may gain fields (consumers ignore what they do not
know) but never repurposes or drops one. `head` is the tenant chain's head as of this fact, so a
consumer can later ask `ledger verify --head` whether what it saw is still in the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer

from schemas.times import format_time

MESSAGE_VERSION = 1


class ChainHead(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: int
    hash: str


class OutboundEvent(BaseModel):
    """Version 1 of the message. `position` is the ledger position consumers deduplicate by.
    A `catalog.published` event belongs to no license: its `license_id` is null and
    `catalog_version` names the version (its record key is `catalog:<tenant>`); so do the
    release steps (`catalog.drafted`, ...), and a `tenant.configured` names only `subject`
    (the tenant). `subject` is the fact's subject, whatever its type."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_version: int = MESSAGE_VERSION
    position: int
    tenant: str
    license_id: str | None
    subject: str | None = None
    catalog_version: str | None = None
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


def record_key(message: OutboundEvent) -> str:
    """Kafka key: the license id, so one license's events keep their order in one partition."""
    return message.license_id if message.license_id is not None else f"catalog:{message.tenant}"
