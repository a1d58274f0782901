"""The one fold: a license's facts -> its terms at (as_of, known_at). Acceptance, replay,
history and the projections all go through here; there is no second implementation.

Facts are taken in effective-time order (ties in recorded order). A fact that no longer fits
the terms at its moment (a late revocation before a recorded upgrade, say) is skipped and
reported as superseded. The fold is total: no history makes it raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, Fact, RuleBrokenError, reject
from ledger.domain.terms import GRANTS, Terms, apply


@dataclass(frozen=True)
class Timeline:
    terms: Terms | None
    applied: tuple[Fact, ...]
    superseded: tuple[Fact, ...]


def fold(facts: Iterable[Fact], catalogs: CatalogHistory, as_of: datetime = FAR_FUTURE,
         known_at: datetime = FAR_FUTURE) -> Timeline:
    """The terms of a license as of `as_of`, from the facts recorded by `known_at`."""
    ordered = sorted((f for f in facts if f.recorded_at <= known_at and f.effective_at <= as_of),
                     key=lambda f: f.order)
    terms: Terms | None = None
    applied: list[Fact] = []
    superseded: list[Fact] = []
    for fact in ordered:
        try:
            terms = apply(terms, fact, catalogs, known_at)
        except RuleBrokenError:
            superseded.append(fact)
        else:
            applied.append(fact)
    return Timeline(terms, tuple(applied), tuple(superseded))


def judge(facts: Sequence[Fact], catalogs: CatalogHistory, new: Fact,
          before: Timeline | None = None) -> Terms:
    """Accept `new` only if it fits the terms at its effective time, given all facts so far;
    raises RuleBrokenError with the rule's code otherwise. `before`, if the caller has it, is
    `fold(facts, catalogs, as_of=new.effective_at)` (a batch judges many events of one license
    against the same facts)."""
    if new.type in GRANTS and any(f.type in GRANTS for f in facts):
        # A license id is granted once, ever: a back-dated second grant would rewrite whose it is.
        raise reject("license_exists", f"license {new.subject!r} already exists")
    if before is None:
        before = fold(facts, catalogs, as_of=new.effective_at)
    return apply(before.terms, new, catalogs)


def usage_window(terms: Terms) -> tuple[datetime, tuple[datetime, int] | None]:
    """When usage counts: from the grant on, and before the revocation if there is one (in
    effective order, ties in recorded order). Replay and the projections' totals both use it."""
    return terms.granted_at, terms.revoked_at


def usage_applies(terms: Terms | None, usage: Fact) -> bool:
    if terms is None:
        return False
    start, end = usage_window(terms)
    return usage.effective_at >= start and (end is None or usage.order < end)


def history(facts: Iterable[Fact], usage: Iterable[Fact],
            catalogs: CatalogHistory) -> list[tuple[Fact, str]]:
    """Every accepted fact of a license in effective order, marked applied or superseded."""
    timeline = fold(facts, catalogs)
    marked = [(f, "applied") for f in timeline.applied]
    marked += [(f, "superseded") for f in timeline.superseded]
    marked += [(u, "applied" if usage_applies(timeline.terms, u) else "superseded") for u in usage]
    return sorted(marked, key=lambda pair: pair[0].order)
