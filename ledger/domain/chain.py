"""The tenant hash chain: each fact's hash covers its content and the previous fact's hash, so an
altered, removed or reordered fact breaks every link after it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ledger.domain.facts import Fact
from schemas.times import format_time

GENESIS = "0" * 64
# Built once: `json.dumps` with these options builds the same encoder for every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(obj: Any) -> bytes:
    """Keys sorted, no insignificant white space, UTF-8: the same bytes in any language
    (exactly `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`)."""
    return _CANONICAL.encode(obj).encode()


def content(fact: Fact) -> dict[str, Any]:
    """Everything a fact says, except its own hash."""
    return linked_content(fact, fact.sequence, fact.prev_hash, format_time(fact.recorded_at))


def linked_content(draft: Fact, sequence: int, prev_hash: str, recorded_at: str) -> dict[str, Any]:
    """The `content` the draft will have once it takes its place in the chain, with the recorded
    time already formatted: a batch shares one recorded time, formatted once, not per fact."""
    return {
        "tenant": draft.tenant,
        "subject": draft.subject,
        "type": draft.type,
        "effective_at": format_time(draft.effective_at),
        "recorded_at": recorded_at,
        "source": draft.source,
        "source_event_id": draft.source_event_id,
        "data": draft.data,
        "sequence": sequence,
        "prev_hash": prev_hash,
    }


def digest(body: dict[str, Any]) -> str:
    """The hash of a fact's `content`."""
    return hashlib.sha256(canonical(body)).hexdigest()


def fact_hash(fact: Fact) -> str:
    return digest(content(fact))
