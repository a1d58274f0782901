"""`ApiKeys`: a key's caller looked up and remembered in memory, so the hot path makes no database
round trip, and revocations counted so that memory is forgotten in time. The table is `keys.KeyTable`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from ledger.api.asking import Background
from ledger.api.keys import PREFIX, SCHEMA, KeyTable, Principal, digest
from ledger.store.sql import Cursor, Database, pool_busy, unreachable

RECHECK = 0.5  # seconds a process trusts its memory of keys before it counts revocations again
Spawn = Callable[[Callable[[], None]], object]  # runs a callable off the caller's thread

log = structlog.get_logger()


class ApiKeys(KeyTable):
    """The key table in the read database (SQLite or PostgreSQL), remembered in memory.

    Keys found valid are remembered in memory, so the hot path makes no database round trip. A
    revocation stops a key at once in the process that revoked it (it forgets the key as it
    writes), and within `recheck` seconds (0.5 by default, so within one second) in every other
    process: memory is trusted only while the number of revoked keys (one indexed count) was read
    less than `recheck` ago, and every remembered key is forgotten when that number moved. The
    count is renewed in the background once half of `recheck` has passed, while requests keep
    being answered from memory, so under steady traffic no request waits for it (before, every
    request arriving while it was due took the full, reading way: a burst each `recheck`, the
    check's flood tail; docs/benchmarks.md, round 3). An unknown key is always looked up, so a
    key made in another process works at once.
    """

    def __init__(self, db: Database, *, recheck: float = RECHECK,
                 monotonic: Callable[[], float] = time.monotonic, remember: int = 100_000,
                 spawn: Spawn | None = None, max_unreadable: float = 60.0):
        """`spawn` runs the background recount (default: one worker thread of this object's
        own); tests pass their own to run it when they choose. `max_unreadable`: how long
        keys known valid stay valid from memory while the table cannot be read (`ledger
        serve` passes LEDGER_CHECK_MAX_STALE, the bound of the answers too)."""
        self.db = db
        db.create_tables(SCHEMA)
        self._add_columns()
        self.recheck, self._monotonic, self._remember = recheck, monotonic, remember
        # digest -> (principal of a valid key, the day its use was last written down)
        self._known: dict[str, tuple[Principal, str]] = {}
        self._lock = threading.Lock()
        self._revoked = -1  # revoked keys counted at `_counted`
        self._counted = float("-inf")
        self._generation = 0  # moves whenever memory is forgotten: a lookup begun before it
        # must not put back what was forgotten
        self._background: Background | None = None
        self._spawn = spawn or self._in_background
        self._recounting = False  # a background recount is asked for or running
        self.max_unreadable = max_unreadable
        self._unreadable_since: float | None = None  # the table has failed since, if it has
        self._tried = float("-inf")  # when the last recount began

    @classmethod
    def open(cls, url: str, *, wait: float = 30.0, **options: Any) -> ApiKeys:
        return cls(Database(url, wait=wait), **options)

    def close(self) -> None:
        if self._background is not None:  # not waiting for a recount a hung database holds
            self._background.stop()
        self.db.close()

    def revoke(self, key_id: str) -> bool:
        """Stop a key for good. False if no such key exists; revoking twice is harmless."""
        with self.db.transaction() as cur:
            found = cur.execute("SELECT revoked_at, key_hash FROM api_keys WHERE key_id = ?",
                                (key_id,)).fetchone()
            if found is None:
                return False
            if found[0] is None:
                cur.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?",
                            (datetime.now(UTC).isoformat(), key_id))
        with self._lock:
            self._known.pop(found[1], None)
            self._generation += 1
        return True

    def remembered(self, key: str) -> Principal | None:
        """The caller behind `key` from memory alone (no I/O: for the event loop), or None
        when memory cannot say: an unknown key, its first use today, or revocations not
        counted for `recheck` (unless the table is cut off: then for `max_unreadable`)."""
        now = self._monotonic()
        age = now - self._counted
        if age >= self.recheck and not self._cut_off(now):
            return None
        # Due (or, cut off from the table, once a second): one recount at a time, in the
        # background; the event loop is the only caller.
        if (age >= self.recheck / 2 and not self._recounting
                and (self._unreadable_since is None or now - self._tried >= 1.0)):
            self._recounting = True
            self._spawn(self._recount)
        known = self._known.get(digest(key))
        if known is None or known[1] != datetime.now(UTC).date().isoformat():
            return None  # unknown, or its first use today, which is written down
        return known[0]

    def authenticate(self, key: str) -> Principal | None:
        """The caller behind `key`, or None for an unknown or revoked key."""
        if not key.startswith(PREFIX) or len(key) > 200:
            return None
        hashed = digest(key)
        generation = self._generation
        today = datetime.now(UTC).date().isoformat()
        try:
            with self.db.reading() as cur:
                if self._monotonic() - self._counted >= self.recheck:
                    generation = self._count_revoked(cur)
                known = self._known.get(hashed)
                if known is not None and known[1] == today:
                    return known[0]
                row = cur.execute("SELECT key_id, tenant, role, customer_id, name, last_used_on "
                                  "FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                                  (hashed,)).fetchone()
        except Exception as exc:
            # The table cannot be read, so no revocation can be written to it either: a key
            # known valid stays valid from memory, for `max_unreadable` at most (if only this
            # process is cut off, a revocation elsewhere must stop it in the end); any other
            # is an error as before.
            self._unreadable(exc)
            if (known := self._known.get(hashed)) is not None and self._cut_off(self._monotonic()):
                return known[0]
            raise
        if row is None:
            return None
        principal = Principal(*row[:5])
        if row[5] != today:  # one write per key and day: enough to find keys nobody uses
            with self.db.transaction() as cur:
                cur.execute("UPDATE api_keys SET last_used_on = ? WHERE key_id = ?", (today, row[0]))
        with self._lock:
            if len(self._known) >= self._remember:
                self._known.clear()
            if generation == self._generation:
                self._known[hashed] = (principal, today)
        return principal

    def _in_background(self, work: Callable[[], None]) -> None:
        if self._background is None:
            self._background = Background("api-keys-recount")
        self._background(work)

    def _recount(self) -> None:
        """The revocation count renewed off the request path. If it fails, the table is cut
        off: memory vouches for keys known valid for `max_unreadable` (`_cut_off`), retried
        here once a second, so that requests do not each wait on the unreadable table."""
        self._tried = self._monotonic()
        try:
            with self.db.reading() as cur:
                self._count_revoked(cur)
        except Exception as exc:  # noqa: BLE001 - see the docstring; the full way reports it
            self._unreadable(exc)
        finally:
            self._recounting = False

    def _unreadable(self, exc: Exception) -> None:
        """Mark the table cut off if `exc` says the database cannot be used (`sql.unreachable`),
        but not when it says only that every connection of this process's pool is busy: the
        table can be read, revocations can be written, and memory must not vouch past
        `recheck` then (a review found it did under load)."""
        if not unreachable(exc) or pool_busy(exc):
            return
        if self._unreadable_since is None:
            self._unreadable_since = self._monotonic()
            log.warning("keys.table_unreadable", bound_seconds=self.max_unreadable,
                        hint="check the read database (LEDGER_READ_DATABASE_URL); keys known "
                             "valid are trusted from memory until the bound, then refused")

    def _cut_off(self, now: float) -> bool:
        """The table has failed, for less than `max_unreadable`: memory vouches for it."""
        since = self._unreadable_since
        return since is not None and now - since < self.max_unreadable

    def _count_revoked(self, cur: Cursor) -> int:
        """Forget every remembered key if a key was revoked anywhere since the last count.
        The count is taken before the lookups it vouches for, so a revocation committed after
        it is seen at the next count, `recheck` later at most."""
        counted_at = self._monotonic()
        row = cur.execute("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL").fetchone()
        revoked = int(row[0]) if row else 0
        with self._lock:
            if revoked != self._revoked:
                self._known.clear()
                self._generation += 1
            self._revoked, self._counted = revoked, counted_at
            if self._unreadable_since is not None:
                self._unreadable_since = None
                log.info("keys.table_readable_again")
            return self._generation
