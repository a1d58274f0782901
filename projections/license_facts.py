"""Each license's own facts as rm_licenses keeps them (usage is not among them, so the list stays
bounded), under the caller's cursor: locked and extended by `ReadModels.apply`, read and folded
at a moment by its queries; and a fact's stored JSON, which rm_catalogs shares."""

from __future__ import annotations

import json
from datetime import datetime

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import fold
from ledger.domain.state import LicenseState, state_at
from ledger.store.codec import fact_record, to_fact
from ledger.store.sql import Cursor
from projections import tables, usage


def lock_licenses(cur: Cursor, postgres: bool, tenant: str,
                  ids: list[str]) -> dict[str, tuple[list[Fact], str | None]]:
    """Lock the licenses' rows (made empty if new), in a fixed order so two workers cannot
    deadlock, and read their facts and customers under the lock."""
    tables.insert(cur, "rm_licenses", ("tenant", "license_id", "customer_id", "facts",
                                       "first_position", "last_position"),
                  [(tenant, lic, None, "[]", 0, 0) for lic in ids],
                  "ON CONFLICT (tenant, license_id) DO NOTHING")
    lock = " FOR UPDATE" if postgres else ""
    found: dict[str, tuple[list[Fact], str | None]] = {}
    for chunk in tables.chunks(ids):
        for license_id, facts, customer in cur.execute(
                "SELECT license_id, facts, customer_id FROM rm_licenses WHERE tenant = ? AND "
                f"license_id IN ({tables.marks(chunk)}) ORDER BY license_id{lock}",
                (tenant, *chunk)).fetchall():
            found[license_id] = (load(facts), customer)
    return found


def add_license_facts(cur: Cursor, tenant: str, license_id: str, stored: list[Fact],
                      new: list[Fact]) -> list[Fact]:
    # usage is not among them (it goes to the totals), so this list stays bounded
    facts = [*stored, *new]
    positions = [f.position or 0 for f in facts]
    cur.execute("UPDATE rm_licenses SET facts = ?, first_position = ?, last_position = ? "
                "WHERE tenant = ? AND license_id = ?",
                ("[" + ",".join(dump(f) for f in facts) + "]", min(positions),
                 max(positions), tenant, license_id))
    return facts


def fold_state(cur: Cursor, tenant: str, license_id: str, facts: list[Fact],
               catalogs: CatalogHistory, as_of: datetime,
               scheduled: datetime | None = None) -> LicenseState | None:
    terms = fold(facts, catalogs, as_of).terms
    if terms is None:
        return None
    return state_at(terms, catalogs, usage.TotalsUsage.of(cur, tenant, license_id, as_of),
                    as_of, scheduled=scheduled)


def facts(cur: Cursor, tenant: str, license_id: str) -> list[Fact]:
    row = cur.execute("SELECT facts FROM rm_licenses WHERE tenant = ? AND license_id = ?",
                      (tenant, license_id)).fetchone()
    return load(row[0]) if row else []


def customer_licenses(cur: Cursor, tenant: str, customer_id: str) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT license_id FROM rm_licenses WHERE tenant = ? AND customer_id = ? "
        "ORDER BY first_position, license_id", (tenant, customer_id)).fetchall()]


def next_change(cur: Cursor, tenant: str, facts: dict[str, list[Fact]],
                catalogs: CatalogHistory, after: datetime) -> datetime | None:
    """License and catalog facts are at hand (loaded for the fold); usage, kept out of them,
    is one indexed MIN that reads only the usage still ahead."""
    moments = [f.effective_at for f in (*catalogs.facts, *(f for fs in facts.values() for f in fs))
               if f.effective_at > after]
    moments += usage.next_after(cur, tenant, sorted(facts), after)
    return min(moments, default=None)


def licenses(cur: Cursor, tenant: str) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT license_id FROM rm_licenses WHERE tenant = ? AND last_position > 0 "
        "ORDER BY first_position, license_id", (tenant,)).fetchall()]


def load(facts: str) -> list[Fact]:
    return [to_fact(record, record["position"]) for record in json.loads(facts)]


def dump(fact: Fact) -> str:
    return json.dumps({**fact_record(fact), "position": fact.position}, separators=(",", ":"),
                      ensure_ascii=False)
