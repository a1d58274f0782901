"""Storage format of our records (distinct from the wire formats in `schemas/`).

A stored fact is the JSON object of `fact_record`, compact, keys in this order. The contract's
hash covers what a fact says; the record's own bookkeeping (`v`, the storage format, and
`data_version`, which picks the upcasters) is covered by `seal`, so that `ledger verify` finds
an altered byte there too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.domain.chain import canonical, content
from ledger.domain.facts import Fact
from schemas.events import DATA_VERSION
from schemas.times import parse_time
from schemas.upcast import upcast

STORAGE_VERSION = 2
# Built once (`json.dumps` builds one per call); the bytes are exactly json.dumps's with these
# options, which `ledger verify` re-encodes and compares.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _one_encoder() -> Callable[[Any], str]:
    """`_COMPACT.encode` of a record's `data`, without building the C encoder again for every
    call (`JSONEncoder.iterencode` does: most of the cost of encoding a small object). No
    circular check: what it encodes was parsed from JSON, so it is a tree."""
    if c_make_encoder is None:  # a Python without the C accelerator: the encoder as it is
        return _COMPACT.encode
    built = c_make_encoder(None, _COMPACT.default, encode_basestring, None, ":", ",", False,
                           False, True)
    return lambda obj: "".join(built(obj, 0))


_data_text = _one_encoder()
# Any JSON tree spelled compactly, keys in their order: also the relay's messages.
compact_text = _data_text


def encode(obj: dict[str, Any]) -> bytes:
    return _COMPACT.encode(obj).encode()


def decode(stored: StoredEvent) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stored.state)
    return result


def seal(version: Any, data_version: Any, fact_hash: Any) -> str:
    """Binds the format and data versions to the fact's hash (the chain covers the hash)."""
    return hashlib.sha256(f"{version}:{data_version}:{fact_hash}".encode()).hexdigest()[:32]


_SEALING = hashlib.sha256(f"{STORAGE_VERSION}:{DATA_VERSION}:".encode())


def _current_seal(fact_hash: str) -> str:
    """`seal(STORAGE_VERSION, DATA_VERSION, fact_hash)` of a hex hash, from a hasher already
    fed the two versions' prefix (every record written today and checked by verify has it)."""
    sealing = _SEALING.copy()
    sealing.update(fact_hash.encode())
    return sealing.hexdigest()[:32]


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


def chained(draft: Fact, sequence: int, prev_hash: str, recorded_at: str,
            effective_at: str) -> tuple[str, bytes]:
    """A draft's hash at its place in the chain and its stored bytes, in one step: byte for byte
    `digest(linked_content(...))` and `encode(fact_record(...))` (tests/unit/test_encoding.py
    compares them over awkward values), without building either dict or running the encoder
    over them twice. A lone surrogate still raises UnicodeEncodeError."""
    return spelled(draft, sequence, encode_basestring(prev_hash), encode_basestring(draft.tenant),
                   encode_basestring(recorded_at), encode_basestring(effective_at))


def spelled(draft: Fact, sequence: int, prev: str, tenant: str, recorded: str,
            effective: str) -> tuple[str, bytes]:
    """`chained` with four of its strings already spelled as JSON strings (`quoted`): a batch
    spells its tenant's chain head, tenant and recorded time once, not per fact. Each string
    is encoded once, by the very function the JSON encoders use for strings
    (`encode_basestring`, ensure_ascii off), and the integers are `int.__repr__`, as they write
    them; the objects are spelled out below in the encoders' key orders (sorted for the hash,
    `fact_record`'s for storage). `data` goes through the encoders themselves: once when its
    keys are sorted and it holds no object or array (the two spellings are then the same
    text), else once each."""
    data = draft.data
    stored_data = _data_text(data)
    hashed_data = stored_data if _flat_and_sorted(data) else canonical(data).decode()
    subject, kind = encode_basestring(draft.subject), encode_basestring(draft.type)
    source, event_id = encode_basestring(draft.source), encode_basestring(draft.source_event_id)
    number = int.__repr__(sequence)
    fact_hash = hashlib.sha256(
        f'{{"data":{hashed_data},"effective_at":{effective},"prev_hash":{prev},'
        f'"recorded_at":{recorded},"sequence":{number},"source":{source},'
        f'"source_event_id":{event_id},"subject":{subject},"tenant":{tenant},"type":{kind}}}'
        .encode()).hexdigest()
    sealing = _SEALING.copy()  # `_current_seal`, inline: it runs for every fact
    sealing.update(fact_hash.encode())
    stored = (f'{{"v":{STORAGE_VERSION},"tenant":{tenant},"subject":{subject},"type":{kind},'
              f'"effective_at":{effective},"recorded_at":{recorded},"source":{source},'
              f'"source_event_id":{event_id},"data":{stored_data},"data_version":{_DATA_VERSION},'
              f'"sequence":{number},"prev_hash":{prev},"hash":"{fact_hash}",'
              f'"seal":"{sealing.hexdigest()[:32]}"}}')
    return fact_hash, stored.encode()


quoted = encode_basestring  # a string as JSON spells it (ensure_ascii off): what `spelled` takes


_DATA_VERSION = int.__repr__(DATA_VERSION)


def _flat_and_sorted(data: dict[str, Any]) -> bool:
    """Whether sorting the keys leaves `data`'s JSON text as it is: keys already in order and
    no nested object whose keys could be out of order. Whether a set of keys is in order is
    remembered (an event type's data has a few key sets; at most `_KEY_SETS` are kept)."""
    keys = tuple(data)
    in_order = _IN_ORDER.get(keys)
    if in_order is None:
        try:
            in_order = list(keys) == sorted(keys)
        except TypeError:  # keys of mixed types: let the encoders decide
            in_order = False
        if len(_IN_ORDER) < _KEY_SETS:
            _IN_ORDER[keys] = in_order
    # no value an object or array: each value's exact type a scalar one (a subclass of str or
    # int, which the encoders may spell otherwise, takes the long way, which is always right)
    return in_order and _SCALARS.issuperset(map(type, data.values()))


_IN_ORDER: dict[tuple[Any, ...], bool] = {}
_KEY_SETS = 4096
_SCALARS = frozenset((str, int, float, bool, type(None)))


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
