"""`ledger project`: Kafka `entitlements.events` -> the read models, as a consumer-group member.

Delivery guarantee, in the order things become durable for one partition's batch (the
batches of several partitions, gathered over one or more polls, go through step 1 together,
in one transaction):

1. **The read-model update and its tracking record, together.** The batch's facts are applied
   with `"topic:partition" -> last offset + 1` in one read-model transaction; facts already
   applied (same ledger `position`, redelivered by the relay or re-read) change nothing.
2. **The Kafka offset commit** (a hint; on assignment we seek to the tracking record).

A crash before step 1 commits re-reads the batch; a crash between 1 and 2 re-reads nothing,
because the partition is sought to its tracking record. A record delivered twice anyway (the
relay's at-least-once publication, a zombie member) is skipped by position. So every fact
changes the read models exactly once, whichever member applies it and however often it comes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import structlog

from consumers.outbound import decode_fact
from ledger.domain.facts import Fact

log = structlog.get_logger()


class ReadModelStore(Protocol):
    """What the projection worker needs of the read models (`projections.ReadModels`)."""

    def apply(self, facts: Sequence[Fact], *, tracking: tuple[str, int] | None = None,
              trackings: Sequence[tuple[str, int]] = ()) -> int: ...

    def tracked(self, key: str) -> int | None: ...


class UnreadableMessageError(Exception):
    """A record on the outbound topic that is not an outbound event: only the relay writes
    there, so this is a deployment mistake, and skipping it could leave the models wrong."""


class Projector:
    def __init__(self, models: ReadModelStore):
        self.models = models
        self.applied = 0
        self.received = 0

    def tracked(self, key: str) -> int | None:
        return self.models.tracked(key)

    def take(self, key: str, records: Sequence[Any]) -> None:
        facts = [_fact(key, r) for r in records]
        applied = self.models.apply(facts, tracking=(key, records[-1].offset + 1))
        self.received += len(facts)
        self.applied += applied
        log.info("project.batch", partition=key, first_offset=records[0].offset,
                 last_offset=records[-1].offset, received=len(facts), applied=applied,
                 last_position=facts[-1].position)

    def take_all(self, batches: Mapping[str, Sequence[Any]]) -> set[str]:
        """The batches of several partitions in one read-model transaction with all their
        tracking records (step 1 above for them together: one commit, not one a partition).
        Never fenced: a tracking record only moves forward and applied positions are skipped."""
        facts = [_fact(key, r) for key, records in batches.items() for r in records]
        applied = self.models.apply(facts, trackings=[(key, records[-1].offset + 1)
                                                      for key, records in batches.items()])
        self.received += len(facts)
        self.applied += applied
        log.info("project.batch", partitions={k: [b[0].offset, b[-1].offset] for k, b in batches.items()},
                 received=len(facts), applied=applied, last_position=max(f.position or 0 for f in facts))
        return set()


def _fact(key: str, record: Any) -> Fact:
    try:
        return decode_fact(record.value)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise UnreadableMessageError(
            f"{key} offset {record.offset} is not an outbound ledger event: {exc}") from None
