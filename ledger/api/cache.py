"""The check's cache: each (tenant, customer)'s typed license states, kept in memory.

An entry is served until the first of:
- a change to that customer (or to its tenant's catalog) is projected: the read models'
  change feed (`projections.changes`) names it, and the cache follows that feed, so another
  customer's usage never drops it;
- the clock reaches the states' `changes_at` (a term start or end, the end of grace, the
  next usage month, the next fact already recorded with a later effective time): expiry is
  a matter of time, not of events;
- `max_age`, at the latest.

The feed is read when `hint()` (the embedded follower's position, in memory) moves, or else
at most every `poll_interval` seconds; after a write of its own the API calls `refresh()` so
the next check sees it. On the timer, a check from memory that finds half of the interval
gone asks for the read in the background, so under steady checks the feed is never due on a
request's way (when it is, the check takes the full way and reads it; before, every check in
that moment did: a burst each interval). Concurrent misses for one customer compute once
(single flight).

When the read models cannot be read, the cache answers from what it holds, marked stale with
the seconds since it last read them; past `max_stale` it refuses (ReadModelsUnavailableError).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ledger.api.cache_feed import Entry, FeedFollowingCache, Key, States
from ledger.store.sql import unreachable


class ReadModelsUnavailableError(Exception):
    """The read models failed and nothing recent enough is held to answer from."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """A customer's states, whether memory served them, and, if the read models could not be
    reached, for how many seconds they have not been (`stale_for`)."""

    states: States
    cached: bool
    stale_for: float | None = None


def valid_until(states: States, scheduled: datetime | None, now: datetime,
                max_age: timedelta) -> datetime:
    """The first moment after `now` at which these states may no longer be the answer."""
    moments = [s.changes_at for s in states if s.changes_at is not None]
    if scheduled is not None:
        moments.append(scheduled)
    return min([m for m in moments if m > now] + [now + max_age])


class EntitlementCache(FeedFollowingCache):
    # -- answering ------------------------------------------------------------------------------
    def _valid(self, key: Key, now: datetime) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.computed_at <= now < entry.valid_until:
            self._entries.move_to_end(key)
            return entry
        return None

    def lookup(self, tenant: str, customer_id: str, now: datetime) -> Lookup | None:
        """From memory only (no I/O, for the event loop), or None if the feed is due or the
        entry missing: then `states` does the rest on a worker thread."""
        if self.failing_since is not None or self._due() or self._lag() is not None:
            return None
        self._read_ahead()
        with self._lock:
            entry = self._valid((tenant, customer_id), now)
        return Lookup(entry.states, True) if entry is not None else None

    def states(self, tenant: str, customer_id: str, now: datetime) -> Lookup:
        """The customer's license states at `now`, from memory when they are still the answer."""
        if self._due() and self._polling.acquire(blocking=False):
            try:
                self._poll()
            finally:
                self._polling.release()
        key = (tenant, customer_id)
        lag = self._lag()
        if lag is not None and self.failing_since is None:
            return self._behind_by(lag, self._readable(key, now))
        while True:
            with self._lock:
                if self.failing_since is not None:
                    break
                entry = self._valid(key, now)
                if entry is not None:
                    return Lookup(entry.states, True)
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = threading.Event()
            if leader:
                try:
                    return self._compute(key, now)
                finally:
                    with self._lock:
                        self._flights.pop(key, None)
                    flight.set()
            flight.wait(5.0)  # another thread reads this customer: share its answer, if any
        return self._stale(key)

    def _readable(self, key: Key, now: datetime) -> Lookup:
        """From memory or the read models, which can be read but are behind the ledger."""
        with self._lock:
            entry = self._valid(key, now)
        return Lookup(entry.states, True) if entry is not None else self._compute(key, now)

    def _behind_by(self, lag: float, found: Lookup) -> Lookup:
        if lag > self.max_stale:
            raise ReadModelsUnavailableError(
                f"the read models have not followed the ledger for {lag:.0f} s (more than "
                f"{self.max_stale:.0f} s)")
        return replace(found, stale_for=round(max(lag, found.stale_for or 0.0), 3))

    def _compute(self, key: Key, now: datetime) -> Lookup:
        cursor = self._cursor
        try:
            states, scheduled = self.models.customer_states_and_next_change(*key, now)
        except Exception as exc:
            if not unreachable(exc):
                raise  # about this request, not the read models: no reason to degrade
            self._failed(exc)
            return self._stale(key)
        if self.failing_since is not None:
            return self._stale(key)  # the feed is unreadable: what we read may already be old
        entry = Entry(cursor or 0, now, valid_until(states, scheduled, now, self.max_age), states)
        with self._lock:
            if cursor is not None and not self._moved_since(key, cursor):
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return Lookup(states, False)

    def _stale(self, key: Key) -> Lookup:
        age = self.stale_for() or 0.0
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or age > self.max_stale:
            raise ReadModelsUnavailableError(
                f"the read models have not answered for {age:.0f} s and no answer for this "
                f"customer is held from the last {self.max_stale:.0f} s")
        return Lookup(entry.states, True, round(age, 3))

    def __len__(self) -> int:
        return len(self._entries)
