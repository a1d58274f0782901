"""The denormalised rows of a license, for people who query the read models with SQL: its
state as of the last change that touched it, its seat assignments and its features per customer.
They are refreshed in the transaction that changes the license, from the one fold."""

from __future__ import annotations

import json
from datetime import datetime

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import fold
from ledger.domain.state import state_at
from ledger.store.sql import Cursor
from projections import tables, usage
from schemas.times import format_time


def refresh(cur: Cursor, tenant: str, licenses: dict[str, tuple[list[Fact], str | None]],
            catalogs: CatalogHistory, now: datetime) -> None:
    """Rewrite each license's customer (from all its facts), state, seats and features as of
    `now`. `licenses` maps a license id to its facts and the customer stored so far."""
    ids = sorted(licenses)
    totals = usage.load(cur, tenant, ids, now)
    states, seats, features = [], [], []
    for license_id in ids:
        facts, stored_customer = licenses[license_id]
        # The fold as of any moment is a prefix of the fold over everything, so the customer of
        # the license, whenever it exists, is the one of its whole history.
        forever = fold(facts, catalogs).terms
        customer = forever.customer_id if forever else None
        if customer != stored_customer:
            cur.execute("UPDATE rm_licenses SET customer_id = ? WHERE tenant = ? AND "
                        "license_id = ?", (customer, tenant, license_id))
        terms = fold(facts, catalogs, now).terms
        if terms is None:
            continue
        counter = usage.TotalsUsage(cur, tenant, license_id, totals[license_id])
        state = state_at(terms, catalogs, counter, now)
        key, customer = (tenant, license_id), state.customer_id
        states.append((*key, customer, state.status, format_time(now),
                       json.dumps(state.as_dict(), sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)))
        seats += [(*key, user, customer) for user in state.seats_assigned]
        features += [(*key, name, customer, int(entry.enabled))
                     for name, entry in state.features.items()]
    for table in ("rm_license_states", "rm_seats", "rm_features"):
        for chunk in tables.chunks(ids):
            cur.execute(f"DELETE FROM {table} WHERE tenant = ? AND license_id IN "
                        f"({tables.marks(chunk)})", (tenant, *chunk))
    tables.insert(cur, "rm_license_states",
                  ("tenant", "license_id", "customer_id", "status", "as_of", "state"), states)
    tables.insert(cur, "rm_seats", ("tenant", "license_id", "user_id", "customer_id"), seats)
    tables.insert(cur, "rm_features",
                  ("tenant", "license_id", "feature", "customer_id", "enabled"), features)
