"""Usage as running totals per (tenant, license, feature, month), and a `UsageCounter` over them
for the one fold's `license_state`.

A total answers for a whole month. Replay counts a usage fact only inside the window asked
about and while the license exists and is not revoked (`ledger.domain.fold.usage_applies`);
when one of those edges falls inside a month's span of usage (a late revocation, the moment
asked about in the middle of recorded usage), that month is summed exactly from its facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ledger.domain.facts import Fact
from ledger.domain.fold import usage_window
from ledger.domain.terms import Terms
from ledger.domain.usage import month_key
from ledger.store.sql import Cursor
from projections import tables

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: a sortable integer on both databases."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def moment(us: int) -> datetime:
    """The inverse of `micros`."""
    return _EPOCH + timedelta(microseconds=us)


def next_after(cur: Cursor, tenant: str, license_ids: Sequence[str], after: datetime) -> list[datetime]:
    """The earliest effective time of the licenses' usage strictly after `after`, if any (a
    usage record scheduled ahead changes `used` when its time comes)."""
    found = []
    for chunk in tables.chunks(license_ids):
        row = cur.execute("SELECT MIN(effective_us) FROM rm_usage WHERE tenant = ? AND license_id "
                          f"IN ({tables.marks(chunk)}) AND effective_us > ?",
                          (tenant, *chunk, micros(after))).fetchone()
        if row and row[0] is not None:
            found.append(moment(int(row[0])))
    return found


@dataclass(frozen=True)
class Total:
    quantity: int
    first_us: int
    last_us: int


Totals = dict[str, dict[str, Total]]  # feature -> month -> total


def record(cur: Cursor, usage: Sequence[Fact]) -> set[tuple[str, str]]:
    """Add usage facts (already claimed, so each once) to the totals; returns the licenses touched."""
    sums: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 2**62, -2**62])
    singles = []
    for fact in usage:
        feature, quantity = fact.data["feature"], int(fact.data["quantity"])
        at, month = micros(fact.effective_at), month_key(fact.effective_at)
        singles.append((fact.position, fact.tenant, fact.subject, feature, month, at,
                        fact.sequence, quantity))
        total = sums[(fact.tenant, fact.subject, feature, month)]
        total[0] += quantity
        total[1] = min(total[1], at)
        total[2] = max(total[2], at)
    tables.insert(cur, "rm_usage", ("position", "tenant", "license_id", "feature", "month",
                                    "effective_us", "sequence", "quantity"), singles)
    tables.insert(
        cur, "rm_usage_totals",
        ("tenant", "license_id", "feature", "month", "quantity", "first_us", "last_us"),
        [(*key, *total) for key, total in sorted(sums.items())],
        "ON CONFLICT (tenant, license_id, feature, month) DO UPDATE SET "
        "quantity = rm_usage_totals.quantity + excluded.quantity, "
        "first_us = CASE WHEN excluded.first_us < rm_usage_totals.first_us "
        "THEN excluded.first_us ELSE rm_usage_totals.first_us END, "
        "last_us = CASE WHEN excluded.last_us > rm_usage_totals.last_us "
        "THEN excluded.last_us ELSE rm_usage_totals.last_us END")
    return {(tenant, license_id) for tenant, license_id, _, _ in sums}


def load(cur: Cursor, tenant: str, license_ids: Sequence[str], until: datetime) -> dict[str, Totals]:
    """The totals of some licenses of a tenant, for months up to the one of `until`."""
    found: dict[str, Totals] = defaultdict(lambda: defaultdict(dict))
    for chunk in tables.chunks(license_ids):
        for license_id, feature, month, quantity, first, last in cur.execute(
                "SELECT license_id, feature, month, quantity, first_us, last_us FROM "
                f"rm_usage_totals WHERE tenant = ? AND license_id IN ({tables.marks(chunk)}) "
                "AND month <= ?", (tenant, *chunk, month_key(until))).fetchall():
            found[license_id][feature][month] = Total(int(quantity), int(first), int(last))
    return found


class TotalsUsage:
    """How much of a feature a license used, from the totals; `since=None` means ever."""

    def __init__(self, cur: Cursor, tenant: str, license_id: str, totals: Totals):
        self.cur, self.tenant, self.license_id, self.totals = cur, tenant, license_id, totals

    @classmethod
    def of(cls, cur: Cursor, tenant: str, license_id: str, until: datetime) -> TotalsUsage:
        return cls(cur, tenant, license_id, load(cur, tenant, [license_id], until)[license_id])

    def used(self, terms: Terms, feature: str, since: datetime | None, until: datetime) -> int:
        start, end = usage_window(terms)
        low = micros(max(since, start) if since else start)
        high = micros(until)
        revoked = (micros(end[0]), end[1]) if end else None
        first_month = month_key(since) if since else ""
        count = 0
        for month, total in self.totals.get(feature, {}).items():
            if month < first_month:
                continue
            if total.last_us < low or total.first_us > high or (
                    revoked is not None and total.first_us > revoked[0]):
                continue  # nothing in this month counts
            if total.first_us >= low and total.last_us <= high and (
                    revoked is None or total.last_us < revoked[0]):
                count += total.quantity  # all of it counts
            else:
                count += self._exact(feature, month, low, high, revoked)
        return count

    def _exact(self, feature: str, month: str, low: int, high: int,
               revoked: tuple[int, int] | None) -> int:
        statement = ("SELECT COALESCE(SUM(quantity), 0) FROM rm_usage WHERE tenant = ? AND "
                     "license_id = ? AND feature = ? AND month = ? AND effective_us >= ? AND "
                     "effective_us <= ?")
        params: list[object] = [self.tenant, self.license_id, feature, month, low, high]
        if revoked is not None:
            # counted while before the revocation in effective order (ties in recorded order)
            statement += " AND (effective_us < ? OR (effective_us = ? AND sequence < ?))"
            params += [revoked[0], revoked[0], revoked[1]]
        row = self.cur.execute(statement, params).fetchone()
        return int(row[0]) if row else 0
