"""Between recorded facts and the outbound wire format (`schemas/outbound.py`)."""

from __future__ import annotations

import json
from datetime import UTC

from ledger.domain.facts import Fact
from schemas.outbound import ChainHead, OutboundEvent


def message_of(fact: Fact) -> OutboundEvent:
    if fact.position is None:
        raise ValueError("only recorded facts (with a ledger position) are published")
    return OutboundEvent(position=fact.position, tenant=fact.tenant, license_id=fact.subject,
                         type=fact.type, effective_at=fact.effective_at, recorded_at=fact.recorded_at,
                         source=fact.source, source_event_id=fact.source_event_id, data=fact.data,
                         sequence=fact.sequence, hash=fact.hash, prev_hash=fact.prev_hash,
                         head=ChainHead(sequence=fact.sequence, hash=fact.hash))


def fact_of(message: OutboundEvent) -> Fact:
    return Fact(tenant=message.tenant, subject=message.license_id, type=message.type,
                effective_at=message.effective_at.astimezone(UTC),
                recorded_at=message.recorded_at.astimezone(UTC), source=message.source,
                source_event_id=message.source_event_id, data=message.data,
                sequence=message.sequence, prev_hash=message.prev_hash, hash=message.hash,
                position=message.position)


def encode_fact(fact: Fact) -> bytes:
    """The message value for one recorded fact: compact UTF-8 JSON."""
    body = message_of(fact).model_dump(mode="json")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_fact(value: bytes | str) -> Fact:
    """The fact a message carries; raises pydantic's ValidationError on a foreign message."""
    return fact_of(OutboundEvent.model_validate_json(value))
