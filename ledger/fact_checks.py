"""The checks of one stored record in `ledger verify`'s pass (`ledger/integrity.py`): its bytes,
content, hash link, place and seal; the first that fails is described as a `ChainBrokenError`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from json.scanner import make_scanner
from typing import Any
from uuid import UUID

from ledger.domain.chain import GENESIS, content, digest
from ledger.domain.facts import Fact, assembled
from ledger.store import streams
from ledger.store.codec import STORAGE_VERSION, chained, encode, fact_record, seal, to_fact
from schemas.events import DATA_VERSION


@dataclass
class _Chain:
    expected: int = 1
    prev_hash: str = GENESIS
    head_seen: bool = False
    stream: Any = None  # the stored stream id last found to be this chain's (checked once)


class ChainBrokenError(Exception):
    pass


_DECODER = json.JSONDecoder()
# What `decode` runs, without its two whitespace matches around the text:
_SCAN = make_scanner(_DECODER)  # type: ignore[arg-type]


def _readable(position: int, stream: Any, version: int, raw: bytes) -> dict[str, Any]:
    """The stored bytes as a JSON object. The ledger writes UTF-8 only, so they are decoded as
    such (not sniffed for UTF-16 or -32 as `json.loads` does for bytes): anything else is
    unreadable, i.e. altered. The scanner first (the ledger writes no whitespace around a
    record); whatever it does not read to the end, the decoder judges, in its own words."""
    try:
        text = raw.decode()
        try:
            record, end = _SCAN(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            record = _DECODER.decode(text)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        return record
    except ValueError as exc:
        raise ChainBrokenError(f"the record at position {position} (stream {stream}, version "
                               f"{version}) is unreadable (altered): {exc}") from None


def _describe(fact: Fact, position: int) -> str:
    return (f"tenant {fact.tenant!r}, event {fact.source_event_id!r} from {fact.source!r} "
            f"(sequence {fact.sequence}, position {position})")


# A time exactly as `format_time` writes it (UTC, 'Z', microseconds only when there are some):
# such text is what `format_time(parse_time(text))` gives back, and `datetime.fromisoformat`
# reads it to the same moment at a fraction of `parse_time`'s cost (a profile's largest item).
_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):\d\d:\d\d(?:\.(?!000000)\d{6})?Z", re.ASCII)
_BODY = ("tenant", "subject", "type", "effective_at", "recorded_at", "source", "source_event_id",
         "data", "sequence", "prev_hash")


def _read(record: dict[str, Any], position: int) -> tuple[Fact, dict[str, Any]]:
    """The fact a record holds and its `chain.content`. When both its times are in canonical
    form (as the ledger writes them), the content is the record's own values and the times are
    read by `fromisoformat`; otherwise by `to_fact` and re-formatted, as `fact_hash` does, and
    the record's bytes then differ from its one encoding (reported as altered)."""
    effective, recorded = record["effective_at"], record["recorded_at"]
    if (isinstance(effective, str) and isinstance(recorded, str)
            and _CANONICAL_TIME.fullmatch(effective) and _CANONICAL_TIME.fullmatch(recorded)):
        fact = _fact(record, datetime.fromisoformat(effective), datetime.fromisoformat(recorded),
                     position)
        return fact, {k: record[k] for k in _BODY}
    fact = to_fact(record, position, upcasting=False)
    return fact, content(fact)


def _as_written(record: dict[str, Any], raw: bytes, position: int) -> Fact | None:
    """The record's fact if its stored bytes are exactly those the ledger writes today for its
    content (`codec.chained`: the hash and the stored bytes in one pass, byte for byte those
    of `digest(content)` and `encode(fact_record)`, tests/unit/test_encoding.py), else None.
    Equal bytes hold every check at once: the content against its hash, `v`, `data_version`
    and the seal. Anything else (an older data version, another spelling, a wrong type, an
    altered byte) goes the long way, which describes what is wrong."""
    try:
        effective, recorded = record["effective_at"], record["recorded_at"]
        if not (_CANONICAL_TIME.fullmatch(effective) and _CANONICAL_TIME.fullmatch(recorded)):
            return None
        fact = _fact(record, datetime.fromisoformat(effective), datetime.fromisoformat(recorded),
                     position)
        fact_hash, stored = chained(fact, fact.sequence, fact.prev_hash, recorded, effective)
    except (KeyError, TypeError, ValueError, AttributeError):  # the long way says what is wrong
        return None
    return fact if stored == raw and fact_hash == fact.hash else None


