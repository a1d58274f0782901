"""API keys: who is calling, for which tenant, in which role.

A key is 256 random bits, shown once when it is made; the table keeps only its SHA-256, so a
copy of the database gives no working key. Every request looks its key up by that hash (one
indexed read) and nothing is cached, so a revocation stops a key at once, in every process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.store.sql import Database

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
)"""]
# Columns added after the first release: added to older tables on start, nothing else changes.
ADDED = {"name": "TEXT", "last_used_on": "TEXT"}


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


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The key table in the read database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database):
        self.db = db
        db.create_tables(SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        if self.db.postgres:
            self.db.create_tables([f"ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS {c} {t}"
                                   for c, t in ADDED.items()])
            return
        with self.db.transaction() as cur:
            present = {row[1] for row in cur.execute("PRAGMA table_info(api_keys)").fetchall()}
            for column, kind in ADDED.items():
                if column not in present:
                    cur.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")

    @classmethod
    def open(cls, url: str) -> ApiKeys:
        return cls(Database(url))

    def close(self) -> None:
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
            found = cur.execute("SELECT revoked_at FROM api_keys WHERE key_id = ?",
                                (key_id,)).fetchone()
            if found is None:
                return False
            if found[0] is None:
                cur.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?",
                            (datetime.now(UTC).isoformat(), key_id))
        return True

    def authenticate(self, key: str) -> Principal | None:
        """The caller behind `key`, or None for an unknown or revoked key."""
        if not key.startswith(PREFIX) or len(key) > 200:
            return None
        with self.db.reading() as cur:
            row = cur.execute("SELECT key_id, tenant, role, customer_id, name, last_used_on "
                              "FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                              (digest(key),)).fetchone()
        if row is None:
            return None
        today = datetime.now(UTC).date().isoformat()
        if row[5] != today:  # one write per key and day: enough to find keys nobody uses
            with self.db.transaction() as cur:
                cur.execute("UPDATE api_keys SET last_used_on = ? WHERE key_id = ?", (today, row[0]))
        return Principal(*row[:5])

    def listed(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's keys without their secrets: who holds them, when made, last used, ended."""
        with self.db.reading() as cur:
            rows = cur.execute("SELECT key_id, role, customer_id, name, created_at, last_used_on, "
                               "revoked_at FROM api_keys WHERE tenant = ? ORDER BY created_at",
                               (tenant,)).fetchall()
        names = ("key_id", "role", "customer_id", "name", "created_at", "last_used_on", "revoked_at")
        return [dict(zip(names, row, strict=True)) for row in rows]
