"""A license's status over a span of time, as intervals: what reconciliation and compliance
compare with payments and usage. Computed with the one fold and the contract's status rule at
every moment the status can change, so it says what replay would say at any moment inside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact, later
from ledger.domain.fold import fold
from ledger.domain.state import status


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    status: str

    def overlap(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        lo, hi = max(self.start, start), min(self.end, end)
        return (lo, hi) if lo < hi else None


def statuses(facts: Sequence[Fact], catalogs: CatalogHistory, until: datetime,
             extra: Sequence[datetime] = ()) -> list[Span]:
    """The license's status from its grant until `until`, in spans of one status each (empty
    if it was not granted by then). `extra` moments are split at too (e.g. payment periods)."""
    final = fold(facts, catalogs, until).terms
    if final is None:
        return []
    graces = {timedelta(days=days) for days in catalogs.grace_days()}
    moments = {final.granted_at, final.starts_at, *extra, *(f.effective_at for f in facts),
               *(f.effective_at for f in catalogs.facts)}
    for fact in facts:  # every end a renewal or conversion ever set, and its grace
        terms = fold(facts, catalogs, fact.effective_at).terms
        if terms is not None and terms.ends_at is not None:
            moments |= {end for g in graces | {timedelta(0)}
                        if (end := later(terms.ends_at, g)) is not None}
    points = sorted(m for m in moments if final.granted_at <= m < until) + [until]
    spans: list[Span] = []
    for start, end in zip(points, points[1:], strict=False):
        terms = fold(facts, catalogs, start).terms
        if terms is None or start >= end:
            continue
        now = status(terms, catalogs, start)
        if spans and spans[-1].status == now and spans[-1].end == start:
            spans[-1] = Span(spans[-1].start, end, now)
        else:
            spans.append(Span(start, end, now))
    return spans


def uncovered(start: datetime, end: datetime,
              covers: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) that no interval of `covers` covers."""
    gaps, cursor = [], start
    for lo, hi in sorted(covers):
        if hi <= cursor:
            continue
        if lo > cursor:
            gaps.append((cursor, min(lo, end)))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(lo, hi) for lo, hi in gaps if lo < hi]
