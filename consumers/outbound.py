"""Between recorded facts and the outbound wire format (`schemas/outbound.py`)."""

from __future__ import annotations

import json
from datetime import UTC

from ledger.domain.facts import Fact
from schemas.governance import STEP_TYPES
from schemas.outbound import ChainHead, OutboundEvent, record_key

NOT_LICENSED = frozenset(("catalog.published", *STEP_TYPES))


def message_of(fact: Fact) -> OutboundEvent:
    if fact.position is None:
        raise ValueError("only recorded facts (with a ledger position) are published")
    # Release steps and policy belong to no license: a catalog step names its version, a
    # policy change its tenant (in `subject`, which every message carries).
    licensed = fact.type not in NOT_LICENSED
    catalog = fact.type.startswith("catalog.")
    return OutboundEvent(position=fact.position, tenant=fact.tenant, subject=fact.subject,
                         license_id=fact.subject if licensed else None,
                         catalog_version=fact.subject if catalog else None, type=fact.type,
                         effective_at=fact.effective_at, recorded_at=fact.recorded_at,
                         source=fact.source, source_event_id=fact.source_event_id, data=fact.data,
                         sequence=fact.sequence, hash=fact.hash, prev_hash=fact.prev_hash,
                         head=ChainHead(sequence=fact.sequence, hash=fact.hash))


def fact_of(message: OutboundEvent) -> Fact:
    subject = message.subject or (
        message.catalog_version if message.license_id is None else message.license_id)
    return Fact(tenant=message.tenant, subject=subject or "", type=message.type,
                effective_at=message.effective_at.astimezone(UTC),
                recorded_at=message.recorded_at.astimezone(UTC), source=message.source,
                source_event_id=message.source_event_id, data=message.data,
                sequence=message.sequence, prev_hash=message.prev_hash, hash=message.hash,
                position=message.position)


def encode_fact(fact: Fact) -> tuple[bytes, bytes]:
    """The record key and value for one recorded fact: compact UTF-8 JSON."""
    message = message_of(fact)
    body = json.dumps(message.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return record_key(message).encode(), body.encode()


def decode_fact(value: bytes | str) -> Fact:
    """The fact a message carries; raises pydantic's ValidationError on a foreign message."""
    return fact_of(OutboundEvent.model_validate_json(value))
