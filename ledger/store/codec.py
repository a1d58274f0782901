"""Storage format of our records (distinct from the wire formats in `schemas/`).

A stored fact is the JSON object of `fact_record`, compact, keys in this order. The contract's
hash covers what a fact says; the record's own bookkeeping (`v`, the storage format, and
`data_version`, which picks the upcasters) is covered by `seal`, so that `ledger verify` finds
an altered byte there too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.domain.chain import content
from ledger.domain.facts import Fact
from schemas.events import DATA_VERSION
from schemas.times import parse_time
from schemas.upcast import upcast

STORAGE_VERSION = 2
# Built once (`json.dumps` builds one per call); the bytes are exactly json.dumps's with these
# options, which `ledger verify` re-encodes and compares.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(obj: dict[str, Any]) -> bytes:
    return _COMPACT.encode(obj).encode()


def decode(stored: StoredEvent) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stored.state)
    return result


def seal(version: Any, data_version: Any, fact_hash: Any) -> str:
    """Binds the format and data versions to the fact's hash (the chain covers the hash)."""
    return hashlib.sha256(f"{version}:{data_version}:{fact_hash}".encode()).hexdigest()[:32]


def fact_record(fact: Fact, data_version: int = DATA_VERSION,
                body: dict[str, Any] | None = None) -> dict[str, Any]:
    """`body`, the fact's `chain.content` if the caller has it already, saves formatting it again."""
    body = body or content(fact)
    return {
        "v": STORAGE_VERSION,
        "tenant": body["tenant"], "subject": body["subject"], "type": body["type"],
        "effective_at": body["effective_at"], "recorded_at": body["recorded_at"],
        "source": body["source"], "source_event_id": body["source_event_id"],
        "data": body["data"], "data_version": data_version,
        "sequence": body["sequence"], "prev_hash": body["prev_hash"], "hash": fact.hash,
        "seal": seal(STORAGE_VERSION, data_version, fact.hash),
    }


def to_fact(record: dict[str, Any], position: int | None = None, *, upcasting: bool = True) -> Fact:
    """`upcasting=False` gives the data exactly as stored, which is what the chain hashed."""
    data = record["data"]
    if upcasting:
        data = upcast(record["type"], record.get("data_version", DATA_VERSION), dict(data))
    return Fact(
        tenant=record["tenant"], subject=record["subject"], type=record["type"],
        effective_at=parse_time(record["effective_at"]), recorded_at=parse_time(record["recorded_at"]),
        source=record["source"], source_event_id=record["source_event_id"], data=data,
        sequence=record["sequence"], prev_hash=record["prev_hash"], hash=record["hash"],
        position=position,
    )
