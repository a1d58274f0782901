"""The tenant hash chain: each fact's hash covers its content and the previous fact's hash, so an
altered, removed or reordered fact breaks every link after it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ledger.domain.facts import Fact
from schemas.times import format_time

GENESIS = "0" * 64


def canonical(obj: Any) -> bytes:
    """Keys sorted, no insignificant white space, UTF-8: the same bytes in any language."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content(fact: Fact) -> dict[str, Any]:
    """Everything a fact says, except its own hash."""
    return {
        "tenant": fact.tenant,
        "subject": fact.subject,
        "type": fact.type,
        "effective_at": format_time(fact.effective_at),
        "recorded_at": format_time(fact.recorded_at),
        "source": fact.source,
        "source_event_id": fact.source_event_id,
        "data": fact.data,
        "sequence": fact.sequence,
        "prev_hash": fact.prev_hash,
    }


def digest(body: dict[str, Any]) -> str:
    """The hash of a fact's `content`."""
    return hashlib.sha256(canonical(body)).hexdigest()


def fact_hash(fact: Fact) -> str:
    return digest(content(fact))
