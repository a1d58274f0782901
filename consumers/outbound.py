"""Between recorded facts and the outbound wire format (`schemas/outbound.py`)."""

from __future__ import annotations

import json
import math
from datetime import UTC
from typing import Any

from ledger.domain.facts import Fact
from schemas.governance import STEP_TYPES
from schemas.outbound import MESSAGE_VERSION, ChainHead, OutboundEvent, record_key
from schemas.times import format_time

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
    """The record key and value for one recorded fact: compact UTF-8 JSON. The relay runs this
    for every fact, so a fact of plain JSON values is spelled out directly, in the model's field
    order: the same bytes as the model's dump (a property test compares them), without building
    and dumping a model per fact; anything else goes through the model."""
    if not _plain(fact):
        return _through_the_model(fact)
    licensed = fact.type not in NOT_LICENSED
    key = fact.subject if licensed else f"catalog:{fact.tenant}"
    body = {"message_version": MESSAGE_VERSION, "position": fact.position, "tenant": fact.tenant,
            "license_id": fact.subject if licensed else None, "subject": fact.subject,
            "catalog_version": fact.subject if fact.type.startswith("catalog.") else None,
            "type": fact.type, "effective_at": format_time(fact.effective_at),
            "recorded_at": format_time(fact.recorded_at), "source": fact.source,
            "source_event_id": fact.source_event_id, "data": fact.data, "sequence": fact.sequence,
            "hash": fact.hash, "prev_hash": fact.prev_hash,
            "head": {"sequence": fact.sequence, "hash": fact.hash}}
    return key.encode(), _ENCODE(body).encode()


def _through_the_model(fact: Fact) -> tuple[bytes, bytes]:
    message = message_of(fact)
    body = json.dumps(message.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return record_key(message).encode(), body.encode()


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _plain(fact: Fact) -> bool:
    """Values the model would pass through unchanged: exact str and int fields, aware times,
    and data of JSON's own types (finite floats, string keys)."""
    return (type(fact.position) is int and type(fact.sequence) is int
            and all(type(v) is str for v in (fact.tenant, fact.subject, fact.type, fact.source,
                                             fact.source_event_id, fact.hash, fact.prev_hash))
            and fact.effective_at.tzinfo is not None and fact.recorded_at.tzinfo is not None
            and type(fact.data) is dict and _json_native(fact.data))


def _json_native(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_json_native(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _json_native(v) for k, v in value.items())
    return False


def decode_fact(value: bytes | str) -> Fact:
    """The fact a message carries; raises pydantic's ValidationError on a foreign message."""
    return fact_of(OutboundEvent.model_validate_json(value))
