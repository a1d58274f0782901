"""In-process fan-out for the embedded mode (no Kafka): the read models follow the ledger's log.

Delivery guarantee: each batch of facts after the tracked position is applied together with
the tracking record ("ledger", last position of the batch) in one read-model transaction
(`ReadModels.apply`). A crash before that commit re-reads the batch on the next start; a crash
after it resumes after the batch; a fact seen twice anyway is skipped by its position. So the
read models get every accepted fact exactly once in effect, in ledger order.

A batch that fails is retried every round, forever; so that this is seen rather than silent,
`last_error` and `failures` tell of the rounds failing since the last success, and
`lag_behind(position)` how far the read models are behind the ledger (both feed /healthz).
"""

from __future__ import annotations

import threading
import time

import structlog

from ledger.store.eventstore import LedgerStore
from projections.readmodel import ReadModels

log = structlog.get_logger(__name__)

KEY = "ledger"


class Follower:
    """Applies the ledger's new facts to the read models, in a background thread or on demand."""

    def __init__(self, store: LedgerStore, models: ReadModels, *, batch: int = 500,
                 interval: float = 0.2, key: str = KEY):
        self.store, self.models = store, models
        self.batch, self.interval, self.key = batch, interval, key
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._applying = threading.Lock()
        self._progress = threading.Condition()
        self._reached = 0  # every fact up to here is in the read models
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None  # of the latest round, while rounds keep failing
        self.failures = 0  # rounds failed in a row
        self._succeeded_at = time.monotonic()

    def reached(self) -> int:
        """The ledger position the read models are known to hold, from memory: it grows whenever
        this follower (their only writer in the embedded mode) applies something."""
        return self._reached

    def lag_behind(self, position: int) -> int:
        """Ledger positions up to `position` (the newest, as the store said) not yet known to
        be in the read models."""
        return max(0, position - self._reached)

    def catch_up(self) -> int:
        """Apply everything the ledger holds now; returns how many facts were new to the models."""
        try:
            applied = self._catch_up()
        except Exception as exc:
            self.last_error, self.failures = f"{type(exc).__name__}: {exc}"[:300], self.failures + 1
            raise
        self.last_error, self.failures = None, 0
        self._succeeded_at = time.monotonic()
        return applied

    def behind(self) -> float | None:
        """Seconds since the last round that succeeded, while rounds keep failing (None while
        the read models follow the ledger): how old what they hold may be."""
        return None if self.failures == 0 else time.monotonic() - self._succeeded_at

    def _catch_up(self) -> int:
        applied = 0
        with self._applying:
            position = self.models.tracked(self.key) or 0
            while True:
                ledger_at = self.store.max_position()
                facts = self.store.facts_after(position, self.batch)
                if not facts:
                    # no fact after `position` among records up to `ledger_at`: caught up to it
                    self._advance(max(position, ledger_at))
                    break
                position = facts[-1].position or position
                applied += self.models.apply(facts, tracking=(self.key, position))
                self._advance(position)
        if applied:
            log.info("projections.caught_up", applied=applied, position=position)
        return applied

    def _advance(self, position: int) -> None:
        with self._progress:
            self._reached = max(self._reached, position)
            self._progress.notify_all()

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """True once the read models hold every fact up to `position` (a ledger position)."""
        if self._thread is None:
            self.catch_up()
        else:
            self.notify()
        with self._progress:
            return self._progress.wait_for(lambda: self._reached >= position, timeout)

    def notify(self) -> None:
        """Something was appended: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="projections-follower",
                                        daemon=True)
        self._thread.start()
        log.info("projections.following", key=self.key)

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        log.info("projections.stopped", key=self.key)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.catch_up()
            except Exception:  # noqa: BLE001 - keep following; the batch is redone next round
                log.exception("projections.apply_failed", key=self.key)
            self._wake.wait(self.interval)
