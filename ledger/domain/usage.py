"""Usage periods and counting. A counter is anything that can say how much of a feature a
license used in a window; replay counts facts, the projections keep running totals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ledger.domain.facts import FAR_FUTURE, Fact
from ledger.domain.terms import Terms


def month_key(moment: datetime) -> str:
    """The calendar month in UTC, e.g. '2026-03': the key of a usage period and its stream.
    Exactly `strftime("%Y-%m")` (every usage fact's index row holds it, and `ledger verify`
    derives it again), spelled without strftime's format parsing, which was ~10x the cost;
    years before 1000, which the platform's strftime may not pad, still go through it."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year >= 1000:
        return f"{moment.year}-{moment.month:02d}"
    return moment.strftime("%Y-%m")


def period_start(period: str, moment: datetime) -> datetime | None:
    """Start of the period that contains `moment`; None for 'total' (since ever)."""
    if period == "total":
        return None
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


class UsageCounter(Protocol):
    def used(self, terms: Terms, feature: str, since: datetime | None, until: datetime) -> int: ...


@dataclass(frozen=True)
class CountedUsage:
    """Usage from the facts themselves, as recorded by `known_at` (for replay and audits)."""

    facts: tuple[Fact, ...]
    known_at: datetime = FAR_FUTURE

    @classmethod
    def of(cls, facts: Iterable[Fact], known_at: datetime = FAR_FUTURE) -> CountedUsage:
        return cls(tuple(facts), known_at)

    def used(self, terms: Terms, feature: str, since: datetime | None, until: datetime) -> int:
        return sum(int(f.data["quantity"]) for f in self.counted(terms, feature, since, until))

    def counted(self, terms: Terms, feature: str, since: datetime | None, until: datetime) -> list[Fact]:
        """The usage records `used` adds up (explanations name them)."""
        from ledger.domain.fold import usage_applies

        return [
            f for f in self.facts
            if f.data["feature"] == feature and f.recorded_at <= self.known_at
            and f.effective_at <= until and (since is None or f.effective_at >= since)
            and usage_applies(terms, f)
        ]
