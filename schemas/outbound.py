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
    """The newest event of the tenant's chain when this message was published."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    sequence: int
    """Its place in the tenant's chain (1, 2, ...)."""
    hash: str
    """Its hash (lower-case hex SHA-256)."""


class OutboundEvent(BaseModel):
    """Version 1 of the message. `position` is the ledger position consumers deduplicate by.
    A `catalog.published` event belongs to no license: its `license_id` is null and
    `catalog_version` names the version (its record key is `catalog:<tenant>`); so do the
    release steps (`catalog.drafted`, ...), and a `tenant.configured` names only `subject`
    (the tenant). `subject` is the fact's subject, whatever its type."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    message_version: int = MESSAGE_VERSION
    """The message format's version (1)."""
    position: int
    """The ledger position: consumers deduplicate by it; increasing per tenant's chain order."""
    tenant: str
    """The tenant of the event."""
    license_id: str | None
    """The license (the envelope's subject); null for catalog.published and the other facts
    that name no license (release steps, tenant.configured)."""
    subject: str | None = None
    """The fact's subject, whatever its type: the license id, or the catalog version for
    catalog.published and the release steps, or the tenant for tenant.configured."""
    catalog_version: str | None = None
    """For catalog.published: the version published."""
    type: str
    """The event type, as sent."""
    effective_at: AwareDatetime
    """When it takes effect in the business (the envelope's time), RFC 3339 UTC."""
    recorded_at: AwareDatetime
    """When the ledger recorded it, RFC 3339 UTC."""
    source: str
    """The sender (the envelope's source)."""
    source_event_id: str
    """The sender's event id (the envelope's id)."""
    data: dict[str, Any]
    """The event's data exactly as accepted (defaults filled in, no nulls)."""
    sequence: int
    """The event's place in the tenant's hash chain."""
    hash: str
    """The event's hash in the tenant's chain (lower-case hex SHA-256)."""
    prev_hash: str
    """The hash of the tenant's previous event (64 zeros for the first)."""
    head: ChainHead
    """The tenant chain's head when published."""

    @field_serializer("effective_at", "recorded_at")
    def _rfc3339(self, moment: datetime) -> str:
        return format_time(moment)


def record_key(message: OutboundEvent) -> str:
    """Kafka key: the license id, so one license's events keep their order in one partition."""
    return message.license_id if message.license_id is not None else f"catalog:{message.tenant}"
