"""API keys: who is calling, for which tenant, in which role.

A key is 256 random bits, shown once when it is made; the table keeps only its SHA-256, so a
copy of the database gives no working key.

Keys found valid are remembered in memory, so the hot path makes no database round trip. A
revocation stops a key at once in the process that revoked it (it forgets the key as it
writes), and within `recheck` seconds (0.5 by default, so within one second) in every other
process: a process reads the number of revoked keys, one indexed count, at most once per
`recheck` before it trusts its memory, and forgets every remembered key when it moved. An
unknown key is always looked up, so a key made in another process works at once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.store.sql import Cursor, Database

ROLES = ("admin", "billing", "service", "auditor", "customer")
PREFIX = "ldg_"

SCHEMA = ["""
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    customer_id TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)""", "CREATE INDEX IF NOT EXISTS api_keys_revoked ON api_keys (revoked_at)"]

RECHECK = 0.5  # seconds a process trusts its memory of keys before it counts revocations again


class ApiKeyError(ValueError):
    """A key that cannot be made as asked (unknown role, customer role without a customer)."""


@dataclass(frozen=True)
class Principal:
    """The caller a valid key stands for."""

    key_id: str
    tenant: str
    role: str
    customer_id: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the only moment its secret is known to anyone but the holder."""

    key_id: str
    key: str
    tenant: str
    role: str
    customer_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The key table in the read database (SQLite or PostgreSQL), remembered in memory."""

    def __init__(self, db: Database, *, recheck: float = RECHECK,
                 monotonic: Callable[[], float] = time.monotonic, remember: int = 100_000):
        self.db = db
        db.create_tables(SCHEMA)
        self.recheck, self._monotonic, self._remember = recheck, monotonic, remember
        self._known: dict[str, Principal] = {}  # digest -> principal of a valid key
        self._lock = threading.Lock()
        self._revoked = -1  # revoked keys counted at `_counted`
        self._counted = float("-inf")
        self._generation = 0  # moves whenever memory is forgotten: a lookup begun before it
        # must not put back what was forgotten

    @classmethod
    def open(cls, url: str, **options: Any) -> ApiKeys:
        return cls(Database(url), **options)

    def close(self) -> None:
        self.db.close()

    def create(self, tenant: str, role: str, customer_id: str | None = None) -> IssuedKey:
        """Make a key; the returned secret is not stored and cannot be shown again."""
        if role not in ROLES:
            raise ApiKeyError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if not tenant:
            raise ApiKeyError("a key belongs to a tenant")
        if role == "customer" and not customer_id:
            raise ApiKeyError("a customer key needs the customer it speaks for (--customer)")
        if role != "customer" and customer_id:
            raise ApiKeyError(f"only a customer key names a customer, not a {role} key")
        issued = IssuedKey(f"key_{secrets.token_hex(8)}", PREFIX + secrets.token_urlsafe(32),
                           tenant, role, customer_id)
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO api_keys (key_id, key_hash, tenant, role, customer_id, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (issued.key_id, digest(issued.key), tenant, role, customer_id,
                         datetime.now(UTC).isoformat()))
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
        when memory cannot say: an unknown key, or revocations not counted for `recheck`."""
        if self._monotonic() - self._counted >= self.recheck:
            return None
        return self._known.get(digest(key))

    def authenticate(self, key: str) -> Principal | None:
        """The caller behind `key`, or None for an unknown or revoked key."""
        if not key.startswith(PREFIX) or len(key) > 200:
            return None
        hashed = digest(key)
        generation = self._generation
        try:
            with self.db.reading() as cur:
                if self._monotonic() - self._counted >= self.recheck:
                    generation = self._count_revoked(cur)
                if (known := self._known.get(hashed)) is not None:
                    return known
                row = cur.execute("SELECT key_id, tenant, role, customer_id FROM api_keys "
                                  "WHERE key_hash = ? AND revoked_at IS NULL",
                                  (hashed,)).fetchone()
        except Exception:
            # The table cannot be read, so no revocation can be written to it either: a key
            # known valid stays valid from memory; any other is an error as before.
            if (known := self._known.get(hashed)) is not None:
                return known
            raise
        if row is None:
            return None
        principal = Principal(*row)
        with self._lock:
            if len(self._known) >= self._remember:
                self._known.clear()
            if generation == self._generation:
                self._known[hashed] = principal
        return principal

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
            return self._generation
