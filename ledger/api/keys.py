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
)"""]


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
    """The key table in the read database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database):
        self.db = db
        db.create_tables(SCHEMA)

    @classmethod
    def open(cls, url: str) -> ApiKeys:
        return cls(Database(url))

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
            row = cur.execute("SELECT key_id, tenant, role, customer_id FROM api_keys "
                              "WHERE key_hash = ? AND revoked_at IS NULL",
                              (digest(key),)).fetchone()
        return Principal(*row) if row else None
