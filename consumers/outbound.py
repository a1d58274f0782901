"""Between recorded facts and the outbound wire format (`schemas/outbound.py`)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from ledger.domain.facts import Fact, assembled
from ledger.store.codec import STORAGE_VERSION, compact_text
from schemas.events import DATA_VERSION
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
    # every field at once (`assembled`): a projector builds one per message, and the frozen
    # `__init__` setting them one by one was ~4 of its ~7 us
    return assembled(Fact, {
        "tenant": message.tenant, "subject": subject or "", "type": message.type,
        "effective_at": message.effective_at.astimezone(UTC),
        "recorded_at": message.recorded_at.astimezone(UTC), "source": message.source,
        "source_event_id": message.source_event_id, "data": message.data,
        "sequence": message.sequence, "prev_hash": message.prev_hash, "hash": message.hash,
        "position": message.position})


def encode_fact(fact: Fact) -> tuple[bytes, bytes]:
    """The record key and value for one recorded fact: compact UTF-8 JSON. The relay runs this
    for every fact, so a fact of plain JSON values is spelled out directly, in the model's field
    order: the same bytes as the model's dump (a property test compares them), without building
    and dumping a model per fact; anything else goes through the model."""
    if not _plain(fact):
        return _through_the_model(fact)
    return _spelled(fact.position, fact.tenant, fact.subject, fact.type,
                    format_time(fact.effective_at), format_time(fact.recorded_at), fact.source,
                    fact.source_event_id, fact.data, fact.sequence, fact.hash, fact.prev_hash)


def encode_record(position: int, stored: bytes) -> tuple[bytes, bytes] | None:
    """`encode_fact` of the fact a stored record holds, straight from the record's JSON: the
    relay's path for every record written today (~1/5 of its CPU went into building a `Fact`
    per record, parsing its two times, only to spell them out again). None for anything else
    (another storage or data version, a time not in the one spelling the store writes, a value
    the model would change, an unreadable record): the caller then loads the fact as ever,
    which upcasts or raises exactly as before. Byte for byte `encode_fact`'s message: a
    property test compares the two over awkward values."""
    try:
        record = _DECODE(stored.decode())
    except (ValueError, AttributeError):  # not JSON, not UTF-8 (UnicodeDecodeError), not bytes
        return None
    if (type(record) is not dict or record.get("v") != STORAGE_VERSION
            or record.get("data_version") != DATA_VERSION):
        return None
    try:
        texts = (record["tenant"], record["subject"], record["type"], record["source"],
                 record["source_event_id"], record["hash"], record["prev_hash"])
        effective, recorded = record["effective_at"], record["recorded_at"]
        data, sequence = record["data"], record["sequence"]
    except KeyError:
        return None
    if (type(data) is not dict or type(sequence) is not int or type(position) is not int
            or not all(type(t) is str for t in texts)
            or not (_in_store_spelling(effective) and _in_store_spelling(recorded))):
        return None
    tenant, subject, kind, source, event_id, fact_hash, prev_hash = texts
    return _spelled(position, tenant, subject, kind, effective, recorded, source, event_id,
                    data, sequence, fact_hash, prev_hash)


def _spelled(position: Any, tenant: str, subject: str, kind: str, effective: str, recorded: str,
             source: str, event_id: str, data: dict[str, Any], sequence: int, fact_hash: str,
             prev_hash: str) -> tuple[bytes, bytes]:
    """The message of plain values, the times already spelled, in the model's field order."""
    licensed = kind not in NOT_LICENSED
    key = subject if licensed else f"catalog:{tenant}"
    body = {"message_version": MESSAGE_VERSION, "position": position, "tenant": tenant,
            "license_id": subject if licensed else None, "subject": subject,
            "catalog_version": subject if kind.startswith("catalog.") else None,
            "type": kind, "effective_at": effective, "recorded_at": recorded, "source": source,
            "source_event_id": event_id, "data": data, "sequence": sequence,
            "hash": fact_hash, "prev_hash": prev_hash,
            "head": {"sequence": sequence, "hash": fact_hash}}
    return key.encode(), _ENCODE(body).encode()


def _in_store_spelling(text: Any) -> bool:
    """Whether `text` is a time exactly as `format_time` spells it (and so as the store writes
    it, and as `encode_fact` would spell the time parsed from it): a valid UTC moment that
    reads back to the same text. Anything else takes the fact's path (and its errors). Texts
    found so are remembered (a page's records share their recorded time, and often days)."""
    if type(text) is not str:
        return False
    if text in _SPELLED_SO:
        return True
    if text[-1:] != "Z" or len(text) not in (20, 27):
        return False
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    if moment.tzinfo is not UTC or moment.isoformat()[:-6] + "Z" != text:
        return False
    if len(_SPELLED_SO) >= _REMEMBERED:
        _SPELLED_SO.clear()
    _SPELLED_SO.add(text)
    return True


_SPELLED_SO: set[str] = set()
_REMEMBERED = 4096


def _refused(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value the model passes through")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite float")
    return value


# Built once (`json.loads` with options builds a decoder per call): NaN, infinities and floats
# too large to be finite are refused, for the fact's path to judge as it always has.
_DECODE = json.JSONDecoder(parse_constant=_refused, parse_float=_finite).decode


def _through_the_model(fact: Fact) -> tuple[bytes, bytes]:
    message = message_of(fact)
    body = json.dumps(message.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return record_key(message).encode(), body.encode()


_ENCODE = compact_text  # `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`, built once


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
