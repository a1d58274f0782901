"""`ledger relay`: the ledger's log -> Kafka `entitlements.events`, resuming where it stopped.

No dual writes: the ledger is the outbox. Its log of accepted facts is ordered by position and
only ever grows (PostgreSQL appends serialise on a table lock, so a higher position is never
visible before a lower one), and the relay follows it. Delivery guarantee, in the order things
become durable for one page of facts:

1. **The facts**, already committed by whoever ingested them.
2. **The messages.** Each fact after the relay's position is sent, key = license id, to the
   outbound topic by an idempotent producer (acks=all, at most 5 in flight), so retries neither
   duplicate nor reorder a partition's records; then the producer is flushed and every send's
   result checked: the broker acknowledged them all.
3. **The relay's position**, a tracking record `"relay:<topic>" -> last position` in the ledger's
   database, written only after step 2.

A crash before step 3 publishes the page again on restart: publication is at least once, in
ledger order per license (and so per partition). Consumers deduplicate by `position`, as the
contract says, which makes the effect exactly once. Two relays racing cannot move the position
back: the store refuses a tracking record that does not advance, and the loser re-reads it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Tracking
from kafka.errors import KafkaError

from consumers.outbound import encode_fact, encode_record
from consumers.placement import KeyPlacement
from consumers.wakeup import Sleep, Wakeup
from ledger.store.eventstore import LedgerStore

log = structlog.get_logger()
SEND_TIMEOUT = 30.0
WAIT = 0.5  # seconds without a commit signal before the log is read anyway (was a 0.2 s tick)


class Relay:
    def __init__(self, store: LedgerStore, producer: Any, topic: str, page: int = 500,
                 wakeup: Wakeup | None = None):
        self.store = store
        self.producer = producer
        self.topic = topic
        self.page = page
        self.wakeup = wakeup or Sleep()
        self.name = f"relay:{topic}"
        self.published = 0
        self.placement = KeyPlacement()

    def position(self) -> int:
        """The last ledger position the broker acknowledged (0: nothing yet)."""
        found: int | None = self.store.recorder.max_tracking_id(self.name)
        return found or 0

    def publish_next(self) -> int:
        """Publish the next page of facts after the recorded position; how many were sent."""
        records = self.store.records_after(self.position(), self.page)
        if not records:
            return 0
        place = self.placement.partitioner(self.producer, self.topic)
        send = self.producer.send
        messages = map(self._message, records)
        sent = ([send(self.topic, key=key, value=value) for key, value in messages]
                if place is None else
                [send(self.topic, key=key, value=value, partition=place(key))
                 for key, value in messages])
        self.producer.flush(timeout=SEND_TIMEOUT)
        for future in sent:  # raises if the broker refused one: nothing is recorded
            future.get(timeout=SEND_TIMEOUT)
        first, last = records[0][0], records[-1][0]
        try:
            self.store.recorder.insert_tracking(Tracking(self.name, last))
        except IntegrityError:
            log.warning("relay.overtaken", position=last, recorded=self.position())
        self.published += len(records)
        log.info("relay.published", count=len(records), first_position=first,
                 last_position=last, total=self.published)
        return len(records)

    def _message(self, record: tuple[int, bytes]) -> tuple[bytes, bytes]:
        """A record's message: spelled straight from its JSON when it is of today's formats,
        else from the fact loaded from it (upcast; an unreadable record raises, as ever)."""
        position, stored = record
        return encode_record(position, stored) or encode_fact(self.store.fact_of(position, stored))

    def run(self, stop: threading.Event | None = None, max_idle: float | None = None,
            wait: float = WAIT) -> None:
        """Follow the log until `stop` is set, or nothing new came for `max_idle` seconds. With
        nothing to publish it waits for the ledger's next commit (`consumers.wakeup`), at most
        `wait` seconds, so a fact goes out as soon as it is committed, not on the next tick."""
        stop = stop or threading.Event()
        log.info("relay.start", topic=self.topic, position=self.position())
        last_seen = time.monotonic()
        backoff = 1.0
        while not stop.is_set():
            try:
                # signals of commits before this read are answered by it: forget them first
                self.wakeup.drain()
                published = self.publish_next()
            except KafkaError as exc:
                # The broker is away: nothing was recorded, so the same page goes out again when
                # it is back (consumers dedupe by position). Wait rather than die.
                log.warning("relay.broker_unavailable", error=str(exc), retry_in=backoff,
                            position=self.position(),
                            hint="check the broker at LEDGER_KAFKA_BOOTSTRAP; retrying")
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if published:
                last_seen = time.monotonic()
                continue
            if max_idle is not None and time.monotonic() - last_seen >= max_idle:
                log.info("relay.idle", seconds=max_idle, position=self.position())
                return
            self.wakeup.wait(wait, stop)
