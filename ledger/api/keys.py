"""API keys: who is calling, for which tenant, in which role.

A key is 256 random bits, shown once when it is made; the table keeps only its SHA-256, so a
copy of the database gives no working key.

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

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from ledger.store.sql import Cursor, Database, pool_busy, unreachable

ROLES = ("admin", "billing", "service", "auditor", "customer", "catalog_editor")
PREFIX = "ldg_"

SCHEMA = ["""
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    customer_id TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    name TEXT,
    last_used_on TEXT
)""", "CREATE INDEX IF NOT EXISTS api_keys_revoked ON api_keys (revoked_at)"]
# Columns added after the first release: added to older tables on start, nothing else changes.
ADDED = {"name": "TEXT", "last_used_on": "TEXT"}

RECHECK = 0.5  # seconds a process trusts its memory of keys before it counts revocations again
Spawn = Callable[[Callable[[], None]], object]  # runs a callable off the caller's thread


class ApiKeyError(ValueError):
    """A key that cannot be made as asked (unknown role, customer role without a customer)."""


@dataclass(frozen=True)
class Principal:
    """The caller a valid key stands for."""

    key_id: str
    tenant: str
    role: str
    customer_id: str | None = None
    name: str | None = None  # the person or system holding it: the actor of release steps


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the only moment its secret is known to anyone but the holder."""

    key_id: str
    key: str
    tenant: str
    role: str
    customer_id: str | None
    name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """`name` only when the key has one: the answer for unnamed keys is unchanged."""
        found = asdict(self)
        if self.name is None:
            del found["name"]
        return found


log = structlog.get_logger()


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The key table in the read database (SQLite or PostgreSQL), remembered in memory."""

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
        self._executor: ThreadPoolExecutor | None = None
        self._spawn = spawn or self._in_background
        self._recounting = False  # a background recount is asked for or running
        self.max_unreadable = max_unreadable
        self._unreadable_since: float | None = None  # the table has failed since, if it has
        self._tried = float("-inf")  # when the last recount began

    def _add_columns(self) -> None:
        """The columns added since the table's first release, where they are missing. On
        PostgreSQL ALTER TABLE takes the table's strongest lock even when the column exists:
        behind one long reader of the keys, every key lookup of every serving process would
        queue behind a start's ALTER. So the catalog is asked first."""
        if self.db.postgres:
            with self.db.reading() as cur:
                present = {row[0] for row in cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = 'api_keys'").fetchall()}
            missing = [c for c in ADDED if c not in present]
            if missing:  # IF NOT EXISTS still: another process may be adding them now
                self.db.create_tables([f"ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS {c} "
                                       f"{ADDED[c]}" for c in missing])
            return
        with self.db.transaction() as cur:
            present = {row[1] for row in cur.execute("PRAGMA table_info(api_keys)").fetchall()}
            for column, kind in ADDED.items():
                if column not in present:
                    cur.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")

    @classmethod
    def open(cls, url: str, *, wait: float = 30.0, **options: Any) -> ApiKeys:
        return cls(Database(url, wait=wait), **options)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.db.close()

    def create(self, tenant: str, role: str, customer_id: str | None = None,
               name: str | None = None) -> IssuedKey:
        """Make a key; the returned secret is not stored and cannot be shown again. `name`
        says who holds it; release steps taken with the key are recorded under that name."""
        if role not in ROLES:
            raise ApiKeyError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if not tenant:
            raise ApiKeyError("a key belongs to a tenant")
        if role == "customer" and not customer_id:
            raise ApiKeyError("a customer key needs the customer it speaks for (--customer)")
        if role != "customer" and customer_id:
            raise ApiKeyError(f"only a customer key names a customer, not a {role} key")
        if name is not None and not (0 < len(name) <= 200 and name.isprintable()):
            raise ApiKeyError("--name: 1 to 200 printable characters naming who holds the key")
        issued = IssuedKey(f"key_{secrets.token_hex(8)}", PREFIX + secrets.token_urlsafe(32),
                           tenant, role, customer_id, name)
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO api_keys (key_id, key_hash, tenant, role, customer_id, "
                        "created_at, name) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (issued.key_id, digest(issued.key), tenant, role, customer_id,
                         datetime.now(UTC).isoformat(), name))
        return issued

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
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="api-keys-recount")
        self._executor.submit(work)

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

    def listed(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's keys without their secrets: who holds them, when made, last used, ended."""
        with self.db.reading() as cur:
            rows = cur.execute("SELECT key_id, role, customer_id, name, created_at, last_used_on, "
                               "revoked_at FROM api_keys WHERE tenant = ? ORDER BY created_at",
                               (tenant,)).fetchall()
        names = ("key_id", "role", "customer_id", "name", "created_at", "last_used_on", "revoked_at")
        return [dict(zip(names, row, strict=True)) for row in rows]
