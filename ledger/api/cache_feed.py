"""What the check's cache holds and how it follows the read models' change feed: each change
followed drops its entries, and failed reads are timed. `cache.EntitlementCache` answers from it."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from ledger.api.asking import Background
from ledger.domain.state import LicenseState
from projections.changes import Changes

log = structlog.get_logger(__name__)

States = list[LicenseState]
Key = tuple[str, str]


class CustomerStates(Protocol):
    def customer_states_and_next_change(self, tenant: str, customer_id: str,
                                        as_of: datetime) -> tuple[States, datetime | None]: ...
    def changes_since(self, cursor: int) -> Changes: ...
    def changes_end(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Entry:
    cursor: int  # the feed position read before the states were: later changes drop it
    computed_at: datetime
    valid_until: datetime
    states: States


class FeedFollowingCache:
    def __init__(self, models: CustomerStates, *, max_entries: int = 100_000,
                 max_age: timedelta = timedelta(seconds=60), poll_interval: float = 0.0,
                 max_stale: float = 60.0, monotonic: Callable[[], float] = time.monotonic,
                 hint: Callable[[], int] | None = None, remember: int = 10_000,
                 behind: Callable[[], float | None] | None = None,
                 spawn: Callable[[Callable[[], None]], object] | None = None):
        """`hint`: a number in memory that moves whenever the feed may have grown (the embedded
        follower's position): the feed is then read only when it moved, never on a timer.
        `behind`: for how many seconds the read models have been failing to follow the ledger
        (the embedded follower's rounds failing), None while they follow: answers are then
        marked stale with that age, and refused past `max_stale`, like unreadable ones.
        `spawn` runs the background read of the feed (default: a worker thread of its own)."""
        self.models = models
        self.max_entries, self.max_age, self.max_stale = max_entries, max_age, max_stale
        self.poll_interval = poll_interval
        self._monotonic, self._hint, self._behind = monotonic, hint, behind
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._polling = threading.Lock()
        self._flights: dict[Key, threading.Event] = {}
        self._cursor: int | None = None  # None: the feed's end not read yet
        self._hint_seen: int | None = None
        self._polled = float("-inf")
        self._recent: deque[tuple[int, str, str | None]] = deque(maxlen=remember)
        self._floor = 0  # `_recent` holds every change after this cursor
        self._last_ok = monotonic()
        self.failing_since: float | None = None  # monotonic time of the first failure in a row
        self.last_error: str | None = None
        self._spawn = spawn or self._in_background
        self._background: Background | None = None
        self._reading_ahead = False

    # -- following the feed -------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the feed now, whatever the interval: after a write this process made."""
        with self._polling:
            self._poll()

    def _due(self) -> bool:
        if self._cursor is None:
            return True
        if self.failing_since is not None:  # retry once a second, not on every check
            return self._monotonic() - self._polled >= 1.0
        if self._hint is not None:
            return self._hint() != self._hint_seen
        return self._monotonic() - self._polled >= self.poll_interval

    def _read_ahead(self) -> None:
        """On the timer, once half of the interval has passed: read the feed off the request
        path. A failure there is a failed poll like any other (answers then go the full way)."""
        if (self._hint is None and not self._reading_ahead
                and self._monotonic() - self._polled >= self.poll_interval / 2):
            self._reading_ahead = True
            self._spawn(self._ahead)

    def _ahead(self) -> None:
        try:
            if self._polling.acquire(blocking=False):
                try:
                    self._poll()
                finally:
                    self._polling.release()
        finally:
            self._reading_ahead = False

    def _in_background(self, work: Callable[[], None]) -> None:
        if self._background is None:
            self._background = Background("check-cache-feed")
        self._background(work)

    def _poll(self) -> None:
        hint = self._hint() if self._hint is not None else None
        self._polled = self._monotonic()
        try:
            if self._cursor is None:
                found = Changes(self.models.changes_end(), (), lost=True)
            else:
                found = self.models.changes_since(self._cursor)
        except Exception as exc:  # noqa: BLE001 - degrade: answer from memory, say so
            self._failed(exc)
            return
        self._succeeded()
        with self._lock:
            if found.lost:
                self._entries.clear()
                self._recent.clear()
                self._floor = found.cursor
            else:
                start = self._cursor or 0
                for seq, (tenant, customer) in enumerate(found.moved, start=start + 1):
                    self._recent.append((seq, tenant, customer))
                    self._drop(tenant, customer)
                if self._recent:
                    self._floor = max(self._floor, self._recent[0][0] - 1)
            self._cursor, self._hint_seen = found.cursor, hint

    def _drop(self, tenant: str, customer: str | None) -> None:
        if customer is not None:
            self._entries.pop((tenant, customer), None)
            return
        for key in [k for k in self._entries if k[0] == tenant]:
            del self._entries[key]

    def _failed(self, exc: Exception) -> None:
        if self.failing_since is None:
            self.failing_since = self._monotonic()
            log.warning("cache.read_models_unreachable", error=repr(exc)[:300],
                        hint="check the read database (LEDGER_READ_DATABASE_URL); checks are "
                             "answered from memory, marked stale, until max_stale")
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]

    def _succeeded(self) -> None:
        if self.failing_since is not None:
            log.info("cache.read_models_reachable_again")
        self.failing_since, self.last_error = None, None
        self._last_ok = self._monotonic()

    def stale_for(self) -> float | None:
        """Seconds since the read models were last read (or last followed the ledger), while
        they are failing."""
        ages = [a for a in (None if self.failing_since is None else
                            self._monotonic() - self._last_ok, self._lag()) if a is not None]
        return max(ages, default=None)

    def _lag(self) -> float | None:
        return self._behind() if self._behind is not None else None

    def _moved_since(self, key: Key, cursor: int) -> bool:
        """Whether a change to `key` was followed after `cursor` (or may have been: too old)."""
        if cursor < self._floor:
            return True
        for seq, tenant, customer in reversed(self._recent):
            if seq <= cursor:
                break
            if tenant == key[0] and customer in (None, key[1]):
                return True
        return False
