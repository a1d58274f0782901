"""The core laws, as hypothesis properties over arbitrary envelope sequences:
(a) replay from the store equals the state built incrementally, and a batch judges exactly as
one-at-a-time delivery; (b) redelivery changes nothing; (c) the order of delivery across
licenses does not matter; (d) the fold never raises, whatever the history."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import bootstrap
from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import fold, history
from ledger.domain.state import license_state
from ledger.domain.usage import CountedUsage
from ledger.settings import Settings
from schemas.envelope import InvalidEventError, parse_envelope
from schemas.times import format_time
from tests.builders import catalog_envelope

START = datetime(2026, 1, 1, tzinfo=UTC)
LICENSES = ["lic-1", "lic-2", "lic-3"]
MOMENTS = [START + timedelta(days=d) for d in (0, 45, 100, 200, 380, 800)]
LAWS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def day(offset: int) -> str:
    return format_time(START + timedelta(days=offset, hours=offset % 5))


plans = st.sampled_from(["basic", "pro", "enterprise", "ghost"])
ends = st.integers(5, 500).map(day)
DATA = {
    "license.granted": st.fixed_dictionaries({"customer_id": st.sampled_from(["c1", "c2"]), "plan": plans},
                                             optional={"seats": st.integers(1, 3), "ends_at": ends}),
    "license.trial_started": st.fixed_dictionaries({"customer_id": st.sampled_from(["c1", "c2"]),
                                                    "plan": plans, "ends_at": ends}),
    "license.trial_converted": st.fixed_dictionaries({}, optional={"plan": plans, "ends_at": ends}),
    "license.upgraded": st.fixed_dictionaries({"plan": plans}),
    "license.downgraded": st.fixed_dictionaries({"plan": plans}),
    "license.suspended": st.just({"reason": "payment_failed"}),
    "license.reinstated": st.just({}),
    "license.revoked": st.just({"reason": "fraud"}),
    "license.renewed": st.fixed_dictionaries({"ends_at": ends}),
    "license.seats_changed": st.fixed_dictionaries({"seats": st.integers(1, 3)}),
    "seat.assigned": st.fixed_dictionaries({"user_id": st.sampled_from(["u1", "u2", "u3"])}),
    "seat.released": st.fixed_dictionaries({"user_id": st.sampled_from(["u1", "u2", "u3"])}),
    "usage.recorded": st.fixed_dictionaries({"feature": st.sampled_from(["api_calls", "reports"]),
                                             "quantity": st.integers(1, 50)}),
}
GRANTS = ("license.granted", "license.trial_started")
GRANT_WEIGHT = ["license.granted"] * 4 + ["license.trial_started"] * 2 + list(DATA)


@st.composite
def envelopes(draw: st.DrawFn, license_id: str | None = None) -> dict[str, Any]:
    type_ = draw(st.sampled_from(GRANT_WEIGHT))
    return {"specversion": "1.0", "id": "", "source": "billing/prop", "type": type_,
            "time": day(draw(st.integers(0, 60) if type_ in GRANTS else st.integers(10, 420))),
            "subject": license_id or draw(st.sampled_from(LICENSES)), "data": draw(DATA[type_])}


def numbered(items: list[dict[str, Any]], prefix: str = "e") -> list[dict[str, Any]]:
    return [{**e, "id": f"{prefix}{i}"} for i, e in enumerate(items)]


def new_ledger() -> Any:
    directory = Path(tempfile.mkdtemp(prefix="laws-"))
    return bootstrap(Settings(database_url=f"sqlite:///{directory / 'l.db'}", _env_file=None))  # type: ignore[call-arg]


def states(wiring: Any, known_at: datetime | None = None) -> dict[tuple[str, datetime], Any]:
    known = known_at or datetime(9999, 1, 1, tzinfo=UTC)
    return {(lic, m): wiring.ledger.state("acme", lic, m, known) for lic in LICENSES for m in MOMENTS}


@LAWS
@given(st.lists(envelopes(), max_size=30))
def test_replay_from_the_store_equals_the_incrementally_built_state(items: list[dict[str, Any]]) -> None:
    wiring, batched = new_ledger(), new_ledger()
    stream = [catalog_envelope(), *numbered(items)]
    accepted: list[Fact] = []
    one_by_one = []
    for raw in stream:
        outcome = wiring.ledger.ingest([raw], "acme")[0]
        one_by_one.append(outcome.status)
        if outcome.fact is not None:
            accepted.append(outcome.fact)
    assert [o.status for o in batched.ledger.ingest(stream, "acme")] == one_by_one
    catalogs = CatalogHistory.of(f for f in accepted if f.type == "catalog.published")
    for known_at in sorted({f.recorded_at for f in accepted})[-3:]:
        for (lic, moment), stored in states(wiring, known_at).items():
            mine = [f for f in accepted if f.subject == lic and f.type != "usage.recorded"]
            usage = [f for f in accepted if f.subject == lic and f.type == "usage.recorded"]
            terms = fold(mine, catalogs, moment, known_at).terms
            expected = None if terms is None else license_state(
                terms, catalogs, CountedUsage.of(usage, known_at), moment, known_at)
            assert stored == expected
    wiring.close()
    batched.close()


@LAWS
@given(st.lists(envelopes(), max_size=25), st.lists(st.integers(0, 30), max_size=20))
def test_delivering_any_subset_again_changes_nothing(items: list[dict[str, Any]], again: list[int]) -> None:
    wiring = new_ledger()
    stream = [catalog_envelope(), *numbered(items)]
    first = wiring.ledger.ingest(stream, "acme")
    before, head = states(wiring), wiring.store.head("acme")
    accepted = [raw for raw, o in zip(stream, first, strict=True) if o.status == "accepted"]
    redelivered = [accepted[i % len(accepted)] for i in again]
    assert all(o.status == "duplicate" for o in wiring.ledger.ingest(redelivered, "acme"))
    assert states(wiring) == before and wiring.store.head("acme") == head
    wiring.close()


@LAWS
@given(st.tuples(*(st.lists(envelopes(lic), max_size=8) for lic in LICENSES)), st.randoms())
def test_the_order_of_delivery_across_licenses_does_not_matter(per_license: tuple[list[dict[str, Any]], ...],
                                                               rnd: random.Random) -> None:
    queues = [numbered(events, prefix=f"{lic}-") for lic, events in zip(LICENSES, per_license, strict=True)]

    def interleave() -> list[dict[str, Any]]:
        pending = [list(q) for q in queues if q]
        out = []
        while pending:
            queue = rnd.choice(pending)
            out.append(queue.pop(0))
            pending = [q for q in pending if q]
        return out

    first, second = new_ledger(), new_ledger()
    results = []
    for wiring in (first, second):
        stream = [catalog_envelope(id="catalog-1"), *interleave()]
        outcomes = wiring.ledger.ingest(stream, "acme")
        results.append({raw["id"]: o.status for raw, o in zip(stream, outcomes, strict=True)})
    assert results[0] == results[1]
    assert states(first) == states(second)
    first.close()
    second.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(envelopes("lic-1"), max_size=25), st.randoms(), st.sampled_from(MOMENTS))
def test_the_fold_never_raises_on_any_history(items: list[dict[str, Any]], rnd: random.Random,
                                              moment: datetime) -> None:
    facts = []
    for sequence, raw in enumerate(numbered(items), start=1):
        try:
            inbound = parse_envelope(raw)
        except InvalidEventError:
            continue
        recorded = inbound.time + timedelta(days=rnd.randint(-30, 30))
        facts.append(Fact("acme", inbound.subject, inbound.type, inbound.time, recorded, inbound.source,
                          inbound.id, inbound.data, sequence))
    catalog = parse_envelope(catalog_envelope())
    catalogs = CatalogHistory.of([Fact("acme", catalog.subject, catalog.type, catalog.time, catalog.time,
                                       "x", "c", catalog.data, 0)])
    licence_facts = [f for f in facts if f.type != "usage.recorded"]
    usage = [f for f in facts if f.type == "usage.recorded"]
    timeline = fold(licence_facts, catalogs, moment, moment)
    if timeline.terms is not None:
        license_state(timeline.terms, catalogs, CountedUsage.of(usage, moment), moment, moment)
    marked = history(licence_facts, usage, catalogs)
    assert len(marked) == len(facts)
