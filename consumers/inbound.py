"""`ledger consume`: Kafka `billing.events` -> the ledger; rejections -> `billing.events.rejected`.

Delivery guarantee, in the order things become durable for one partition's batch (a poll's
batches of several partitions go through these steps together: one ledger transaction for
all of them, then all their rejections, then each partition's tracking record):

1. **The ledger facts.** `Ledger.ingest` judges the batch and records its accepted events in
   one transaction, each with its idempotency receipt (tenant, source, id).
2. **The rejections.** Every rejected record (a rule broken, not JSON, not an envelope, no
   `tenantid`) is produced to the rejected topic with the original value, the reason and the
   source topic/partition/offset, and the producer is flushed: the broker has them.
3. **The tracking record** `"topic:partition" -> last offset + 1` in the ledger's database.
4. **The Kafka offset commit** (a hint; on assignment we seek to the tracking record).

Why the tracking record does not commit inside the facts' transaction: a rejection is decided
inside that transaction and stored nowhere in the ledger, so if the tracking record committed
with the facts and the process died before step 2, the restart would skip the batch and the
rejection would be lost. In this order a crash at any point re-reads the batch from the
tracking record (or later): records accepted in step 1 come back as duplicates through their
receipts, so the ledger holds each accepted event exactly once (exactly-once effect), and
rejected ones are judged afresh and produced again, so a rejection is never lost but may be
published twice (at least once). Because a re-read judges afresh, a record rejected before the
crash may be accepted on the re-read if a later record of the same batch made it valid; the
rejected topic then holds a rejection for an event the ledger later accepted, exactly as if the
sender had sent it again. A member that lost its partitions in a rebalance cannot move the
tracking record back: it only advances (the store refuses otherwise, and we re-seek).
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Tracking

from consumers.partitions import FencedError
from ledger.contention import waiting_out
from ledger.judging import Outcome
from ledger.service import Ledger
from ledger.store.eventstore import ConcurrentAppendError

log = structlog.get_logger()
SEND_TIMEOUT = 60.0
BUSY_BACKOFF = 0.2  # seconds, times the attempt, at most 5
# Below the producer's 1 MiB request limit: a huge original is cut, never a poison pill.
MAX_REJECTION_BYTES = 900_000
KEPT_WHEN_CUT = 10_000


def original_value(value: bytes | None) -> Any:
    """What the sender sent: the parsed JSON if it was JSON, else its text."""
    if value is None:
        return None
    text = value.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSON too deep or long to build: kept as text
        return text


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def rejection_message(original: Any, outcome: Outcome, record: Any) -> bytes:
    """The original, the reason and where it came from; an original too big to fit in a record
    is cut to its first characters (`envelope_truncated`), the source offset still points to it."""
    body = {
        "envelope": original, "code": outcome.code, "message": outcome.message,
        "id": outcome.id, "source": outcome.source,
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
    }
    if record.value is not None and not _is_utf8(record.value):
        # the text above lost bytes to replacement characters: keep the exact original too
        body["envelope_base64"] = base64.b64encode(record.value).decode("ascii")
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if len(encoded) <= MAX_REJECTION_BYTES:
        return encoded
    kept = (record.value or b"").decode("utf-8", errors="replace")[:KEPT_WHEN_CUT]
    cut = {**body, "envelope": kept, "envelope_truncated": True}
    return json.dumps(cut, ensure_ascii=False, separators=(",", ":")).encode()


class InboundConsumer:
    """Takes billing events into the ledger, one batch per partition (see the module docstring)."""

    def __init__(self, ledger: Ledger, producer: Any, rejected_topic: str):
        self.ledger = ledger
        self.producer = producer
        self.rejected_topic = rejected_topic
        self.counts: Counter[str] = Counter()

    def tracked(self, key: str) -> int | None:
        found: int | None = self.ledger.store.recorder.max_tracking_id(key)
        return found

    def take(self, key: str, records: Sequence[Any]) -> None:
        if self.take_all({key: records}):
            raise FencedError(f"{key} is tracked beyond offset {records[-1].offset}")

    def take_all(self, batches: Mapping[str, Sequence[Any]]) -> set[str]:
        """Several partitions' batches in one judgement and one ledger transaction (a light load
        spread over 4 partitions is one transaction, not 4 small ones), then their rejections,
        then each partition's tracking record: the steps of the module docstring, in its order,
        for all of them at once. A license is on one partition, so its envelopes keep their
        order. Returns the partitions whose tracking record could not advance (fenced)."""
        records = [r for batch in batches.values() for r in batch]
        originals = [original_value(r.value) for r in records]
        # A dict is judged as an envelope; anything else as the text that was sent, so the
        # reason says "not JSON" or "must be a JSON object" in the sender's terms.
        raws = [o if isinstance(o, dict) else (r.value or b"")
                for o, r in zip(originals, records, strict=True)]
        began = time.monotonic()
        outcomes = self._ingest(",".join(batches), raws)  # 1. facts durable
        judged = time.monotonic() - began
        self._publish_rejections(records, originals, outcomes)  # 2. rejections durable
        fenced = set()
        for key, batch in batches.items():  # 3. the batches are done
            try:
                self.ledger.store.recorder.insert_tracking(Tracking(key, batch[-1].offset + 1))
            except IntegrityError:
                fenced.add(key)
        counted = Counter(o.status for o in outcomes)
        self.counts.update(counted)
        log.info("consume.batch", partitions={k: [b[0].offset, b[-1].offset] for k, b in batches.items()},
                 accepted=counted["accepted"], duplicate=counted["duplicate"],
                 rejected=counted["rejected"], fenced=sorted(fenced), ingest_seconds=round(judged, 4))
        return fenced

    def _ingest(self, key: str, raws: Sequence[Any]) -> list[Outcome]:
        """Contention never kills the worker: a tenant lock that stays taken (another writer, a
        long batch) means wait and judge the same batch again; nothing of it was written."""
        def busy(attempt: int, exc: ConcurrentAppendError) -> None:
            log.warning("consume.busy", partition=key, attempt=attempt, reason=str(exc),
                        next_step="waiting for the tenant's write lock, then judging again")

        return waiting_out(lambda: self.ledger.ingest(raws, None), busy, backoff=BUSY_BACKOFF)

    def _publish_rejections(self, records: Sequence[Any], originals: Sequence[Any],
                            outcomes: Sequence[Outcome]) -> None:
        sent = [self.producer.send(self.rejected_topic, key=r.key,
                                   value=rejection_message(o, outcome, r))
                for r, o, outcome in zip(records, originals, outcomes, strict=True)
                if outcome.status == "rejected"]
        if not sent:
            return
        self.producer.flush(timeout=SEND_TIMEOUT)
        for future in sent:  # raises if the broker refused one: the batch will be re-read
            future.get(timeout=SEND_TIMEOUT)
