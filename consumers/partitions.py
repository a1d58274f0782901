"""Consumer-group plumbing shared by `ledger consume` and `ledger project`.

Each worker keeps, in its own database, the next Kafka offset to read per partition (its
tracking record), written only when a batch is durable there. The group's committed offsets
are a hint; the tracking record is the truth:

1. on assignment, every partition is sought to its tracked offset, if there is one, so a crash
   after the worker's commit but before the Kafka commit re-reads nothing;
2. each poll hands the worker one batch per partition; the worker makes it durable and records
   the tracking record (how, and in which order, is in each worker's docstring);
3. only then is the Kafka offset committed, once per poll for all its partitions (a round trip
   per poll, not per batch). A crash before this step re-reads from the tracked offset at the
   latest, so nothing is skipped. A partition fenced in the poll is left out of its commit
   (with its earlier batches' offsets: the group's hint never moves back), and a commit
   refused in a rebalance is sent again after the next poll for the partitions still owned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

log = structlog.get_logger()


class FencedError(Exception):
    """Another member already recorded a later offset of this partition: we lost it in a
    rebalance (or re-read old records). Nothing of ours was recorded; re-seek and go on."""


class PartitionWorker(Protocol):
    def tracked(self, key: str) -> int | None:
        """The next offset to read for `key` ("topic:partition"), as durably recorded."""

    def take(self, key: str, records: Sequence[Any]) -> None:
        """Make one partition's batch durable, with the tracking record; raise FencedError if
        the tracking record could not advance."""


def partition_key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class SeekToTracked(ConsumerRebalanceListener):
    """On assignment, start each partition where the worker's own store says it stopped."""

    def __init__(self, consumer: Any, worker: PartitionWorker, floors: dict[TopicPartition, int],
                 uncommitted: dict[TopicPartition, OffsetAndMetadata] | None = None,
                 moved: set[TopicPartition] | None = None):
        self.consumer = consumer
        self.worker = worker
        self.floors = floors
        self.uncommitted = {} if uncommitted is None else uncommitted
        # the partitions a rebalance moved (assigned, revoked or lost), for `Growth.gather`,
        # which empties it when it starts
        self.moved = set() if moved is None else moved

    def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self.moved.add(tp)
            self.floors.pop(tp, None)
            # its next owner commits from its tracking record; ours could move that hint back
            self.uncommitted.pop(tp, None)

    def on_partitions_assigned(self, assigned: Any) -> None:
        for tp in assigned:
            self.moved.add(tp)
            offset = self.worker.tracked(partition_key(tp))
            if offset is not None:
                self.consumer.seek(tp, offset)
                self.floors[tp] = offset
        log.info("partitions.assigned", partitions=sorted(partition_key(tp) for tp in assigned),
                 tracked={partition_key(tp): o for tp, o in self.floors.items()})


@dataclass(frozen=True)
class Growth:
    """Batches that grow with load: after a poll brings records, keep taking what the client has
    already fetched (polls that do not wait) until each partition's batch holds `size` records,
    a poll brings nothing, or `wait` seconds passed. A light load is taken at once (the next
    poll is empty), a backlog in batches of `size` per partition, not `size` across them all."""

    size: int
    wait: float = 0.2

    def gather(self, consumer: Any, polled: dict[Any, list[Any]], moved: set[Any]
               ) -> dict[Any, list[Any]]:
        """The batches to take: `polled` grown by the polls that do not wait. Any of those
        polls may take part in a rebalance (`moved`, kept by `SeekToTracked`, says so); growing
        stops there. A partition the client no longer holds (the member was evicted: its
        partitions are lost at once) is left out: the client forgot its position, so whoever
        gets it next starts from the tracking record or the group's committed offset and
        reads the records again. A partition revoked but still held (the client's default,
        eager, rebalance lists every partition until the group has re-formed) is taken: if
        the client keeps it, it keeps its position too, past these records, and leaving them
        out would skip them unless a tracking record sends it back; if another member gets
        it, the tracking record refuses whichever of the two commits it second (`consume`:
        the receipts make that one's events duplicates; `project` rolls back)."""
        moved.clear()
        batches = {tp: list(records) for tp, records in polled.items()}
        started = time.monotonic()
        while (min(len(r) for r in batches.values()) < self.size
               and time.monotonic() - started < self.wait and not moved):
            more = consumer.poll(timeout_ms=0)
            if not more:
                break
            for tp, records in more.items():
                held = batches.setdefault(tp, [])
                # a seek back (a rebalance gave the partition back) re-fetches what is held
                held += [r for r in records if not held or r.offset > held[-1].offset]
        if not moved:
            return batches
        ours = consumer.assignment()
        lost = sorted(partition_key(tp) for tp in batches if tp not in ours)
        if lost:
            log.info("partitions.lost_while_gathering", partitions=lost)
        return {tp: records for tp, records in batches.items() if tp in ours}


