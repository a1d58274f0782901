"""A batch chained at once (`chaining.chained_batch`: each tenant's head, name and recorded time
spelled once, each effective time formatted once per batch, the facts and records filled at
once) gives exactly the facts, hashes and stored bytes of chaining its drafts one by one the
plain way: `codec.chained` of each, `Fact(...)` and the library's `StoredEvent(...)`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.chain import GENESIS
from ledger.domain.facts import Fact
from ledger.store import streams
from ledger.store.chaining import chained_batch
from ledger.store.codec import chained
from ledger.store.eventstore import Head
from schemas.times import format_time

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _one_by_one(drafts: list[Fact], heads: dict[str, Head]) -> tuple[list[Fact], list[StoredEvent]]:
    chain: dict[str, tuple[int, str, datetime]] = {}
    facts, stored = [], []
    for draft in drafts:
        if draft.tenant not in chain:
            head = heads.get(draft.tenant)
            chain[draft.tenant] = ((0, GENESIS, NOW) if head is None else
                                   (head.sequence, head.hash, max(NOW, head.recorded_at)))
        sequence, prev, at = chain[draft.tenant]
        linked, record = chained(draft, sequence + 1, prev, format_time(at),
                                 format_time(draft.effective_at))
        chain[draft.tenant] = (sequence + 1, linked, at)
        facts.append(Fact(**{**draft.__dict__, "sequence": sequence + 1, "prev_hash": prev,
                             "recorded_at": at, "hash": linked, "position": None}))
        stored.append(StoredEvent(streams.chain_stream(draft.tenant), sequence + 1,
                                  streams.fact_topic(draft.type), record))
    return facts, stored


_TEXT = st.text(max_size=6)
# a few instants, each in UTC or another zone: equal instants from different zones are one
# effective time, whose text is the same
_INSTANTS = st.sampled_from([datetime(2026, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3)]
                            + [datetime(2026, 1, 2, 0, 0, 0, 5, tzinfo=UTC)])
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=7))])
_DATA = st.dictionaries(_TEXT, st.none() | st.booleans() | st.integers() | _TEXT
                        | st.lists(st.integers(), max_size=2), max_size=3)


@st.composite
def _drafts(draw: Any) -> Fact:
    moment = draw(_INSTANTS).astimezone(draw(_ZONES))
    return Fact(tenant=draw(st.sampled_from(["acme", "t \"ü\"", "b\\2"])), subject=draw(_TEXT),
                type=draw(st.sampled_from(["usage.recorded", "license.granted", "seat.assigned"])),
                effective_at=moment, recorded_at=NOW, source=draw(_TEXT),
                source_event_id=draw(_TEXT), data=draw(_DATA))


@settings(max_examples=200, deadline=None)
@given(drafts=st.lists(_drafts(), min_size=1, max_size=12),
       head=st.none() | st.tuples(st.integers(min_value=1, max_value=2**40),
                                  st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
                                  st.sampled_from([NOW - timedelta(days=1), NOW + timedelta(hours=1)])))
def test_a_batch_chained_at_once_is_its_drafts_chained_one_by_one(
        drafts: list[Fact], head: tuple[int, str, datetime] | None) -> None:
    heads = {} if head is None else {"acme": Head(*head)}
    facts, stored = chained_batch(drafts, {d.tenant: heads.get(d.tenant) for d in drafts}, NOW)
    expected_facts, expected_stored = _one_by_one(drafts, heads)
    assert facts == expected_facts
    assert [f.__dict__ for f in facts] == [f.__dict__ for f in expected_facts]
    assert all(type(f) is Fact for f in facts) and all(type(s) is StoredEvent for s in stored)
    assert stored == expected_stored
