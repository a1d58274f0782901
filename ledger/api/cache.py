"""The check's cache: each (tenant, customer)'s license states, kept in memory.

An entry is served while both hold:
- the read models' watermark is the one it was computed at (any projected event moves it, so
  a change to any license drops every entry at once: coarse, but never wrong), and
- the clock has not reached the entry's next boundary: the earliest `starts_at` or `ends_at`
  still ahead, the start of the next usage month for a metered feature, `recheck` from now
  for a license in grace (its grace end is not in the state), the effective time of the
  customer's next scheduled fact (a license event, usage or catalog version recorded with a
  time still ahead: it changes the answer when that time comes, with no event projected
  then), and `max_age` at the latest. Expiry is a matter of time, not of events, so time
  alone must be able to end an entry.

The watermark is read at most every `watermark_interval` seconds (0: on every call); after a
write of its own the API calls `refresh()` so the next check reads it afresh.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from schemas.times import parse_time

States = list[dict[str, Any]]


class CustomerStates(Protocol):
    def customer_states_and_next_change(self, tenant: str, customer_id: str,
                                        as_of: datetime) -> tuple[States, datetime | None]: ...
    def watermark(self) -> int: ...


@dataclass(frozen=True)
class _Entry:
    watermark: int
    computed_at: datetime
    valid_until: datetime
    states: States


def next_boundary(states: States, now: datetime, recheck: timedelta) -> datetime | None:
    """The first moment after `now` at which time alone may change one of these states."""
    moments: list[datetime] = []
    for state in states:
        for field in ("starts_at", "ends_at"):
            text = state.get(field)
            if isinstance(text, str) and (moment := parse_time(text)) > now:
                moments.append(moment)
        ended = isinstance(state.get("ends_at"), str) and parse_time(state["ends_at"]) <= now
        if state.get("status") == "grace" or (state.get("status") == "suspended" and ended):
            moments.append(now + recheck)  # grace ends at a moment the state does not carry
        if any(isinstance(f, dict) and f.get("period") == "month"
               for f in state.get("features", {}).values()):
            moments.append(_next_month(now))
    return min(moments, default=None)


def _next_month(now: datetime) -> datetime:
    now = now.astimezone(UTC)
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


class EntitlementCache:
    def __init__(self, models: CustomerStates, *, max_entries: int = 100_000,
                 max_age: timedelta = timedelta(seconds=60), recheck: timedelta = timedelta(seconds=1),
                 watermark_interval: float = 0.0, monotonic: Callable[[], float] = time.monotonic,
                 watermark: Callable[[], int] | None = None):
        """`watermark` defaults to the read models' own (a database read); in the embedded mode
        the follower's position in memory serves, as it is the read models' only writer."""
        self.models = models
        self._read_watermark = watermark or models.watermark
        self.max_entries = max_entries
        self.max_age = max_age
        self.recheck = recheck
        self.watermark_interval = watermark_interval
        self._monotonic = monotonic
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._watermark = -1
        self._watermark_read = float("-inf")

    def refresh(self) -> int:
        """Read the watermark now, whatever the interval: after a write this process made."""
        watermark = self._read_watermark()
        with self._lock:
            self._watermark, self._watermark_read = watermark, self._monotonic()
        return watermark

    def _current_watermark(self) -> int:
        if self._monotonic() - self._watermark_read >= self.watermark_interval:
            return self.refresh()
        return self._watermark

    def states(self, tenant: str, customer_id: str, now: datetime) -> tuple[States, bool]:
        """The customer's license states at `now`, and whether they came from the cache."""
        key = (tenant, customer_id)
        watermark = self._current_watermark()
        with self._lock:
            entry = self._entries.get(key)
            if (entry is not None and entry.watermark == watermark
                    and entry.computed_at <= now < entry.valid_until):
                self._entries.move_to_end(key)
                return entry.states, True
        states, scheduled = self.models.customer_states_and_next_change(tenant, customer_id, now)
        ends = [m for m in (next_boundary(states, now, self.recheck), scheduled) if m is not None]
        entry = _Entry(watermark, now, min([*ends, now + self.max_age]), states)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return states, False

    def __len__(self) -> int:
        return len(self._entries)
