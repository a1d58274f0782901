"""API keys: who is calling, for which tenant, in which role.

A key is 256 random bits, shown once when it is made; the table keeps only its SHA-256, so a
copy of the database gives no working key. Making and listing keys is `KeyTable`, here; looking
them up (remembered in memory) and revoking them is `ledger.api.remembered_keys.ApiKeys`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.store.sql import Database
from schemas.events import tenant_problem

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


class KeyTable:
    """The api_keys table: its columns, and making and listing keys (`ApiKeys` adds the rest)."""

    db: Database

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

    def create(self, tenant: str, role: str, customer_id: str | None = None,
               name: str | None = None) -> IssuedKey:
        """Make a key; the returned secret is not stored and cannot be shown again. `name`
        says who holds it; release steps taken with the key are recorded under that name."""
        if role not in ROLES:
            raise ApiKeyError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if not tenant:
            raise ApiKeyError("a key belongs to a tenant")
        if problem := tenant_problem(tenant):
            raise ApiKeyError(f"--tenant: {problem}")
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

    def listed(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's keys without their secrets: who holds them, when made, last used, ended."""
        with self.db.reading() as cur:
            rows = cur.execute("SELECT key_id, role, customer_id, name, created_at, last_used_on, "
                               "revoked_at FROM api_keys WHERE tenant = ? ORDER BY created_at",
                               (tenant,)).fetchall()
        names = ("key_id", "role", "customer_id", "name", "created_at", "last_used_on", "revoked_at")
        return [dict(zip(names, row, strict=True)) for row in rows]