def take_all(worker: PartitionWorker, batches: Mapping[str, Sequence[Any]]) -> dict[str, str]:
    """Hand the batches to `worker`: in one call if it has `take_all` (`ledger consume`: one
    transaction for them all), else one `take` per partition. {key: why} of the fenced ones."""
    together = getattr(worker, "take_all", None)
    if together is not None:
        return dict.fromkeys(together(batches), "tracked beyond this batch by another member")
    return take_each(worker.take, batches)


def take_each(take: Callable[[str, Sequence[Any]], None], batches: Mapping[str, Sequence[Any]]
              ) -> dict[str, str]:
    """One `take` per partition, a fenced one never stopping the others: {key: why} of those."""
    fenced: dict[str, str] = {}
    for key, records in batches.items():
        try:
            take(key, records)
        except FencedError as exc:
            fenced[key] = str(exc)
    return fenced


def _chunks(records: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [records[i:i + size] for i in range(0, len(records), max(size, 1))]


@dataclass
class PartitionLoop:
    """Poll, hand each partition's batch to the worker, commit the offset after it is durable."""

    consumer: Any
    topic: str
    worker: PartitionWorker
    stop: threading.Event = field(default_factory=threading.Event)
    max_idle: float | None = None
    poll_ms: int = 500
    floors: dict[TopicPartition, int] = field(default_factory=dict)
    # Offsets whose commit failed (a rebalance under way): sent again after the next poll for
    # the partitions still ours, so one revoked partition never costs the others their commit.
    uncommitted: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)
    moved: set[TopicPartition] = field(default_factory=set)  # see SeekToTracked

    growth: Growth | None = None

    def run(self) -> None:
        """Until `stop` is set, or nothing arrived for `max_idle` seconds."""
        self.consumer.subscribe([self.topic], listener=SeekToTracked(
            self.consumer, self.worker, self.floors, self.uncommitted, self.moved))
        last_seen = time.monotonic()
        while not self.stop.is_set():
            polled = self.consumer.poll(timeout_ms=self.poll_ms)
            if not polled:
                self._commit({})  # what a rebalance refused, now that the poll rejoined
                if self.max_idle is not None and time.monotonic() - last_seen >= self.max_idle:
                    log.info("partitions.idle", seconds=self.max_idle)
                    return
                continue
            last_seen = time.monotonic()
            if self.growth is not None:
                polled = self.growth.gather(self.consumer, polled, self.moved)
                if not polled:  # every partition of the poll was lost while gathering
                    self._commit({})
                    continue
            done: dict[TopicPartition, OffsetAndMetadata] = {}
            size = self.growth.size if self.growth else max(len(r) for r in polled.values())
            chunked = {tp: _chunks(records, size) for tp, records in polled.items()}
            fenced: set[TopicPartition] = set()
            for n in range(max(len(c) for c in chunked.values())):
                # A partition fenced in this poll is another member's: neither its later chunks
                # nor the offset of its earlier ones (that would move the group's hint back).
                taken = self._take({tp: c[n] for tp, c in chunked.items()
                                    if n < len(c) and tp not in fenced})
                fenced |= {tp for tp in chunked if n < len(chunked[tp]) and tp not in taken}
                done.update(taken)
            self._commit({tp: o for tp, o in done.items() if tp not in fenced})

    def _take(self, batches: dict[TopicPartition, Sequence[Any]]
              ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Hand the batches to the worker (all at once if it takes several partitions' batches
        together); the offsets to commit, which leave out the fenced partitions."""
        # Records below the tracked offset are already durable (a seek raced with a fetch).
        fresh = {partition_key(tp): kept for tp, records in batches.items()
                 if (kept := [r for r in records if r.offset >= self.floors.get(tp, 0)])}
        fenced = take_all(self.worker, fresh) if fresh else {}
        done = {}
        for tp, records in batches.items():
            if partition_key(tp) in fenced:
                self._resync(tp, fenced[partition_key(tp)])
                continue
            self.floors[tp] = records[-1].offset + 1
            done[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        return done

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """One offset commit for every partition of the poll, after all their batches are
        durable and tracked (a round trip per poll, not per batch: the offsets are a hint)."""
        if self.uncommitted:
            ours = self.consumer.assignment()
            offsets = {**{tp: o for tp, o in self.uncommitted.items() if tp in ours}, **offsets}
            self.uncommitted.clear()
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
        except (CommitFailedError, RebalanceInProgressError, IllegalStateError) as exc:
            # The batches are durable and tracked; a revoked partition's next owner starts from
            # its tracking record, and the partitions we keep are committed after the next poll.
            self.uncommitted.update(offsets)
            log.warning("partitions.commit_failed", reason=str(exc),
                        offsets={partition_key(tp): o.offset for tp, o in offsets.items()})

    def _resync(self, tp: TopicPartition, reason: str) -> None:
        offset = self.worker.tracked(partition_key(tp))
        log.warning("partitions.fenced", partition=partition_key(tp), tracked=offset, reason=reason)
        self.uncommitted.pop(tp, None)
        if offset is not None and tp in self.consumer.assignment():
            self.consumer.seek(tp, offset)
            self.floors[tp] = offset
