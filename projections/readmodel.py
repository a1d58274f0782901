"""Read models: what the API and SQL users query, folded from the ledger's facts.

Delivery guarantee: `apply` writes the read-model changes and the tracking record (a Kafka
partition's next offset, or the ledger position in the embedded mode) in ONE transaction. A
crash before the commit leaves neither, so the batch is delivered and applied again; a crash
after it leaves both, so the consumer resumes after the batch. On top of that every fact is
claimed by its ledger `position` (contract section 5) in the same transaction, so redelivery
after a rebalance, a replay from an older offset or two workers briefly owning one partition
never apply a fact twice: exactly-once in effect.

States are never stored as the answer: `license_state` runs the one fold
(`ledger.domain.fold.fold` and `ledger.domain.state.license_state`) over the stored facts at
the moment asked about, so expiry, grace and trial end follow the clock at query time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ledger.domain.catalogs import UNSCHEDULED, CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.state import LicenseState
from ledger.store.codec import to_fact
from ledger.store.sql import Cursor, Database
from projections import changes, license_facts, rows, tables, usage
from schemas.events import EVENT_TYPES, PAYMENTS
from schemas.times import parse_time

CATALOG, USAGE = "catalog.published", "usage.recorded"
HISTORY = (CATALOG, UNSCHEDULED)  # the facts a tenant's catalog history is made of
LICENSED = frozenset(t for t in EVENT_TYPES if t not in (CATALOG, USAGE, *PAYMENTS))


class ReadModels:
    def __init__(self, db: Database, clock: Callable[[], datetime] | None = None):
        self.db = db
        self.clock = clock or (lambda: datetime.now(UTC))
        # tenant -> (catalog positions, their parsed history): rows are insert-only, so the same
        # positions mean the same versions and the pydantic parse is done once per version set
        self._parsed: dict[str, tuple[tuple[int, ...], CatalogHistory]] = {}

    @classmethod
    def open(cls, url: str, clock: Callable[[], datetime] | None = None, *,
             wait: float = 30.0) -> ReadModels:
        """Connect and create the tables if missing (`sqlite:///PATH`, `postgresql://...?schema=S`);
        `wait` as `Database` takes it."""
        models = cls(Database(url, wait=wait), clock)
        tables.create(models.db)
        return models

    def close(self) -> None:
        self.db.close()

    def clear(self) -> None:
        tables.clear(self.db)

    # -- writing -------------------------------------------------------------------------------
    def apply(self, facts: Sequence[Fact], *, tracking: tuple[str, int] | None = None,
              trackings: Sequence[tuple[str, int]] = ()) -> int:
        """Fold `facts` in, with `tracking` (or several partitions' `trackings`, one batch's) in
        the same transaction; returns how many were new."""
        marks = [*([tracking] if tracking is not None else []), *trackings]
        if any(f.position is None for f in facts):
            raise ValueError("facts must carry their ledger position: it is what deduplicates them")
        now = self.clock()
        with self.db.transaction() as cur:
            self._lock_tenants(cur, facts)
            new = _claim(cur, facts)
            touched = usage.record(cur, [f for f in new if f.type == USAGE])
            licensed: dict[tuple[str, str], list[Fact]] = defaultdict(list)
            for fact in (f for f in new if f.type in LICENSED):  # payments, release steps: not state
                licensed[(fact.tenant, fact.subject)].append(fact)
            touched |= set(licensed)
            catalogs = [f for f in new if f.type in HISTORY]
            tables.insert(cur, "rm_catalogs", ("tenant", "version", "position", "record"),
                          [(f.tenant, _catalog_key(f), f.position, license_facts.dump(f))
                           for f in catalogs],
                          "ON CONFLICT (tenant, version) DO NOTHING")
            for tenant in sorted({f.tenant for f in catalogs}):
                touched |= {(tenant, lic) for lic in license_facts.licenses(cur, tenant)}
            for tenant in sorted({t for t, _ in touched}):
                ids = sorted(lic for t, lic in touched if t == tenant)
                stored = license_facts.lock_licenses(cur, self.db.postgres, tenant, ids)
                for license_id in ids:
                    if (tenant, license_id) in licensed:
                        facts, customer = stored[license_id]
                        facts = license_facts.add_license_facts(cur, tenant, license_id, facts,
                                                                licensed[(tenant, license_id)])
                        stored[license_id] = (facts, customer)
                rows.refresh(cur, tenant, stored, self._catalogs(cur, tenant), now)
            changes.record(cur, self.db.postgres, touched, {f.tenant for f in catalogs})
            # `changes` is only ever summed (the watermark): the batch's count goes on its first row
            for n, (key, value) in enumerate(marks or ([("", 0)] if new else [])):
                cur.execute(
                    "INSERT INTO rm_tracking (tracking_key, value, changes) VALUES (?, ?, ?) "
                    "ON CONFLICT (tracking_key) DO UPDATE SET changes = rm_tracking.changes + "
                    "excluded.changes, value = CASE WHEN excluded.value > rm_tracking.value "
                    "THEN excluded.value ELSE rm_tracking.value END",
                    (key, value, len(new) if n == 0 else 0))
        return len(new)

    def _lock_tenants(self, cur: Cursor, facts: Sequence[Fact]) -> None:
        """A catalog change refreshes every license of its tenant, so it excludes the tenant's
        license writers (FOR UPDATE), who merely share the tenant (FOR SHARE) with each other."""
        catalog_tenants = {f.tenant for f in facts if f.type in HISTORY}
        for tenant in sorted({f.tenant for f in facts}):
            cur.execute("INSERT INTO rm_tenants (tenant) VALUES (?) ON CONFLICT (tenant) DO NOTHING",
                        (tenant,))
            if self.db.postgres:  # SQLite's BEGIN IMMEDIATE already admits one writer at a time
                mode = "UPDATE" if tenant in catalog_tenants else "SHARE"
                cur.execute(f"SELECT tenant FROM rm_tenants WHERE tenant = ? FOR {mode}", (tenant,))

    # -- reading -------------------------------------------------------------------------------
    def license_state(self, tenant: str, license_id: str, as_of: datetime) -> dict[str, Any] | None:
        """The contract's state of one license at `as_of`, or None if it did not exist then."""
        with self.db.reading() as cur:
            state = self._state(cur, tenant, license_id, self._catalogs(cur, tenant), as_of)
        return state.as_dict() if state else None

    def customer_states(self, tenant: str, customer_id: str, as_of: datetime) -> list[dict[str, Any]]:
        """States of the customer's licenses that existed at `as_of`, in the order granted."""
        return [s.as_dict() for s in self.customer_states_and_next_change(tenant, customer_id, as_of)[0]]

    def customer_states_and_next_change(self, tenant: str, customer_id: str, as_of: datetime
                                        ) -> tuple[list[LicenseState], datetime | None]:
        """The typed states of `customer_states` and `next_change(..., after=as_of)` from one
        read: the first moment a fact already recorded (a scheduled revocation, usage, a catalog
        version) takes effect and may change them, folded into each state's `changes_at`."""
        with self.db.reading() as cur:
            ids = license_facts.customer_licenses(cur, tenant, customer_id)
            catalogs = self._catalogs(cur, tenant)
            facts = {i: license_facts.facts(cur, tenant, i) for i in ids}
            change = license_facts.next_change(cur, tenant, facts, catalogs, as_of)
            states = [license_facts.fold_state(cur, tenant, i, facts[i], catalogs, as_of, change)
                      for i in ids]
        return [s for s in states if s is not None], change

    def next_change(self, tenant: str, customer_id: str, after: datetime) -> datetime | None:
        """The earliest effective time strictly after `after` among the customer's license
        facts, its licenses' usage and the tenant's catalog versions: until then, only the
        clock (term ends, the usage month) can change the customer's states."""
        with self.db.reading() as cur:
            ids = license_facts.customer_licenses(cur, tenant, customer_id)
            facts = {i: license_facts.facts(cur, tenant, i) for i in ids}
            return license_facts.next_change(cur, tenant, facts, self._catalogs(cur, tenant), after)

    def licenses(self, tenant: str) -> list[str]:
        with self.db.reading() as cur:
            return license_facts.licenses(cur, tenant)

    def tenants(self) -> list[str]:
        with self.db.reading() as cur:
            return [r[0] for r in cur.execute("SELECT tenant FROM rm_tenants ORDER BY tenant")
                    .fetchall()]

    def stored_state(self, tenant: str, license_id: str) -> tuple[datetime, dict[str, Any]] | None:
        """The denormalised row: the state as of the last change that touched the license."""
        with self.db.reading() as cur:
            row = cur.execute("SELECT as_of, state FROM rm_license_states WHERE tenant = ? AND "
                              "license_id = ?", (tenant, license_id)).fetchone()
        return (parse_time(row[0]), json.loads(row[1])) if row else None

    def tracked(self, key: str) -> int | None:
        with self.db.reading() as cur:
            row = cur.execute("SELECT value FROM rm_tracking WHERE tracking_key = ?",
                              (key,)).fetchone()
        return int(row[0]) if row else None

    def watermark(self) -> int:
        """Grows with every change to any read model: a cheap key for caches."""
        with self.db.reading() as cur:
            row = cur.execute("SELECT COALESCE(SUM(changes), 0) FROM rm_tracking").fetchone()
        return int(row[0]) if row else 0

    def changes_since(self, cursor: int) -> changes.Changes:
        """The change feed after `cursor`: whose answers moved (see `projections.changes`)."""
        return changes.since(self.db, cursor)

    def changes_end(self) -> int:
        return changes.newest(self.db)

    def newest_applied(self) -> int:
        """The highest ledger position applied (0: none); with Kafka, lower ones may still be
        on their way through other partitions."""
        with self.db.reading() as cur:
            row = cur.execute("SELECT MAX(position) FROM rm_applied").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def applied_positions(self) -> set[int]:
        with self.db.reading() as cur:
            return {int(r[0]) for r in cur.execute("SELECT position FROM rm_applied").fetchall()}

    def _state(self, cur: Cursor, tenant: str, license_id: str, catalogs: CatalogHistory,
               as_of: datetime) -> LicenseState | None:
        return license_facts.fold_state(cur, tenant, license_id,
                                        license_facts.facts(cur, tenant, license_id), catalogs, as_of)

    def _catalogs(self, cur: Cursor, tenant: str) -> CatalogHistory:
        positions = tuple(sorted(int(r[0]) for r in cur.execute(
            "SELECT position FROM rm_catalogs WHERE tenant = ?", (tenant,)).fetchall()))
        known = self._parsed.get(tenant)
        if known is not None and known[0] == positions:
            return known[1]
        found = cur.execute("SELECT position, record FROM rm_catalogs WHERE tenant = ?",
                            (tenant,)).fetchall()
        history = CatalogHistory.of(to_fact(json.loads(record), position)
                                    for position, record in found)
        if tuple(sorted(int(p) for p, _ in found)) == positions:  # no version landed in between
            self._parsed[tenant] = (positions, history)
        return history


def _claim(cur: Cursor, facts: Sequence[Fact]) -> list[Fact]:
    """The facts whose positions are seen for the first time, in ledger order. A concurrent
    claimer of the same position waits for our commit, then finds it taken."""
    unique = {int(f.position or 0): f for f in facts}
    claimed = tables.insert(cur, "rm_applied", ("position",), [(p,) for p in sorted(unique)],
                            "ON CONFLICT (position) DO NOTHING RETURNING position")
    return [unique[int(p)] for p in sorted(int(r[0]) for r in claimed)]


def _catalog_key(fact: Fact) -> str:
    """The row's key in rm_catalogs: the version, or for the withdrawal of a scheduled version
    the version and a unit separator (which no version holds), so each has one row."""
    return fact.subject if fact.type == CATALOG else f"{fact.subject}\x1fwithdrawn"
