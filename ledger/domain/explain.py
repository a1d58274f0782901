"""Why the check answers as it does at a moment: the facts that decided it, in words.

Nothing here decides anything: the answer is `check.decide` over the states the one fold gave,
and the facts named are found by replaying that same fold (`terms.apply`) over the license's
applied facts and noting which fact last changed each term. So an explanation can never
disagree with the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.check import Decision
from ledger.domain.facts import Fact
from ledger.domain.terms import Terms, apply
from ledger.domain.usage import CountedUsage, period_start
from schemas.times import format_time

# The terms each denial is about (which fact set them is what decided it).
DECIDING_TERMS = {
    "suspended": ("suspended",), "revoked": ("revoked_at",), "expired": ("ends_at", "trial"),
    "pending": ("starts_at",), "feature_not_in_plan": ("plan",), "region_blocked": ("region", "plan"),
    "limit_exceeded": ("plan",), "ok": ("plan", "ends_at"),
}


def last_changes(applied: Sequence[Fact], catalogs: CatalogHistory,
                 known_at: datetime) -> tuple[dict[str, Fact], Terms | None]:
    """Term name -> the applied fact that last changed it, by replaying the fold's own steps;
    and the terms they end in."""
    changed: dict[str, Fact] = {}
    terms: Terms | None = None
    for fact in applied:
        after = apply(terms, fact, catalogs, known_at)
        for term in fields(Terms):
            if terms is None or getattr(terms, term.name) != getattr(after, term.name):
                changed[term.name] = fact
        terms = after
    return changed, terms


def described(fact: Fact, why: str, position: int | None = None) -> dict[str, Any]:
    return {"why": why, "id": fact.source_event_id, "source": fact.source, "type": fact.type,
            "effective_at": format_time(fact.effective_at), "recorded_at": format_time(fact.recorded_at),
            "position": position if position is not None else fact.position,
            "sequence": fact.sequence, "hash": fact.hash, "data": fact.data}


def _by(fact: Fact) -> str:
    return (f"by {fact.source_event_id} from {fact.source}, effective {format_time(fact.effective_at)}, "
            f"recorded {format_time(fact.recorded_at)}")


def explanation(decision: Decision, feature: str, quantity: int, at: datetime, known_at: datetime,
                state: dict[str, Any] | None, applied: Sequence[Fact], catalogs: CatalogHistory,
                usage: CountedUsage) -> tuple[str, list[dict[str, Any]]]:
    """The sentence and the deciding facts of `decision` for the license it names (whose
    `state` and `applied` facts are given; none for `no_license`)."""
    if state is None or decision.reason == "no_license":
        return ("denied: no_license: the customer had no license as of "
                f"{format_time(at)}, as known at {format_time(known_at)}", [])
    changes, final = last_changes(applied, catalogs, known_at)
    terms = [changes[t] for t in DECIDING_TERMS.get(decision.reason, ()) if t in changes]
    named = sorted((f for n, f in enumerate(terms) if all(f is not g for g in terms[:n])),
                   key=lambda f: f.order)
    facts = [described(f, decision.reason) for f in named]
    lead = "allowed" if decision.allowed else f"denied: {decision.reason}"
    published = catalogs.published_in_force(at, known_at)
    catalog_words = ""
    if published is not None:
        fact, catalog = published
        facts.append(described(fact, "catalog in force"))
        catalog_words = f"catalog {catalog.version}, in force since {format_time(fact.effective_at)}"
    license_id = state["license_id"]
    plan = state["plan"]
    if decision.reason == "suspended":
        cause = changes["suspended"]
        words = (f"suspended since {format_time(cause.effective_at)} {_by(cause)}"
                 f"{' (' + str(cause.data['reason']) + ')' if cause.data.get('reason') else ''}")
    elif decision.reason == "revoked":
        cause = changes["revoked_at"]
        words = f"revoked at {format_time(cause.effective_at)} {_by(cause)} ({cause.data.get('reason')})"
    elif decision.reason == "expired":
        cause = changes.get("ends_at", applied[0])
        words = f"the term ended at {state['ends_at']} (set {_by(cause)}); no grace left ({catalog_words})"
    elif decision.reason == "pending":
        words = f"the license starts at {state['starts_at']} (granted {_by(changes['starts_at'])})"
    elif decision.reason == "feature_not_in_plan":
        words = f"plan {plan} (set {_by(changes['plan'])}) does not list {feature} in {catalog_words}"
    elif decision.reason == "region_blocked":
        words = (f"region {state['region']} is blocked for {feature} in {catalog_words} "
                 f"(region set {_by(changes['region'])})")
    else:
        words = f"plan {plan} (set {_by(changes['plan'])}) lists {feature} in {catalog_words}"
    entry = state["features"].get(feature) or {}
    if "limit" in entry and final is not None and decision.reason in ("ok", "limit_exceeded"):
        since = period_start(entry["period"], at)
        counted = usage.counted(final, feature, since, at)
        facts += [described(f, "usage counted") for f in counted]
        limit = "no limit" if entry["limit"] is None else f"{entry['limit']:,}"
        period = "ever" if entry["period"] == "total" else "this month"
        words += (f"; {entry['used']:,} + {quantity:,} used of {limit} {period}, by "
                  f"{len(counted)} usage record{'' if len(counted) == 1 else 's'}")
    return f"{lead}: {words} (license {license_id})", facts

