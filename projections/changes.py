"""The read models' change feed: which customers' answers a projected batch may have changed.

`ReadModels.apply` calls `record` in its transaction, after the rows are refreshed: one row
per customer whose licenses (or usage) moved, and one row with no customer for a tenant whose
catalog moved (every customer of it). A reader (the check's cache, in any process) follows the
feed by `seq` and drops exactly those entries: another customer's usage leaves them alone.

Order: on PostgreSQL, concurrent projectors take one advisory lock just before numbering their
rows, held until they commit, so rows become visible in `seq` order and a reader that has seen
`seq` n has seen everything below it. SQLite admits one writer at a time anyway. The feed is
pruned to its newest `KEEP` rows; a reader that fell further behind is told so (`Changes.lost`)
and must forget everything it holds. Clearing the read models keeps the feed (its numbering
goes on): a rebuild then names every customer it writes, as any projection does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger.store.sql import Cursor, Database

TABLES = ("""CREATE TABLE IF NOT EXISTS rm_changes (
    seq BIGINT PRIMARY KEY, tenant TEXT NOT NULL, customer_id TEXT)""",)

KEEP = 50_000
_LOCK = 7_342_100  # pg_advisory_xact_lock key of the feed's numbering
_MARKS = 500


@dataclass(frozen=True)
class Changes:
    """What a reader learns from one poll: the new cursor, the (tenant, customer or None for
    the whole tenant) pairs that moved, and whether it missed some and must forget it all."""

    cursor: int
    moved: tuple[tuple[str, str | None], ...]
    lost: bool = False


def record(cur: Cursor, postgres: bool, licenses: Iterable[tuple[str, str]],
           catalog_tenants: Iterable[str]) -> None:
    """Number and write the customers of `licenses` and the `catalog_tenants`, in the caller's
    transaction (so the feed says exactly what was committed)."""
    tenants = sorted(set(catalog_tenants))
    moved: list[tuple[str, str | None]] = [(t, None) for t in tenants]
    by_tenant: dict[str, list[str]] = {}
    for tenant, license_id in licenses:
        if tenant not in tenants:
            by_tenant.setdefault(tenant, []).append(license_id)
    for tenant, ids in sorted(by_tenant.items()):
        customers: set[str] = set()
        unique = sorted(set(ids))
        for start in range(0, len(unique), _MARKS):
            chunk = unique[start:start + _MARKS]
            customers |= {r[0] for r in cur.execute(
                f"SELECT customer_id FROM rm_licenses WHERE tenant = ? AND license_id IN "
                f"({', '.join('?' * len(chunk))}) AND customer_id IS NOT NULL",
                (tenant, *chunk)).fetchall()}
        moved += [(tenant, c) for c in sorted(customers)]
    if not moved:
        return
    if postgres:
        cur.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
    row = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM rm_changes").fetchone()
    last = int(row[0]) if row else 0
    for start in range(0, len(moved), _MARKS):
        part = moved[start:start + _MARKS]
        cur.execute("INSERT INTO rm_changes (seq, tenant, customer_id) VALUES "
                    + ", ".join(["(?, ?, ?)"] * len(part)),
                    [v for i, (t, c) in enumerate(part, start=last + start + 1) for v in (i, t, c)])
    newest = last + len(moved)
    if newest // 1000 != last // 1000:  # prune now and then, not on every batch
        cur.execute("DELETE FROM rm_changes WHERE seq <= ?", (newest - KEEP,))


def since(db: Database, cursor: int, limit: int = 10_000) -> Changes:
    """The feed after `cursor`. `lost` when rows after it were pruned, the feed restarted
    (cleared read models) or more than `limit` rows wait: forget everything, resume at the end."""
    with db.reading() as cur:
        rows = cur.execute("SELECT seq, tenant, customer_id FROM rm_changes WHERE seq > ? "
                           "ORDER BY seq LIMIT ?", (cursor, limit + 1)).fetchall()
        if not rows:
            # a second statement may see rows committed since the first (READ COMMITTED):
            # only a feed that restarted below the cursor is news here
            newest = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM rm_changes").fetchone()
            end = int(newest[0]) if newest else 0
            return Changes(end, (), lost=True) if end < cursor else Changes(cursor, ())
        if int(rows[0][0]) != cursor + 1 or len(rows) > limit:
            newest = cur.execute("SELECT MAX(seq) FROM rm_changes").fetchone()
            return Changes(int(newest[0]) if newest else 0, (), lost=True)
    return Changes(int(rows[-1][0]), tuple((t, c) for _, t, c in rows))


def newest(db: Database) -> int:
    """Where a new reader starts: it holds nothing yet, so nothing before matters."""
    with db.reading() as cur:
        row = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM rm_changes").fetchone()
    return int(row[0]) if row else 0
