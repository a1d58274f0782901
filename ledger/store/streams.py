"""Stream ids and record topics. All facts of a tenant are one stream of the library, its hash
chain: version = sequence, so the library's unique (stream, version) key is also the guarantee
that no two facts ever take the same place in a chain."""

from __future__ import annotations

import json
from functools import lru_cache
from uuid import UUID, uuid5

_NAMESPACE = UUID("6f1f6a52-6a0e-4d4f-9b3a-3f2b8c1d2e40")

FACT = "fact:"  # + event type; the fact itself, with its hash


@lru_cache(maxsize=65536)
def _id(*parts: str) -> UUID:
    return uuid5(_NAMESPACE, json.dumps(parts))  # unambiguous whatever the parts contain


def chain_stream(tenant: str) -> UUID:
    return _id("chain", tenant)


@lru_cache(maxsize=64)
def fact_topic(event_type: str) -> str:
    return FACT + event_type
