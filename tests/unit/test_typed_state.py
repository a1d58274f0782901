"""The typed state: serialised, it is exactly the answer the landed code gave for any history
at any moment; and until its `changes_at` neither the clock nor anything recorded changes it."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, Fact
from ledger.domain.fold import fold
from ledger.domain.state import USABLE, state_at, status
from ledger.domain.terms import Terms
from ledger.domain.usage import CountedUsage, UsageCounter, period_start
from schemas.envelope import InvalidEventError, parse_envelope
from schemas.times import format_time, parse_time
from tests.builders import CATALOG, catalog_envelope
from tests.unit.test_laws import START, envelopes, numbered

SECOND = copy.deepcopy(CATALOG)
SECOND["version"] = "2026-06"
SECOND["plans"]["pro"]["grace_days"] = 3
SECOND["plans"]["basic"]["features"]["api_calls"]["limit"] = 5
SECOND["plans"]["basic"]["grace_days"] = 10
del SECOND["plans"]["enterprise"]["features"]["audit_export"]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def landed_license_state(terms: Terms, catalogs: CatalogHistory, usage: UsageCounter,
                         as_of: datetime, known_at: datetime = FAR_FUTURE) -> dict[str, Any]:
    """`ledger.domain.state.license_state` as landed (531f385), frozen here as the oracle."""
    current = status(terms, catalogs, as_of, known_at)
    catalog = catalogs.in_force(as_of, known_at)
    plan = catalog.plans.get(terms.plan) if catalog else None
    features: dict[str, Any] = {}
    for name, feature in (plan.features.items() if plan else ()):
        blocked = terms.region is not None and terms.region in feature.blocked_regions
        entry: dict[str, Any] = {"enabled": current in USABLE and not blocked}
        if blocked:
            entry["blocked_region"] = terms.region
        if feature.metered:
            since = period_start(feature.period, as_of)
            entry.update(limit=feature.limit, period=feature.period,
                         used=usage.used(terms, name, since, as_of))
        features[name] = entry
    return {
        "license_id": terms.license_id, "tenant": terms.tenant, "customer_id": terms.customer_id,
        "plan": terms.plan, "status": current, "seats": terms.seats,
        "seats_assigned": list(terms.seats_assigned), "starts_at": format_time(terms.starts_at),
        "ends_at": format_time(terms.ends_at) if terms.ends_at else None, "region": terms.region,
        "features": features, "catalog_version": catalog.version if catalog else None,
        "last_event_id": terms.last_event_id,
    }


def history(items: list[dict[str, Any]], rnd: random.Random,
            late: bool) -> tuple[list[Fact], list[Fact], CatalogHistory]:
    """License facts, usage and two catalog versions; `late`: recorded up to 30 days off."""
    facts = []
    for sequence, raw in enumerate(numbered(items), start=2):
        try:
            inbound = parse_envelope(raw)
        except InvalidEventError:
            continue
        recorded = inbound.time + timedelta(days=rnd.randint(-30, 30) if late else 0)
        facts.append(Fact("acme", inbound.subject, inbound.type, inbound.time, recorded,
                          inbound.source, inbound.id, inbound.data, sequence))
    catalogs = []
    for sequence, raw in enumerate([catalog_envelope(), catalog_envelope("2026-06-01", SECOND)]):
        parsed = parse_envelope(raw)
        catalogs.append(Fact("acme", parsed.subject, parsed.type, parsed.time, parsed.time, "x",
                             f"c{sequence}", parsed.data, sequence))
    return ([f for f in facts if f.type != "usage.recorded"],
            [f for f in facts if f.type == "usage.recorded"], CatalogHistory.of(catalogs))


moments = st.integers(0, 900 * 24).map(lambda hours: START + timedelta(hours=hours))


@PROPERTY
@given(st.lists(envelopes("lic-1"), max_size=25), st.randoms(), moments, moments, st.booleans())
def test_the_typed_state_serialised_is_the_landed_answer(items: list[dict[str, Any]], rnd: random.Random,
                                                         as_of: datetime, known_at: datetime,
                                                         late: bool) -> None:
    facts, usage, catalogs = history(items, rnd, late)
    for known in (known_at, FAR_FUTURE):
        terms = fold(facts, catalogs, as_of, known).terms
        if terms is None:
            continue
        counter = CountedUsage.of(usage, known)
        typed = state_at(terms, catalogs, counter, as_of, known)
        assert typed.as_dict() == landed_license_state(terms, catalogs, counter, as_of, known)


usage_envelopes = st.builds(
    lambda days, feature, quantity: {"specversion": "1.0", "id": "", "source": "billing/prop",
                                     "type": "usage.recorded", "subject": "lic-1",
                                     "time": format_time(START + timedelta(hours=days)),
                                     "data": {"feature": feature, "quantity": quantity}},
    st.integers(0, 500 * 24), st.sampled_from(["api_calls", "reports"]), st.integers(1, 600))


@PROPERTY
@given(st.lists(envelopes("lic-1"), max_size=20), st.lists(usage_envelopes, max_size=10),
       st.randoms(), st.data())
def test_nothing_changes_the_state_before_its_changes_at(items: list[dict[str, Any]],
                                                         used: list[dict[str, Any]],
                                                         rnd: random.Random, data: st.DataObject) -> None:
    facts, usage, catalogs = history(items + used, rnd, late=False)
    # mostly a minute before a moment where something happens: a fact, a term end, the end
    # of a grace period, the start of a month
    ends = sorted({parse_time(f.data["ends_at"]) + timedelta(days=d)
                   for f in facts if f.data.get("ends_at") for d in (0, 3, 7, 10)})
    near = {"end": ends, "fact": sorted({f.effective_at for f in (*facts, *usage)}),
            "month": [START.replace(year=2026 + m // 12, month=m % 12 + 1) for m in range(30)]}
    kind = data.draw(st.sampled_from(["end", "end", "end", "fact", "month", "any"]))
    if near.get(kind):
        as_of = data.draw(st.sampled_from(near[kind])) - timedelta(minutes=1)
    else:
        as_of = data.draw(moments)
    terms = fold(facts, catalogs, as_of).terms
    if terms is None:
        return
    ahead = [f.effective_at for f in (*facts, *usage, *catalogs.facts) if f.effective_at > as_of]
    counter = CountedUsage.of(usage)
    state = state_at(terms, catalogs, counter, as_of, scheduled=min(ahead, default=None))
    horizon = state.changes_at or as_of + timedelta(days=800)
    assert horizon > as_of
    fraction = data.draw(st.just(1.0) | st.floats(0, 1))
    later = as_of + (horizon - as_of - timedelta(microseconds=1)) * fraction
    later_terms = fold(facts, catalogs, later).terms
    assert later_terms is not None
    assert state_at(later_terms, catalogs, counter, later).as_dict() == state.as_dict()


@settings(PROPERTY, max_examples=400)
@given(st.lists(envelopes("lic-1"), max_size=20), st.lists(usage_envelopes, max_size=10),
       st.randoms(), moments, st.data())
def test_a_state_aged_by_the_clock_alone_is_the_folds_answer_while_nothing_happens(
        items: list[dict[str, Any]], used: list[dict[str, Any]], rnd: random.Random,
        as_of: datetime, data: st.DataObject) -> None:
    """`LicenseState.aged` (offline answers: license files, the last states streamed) gives
    the fold's own answer at a later moment when no fact takes effect in between: a term's
    end, the end of grace, a new usage month are the clock's alone."""
    facts, usage, catalogs = history(items + used, rnd, late=False)
    # mostly across a moment the clock alone changes: a term's end, the end of a grace
    # period (3, 7 or 10 days in the catalogs), the start of a month
    ends = sorted({parse_time(f.data["ends_at"]) + timedelta(days=d)
                   for f in facts if f.data.get("ends_at") for d in (0, 3, 7, 10)})
    months = [START.replace(year=2026 + m // 12, month=m % 12 + 1) for m in range(30)]
    across = data.draw(st.sampled_from(["end", "end", "month", "any"]))
    if across != "any" and (ends if across == "end" else months):
        moment = data.draw(st.sampled_from(ends if across == "end" else months))
        as_of = moment - timedelta(hours=data.draw(st.integers(1, 240)))
        later = moment + timedelta(hours=data.draw(st.integers(0, 240)))
    else:
        later = as_of + timedelta(hours=data.draw(st.integers(1, 2000)))
    terms = fold(facts, catalogs, as_of).terms
    if terms is None or any(as_of < f.effective_at <= later
                            for f in (*facts, *usage, *catalogs.facts)):
        return  # something happens in between: not the clock's alone
    counter = CountedUsage.of(usage)
    later_terms = fold(facts, catalogs, later).terms
    assert later_terms is not None
    assert (state_at(terms, catalogs, counter, as_of).aged(later).as_dict()
            == state_at(later_terms, catalogs, counter, later).as_dict())