def _fact(record: dict[str, Any], effective: datetime, recorded: datetime, position: int) -> Fact:
    """`Fact(...)` of the record's values, set at once (`facts.assembled`: a frozen dataclass's
    `__init__` sets each field through `object.__setattr__`, a tenth of a record's check)."""
    return assembled(Fact, {
        "tenant": record["tenant"], "subject": record["subject"], "type": record["type"],
        "effective_at": effective, "recorded_at": recorded, "source": record["source"],
        "source_event_id": record["source_event_id"], "data": record["data"],
        "sequence": record["sequence"], "prev_hash": record["prev_hash"], "hash": record["hash"],
        "position": position})


def _check_fact(chains: dict[str, _Chain], position: int, place: tuple[str, Any, int], raw: bytes,
                record: dict[str, Any], head: tuple[int, str] | None) -> Fact:
    topic, stream, version = place
    fact = _as_written(record, raw, position)
    if fact is not None:  # the usual case: content, hash, seal and bytes all as written
        chain = chains.get(fact.tenant) or chains.setdefault(fact.tenant, _Chain())
        if fact.sequence != chain.expected or fact.prev_hash != chain.prev_hash:
            _broken_link(fact, position, chain, fact.hash)
    else:
        fact, chain = _check_content(chains, position, stream, raw, record)
    if stream != chain.stream or chain.stream is None:  # a stream id once per chain, not per fact
        if _stream_id(stream) != streams.chain_stream(fact.tenant):
            raise ChainBrokenError(f"{_describe(fact, position)}: its stream, version or topic is "
                                   "not that of its place in the chain (moved, or altered)")
        chain.stream = stream
    if version != fact.sequence or topic != streams.fact_topic(fact.type):
        raise ChainBrokenError(f"{_describe(fact, position)}: its stream, version or topic is "
                               "not that of its place in the chain (moved, or altered)")
    if head is not None and head[0] == fact.sequence and head[1] == fact.hash:
        chain.head_seen = True
    chain.expected += 1
    chain.prev_hash = fact.hash
    return fact


def _check_content(chains: dict[str, _Chain], position: int, stream: Any, raw: bytes,
                   record: dict[str, Any]) -> tuple[Fact, _Chain]:
    """A record not exactly as written: each check in turn, the first that fails described."""
    try:
        fact, body = _read(record, position)
        computed = digest(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ChainBrokenError(f"the event at position {position} (stream {stream}) is unreadable "
                               f"(altered): missing or malformed {exc}") from None
    chain = chains.setdefault(fact.tenant, _Chain())
    if fact.sequence != chain.expected or fact.prev_hash != chain.prev_hash or computed != fact.hash:
        _broken_link(fact, position, chain, computed)
    _check_bookkeeping(fact, position, record, raw, body)
    return fact, chain


def _stream_id(stream: Any) -> UUID:
    return stream if isinstance(stream, UUID) else UUID(str(stream))


def _broken_link(fact: Fact, position: int, chain: _Chain, computed: str) -> None:
    where = _describe(fact, position)
    if fact.sequence != chain.expected:
        raise ChainBrokenError(f"{where}: expected sequence {chain.expected}; an event before it "
                               "was removed or the events were reordered")
    if fact.prev_hash != chain.prev_hash:
        raise ChainBrokenError(f"{where}: does not follow the hash of the event before it "
                               "(reordered, or the one before was altered)")
    raise ChainBrokenError(f"{where}: its content no longer matches its hash (altered)")


def _check_bookkeeping(fact: Fact, position: int, record: dict[str, Any], raw: bytes,
                       body: dict[str, Any]) -> None:
    """What the hash does not cover: the storage format, the data version (it picks the
    upcasters, so it changes answers), and any other byte of the record."""
    data_version = record.get("data_version")
    if (record.get("v") == STORAGE_VERSION and type(data_version) is int
            and 1 <= data_version <= DATA_VERSION):
        expected = fact_record(fact, data_version, body)
        if record.get("seal") == expected["seal"] and encode(expected) == raw:
            return  # the usual case: the seal computed once, nothing described
    where = _describe(fact, position)
    if record.get("v") != STORAGE_VERSION:
        raise ChainBrokenError(f"{where}: storage format {record.get('v')!r} is not "
                               f"{STORAGE_VERSION}, the one this ledger writes (altered, or "
                               "written by another version)")
    data_version = record.get("data_version")
    if not (isinstance(data_version, int) and 1 <= data_version <= DATA_VERSION) or isinstance(
            data_version, bool):
        raise ChainBrokenError(f"{where}: data_version {data_version!r} is not a known version "
                               "(altered)")
    if record.get("seal") != seal(record["v"], data_version, record["hash"]):
        raise ChainBrokenError(f"{where}: its seal no longer matches its format and data versions "
                               "(altered)")
    if encode(fact_record(fact, data_version, body)) != raw:
        raise ChainBrokenError(f"{where}: its stored bytes are not those the ledger wrote "
                               "(altered)")
