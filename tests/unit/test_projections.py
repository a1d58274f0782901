"""Read models on SQLite: they answer what a replay of the ledger answers, whatever the order
and however often facts arrive. The same contract runs on PostgreSQL in tests/integration."""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import Wiring, bootstrap
from ledger.domain.facts import Fact
from ledger.settings import Settings
from ledger.store.eventstore import LedgerStore
from projections import tables
from projections.embedded import Follower
from projections.readmodel import ReadModels
from projections.rebuild import rebuild_from_ledger
from projections.verify import verify_projections
from schemas.times import format_time

TENANT = "acme"
DAY = timedelta(days=1)
START = datetime(2026, 3, 1, tzinfo=UTC)

CATALOG: dict[str, Any] = {
    "version": "2026-01",
    "plans": {
        "basic": {"tier": 1, "features": {"reports": {}, "api_calls": {"limit": 1000}}},
        "pro": {"tier": 2, "grace_days": 7,
                "features": {"reports": {}, "sso": {}, "api_calls": {"limit": 100000},
                             "exports": {"limit": 50, "period": "total"}}},
        "enterprise": {"tier": 3, "features": {"reports": {}, "sso": {}, "api_calls": {"limit": None},
                                               "audit_export": {"blocked_regions": ["KP"]}}},
    },
}
# A later version without "basic", and with a higher pro limit: its effect on licenses granted
# before it exists is what catalog facts in the read models are for.
CATALOG_APRIL: dict[str, Any] = {
    "version": "2026-04",
    "plans": {"pro": {"tier": 2, "grace_days": 7,
                      "features": {"reports": {}, "sso": {}, "api_calls": {"limit": 200000},
                                   "exports": {"limit": 50, "period": "total"}}},
              "enterprise": CATALOG["plans"]["enterprise"]},
}

MOMENTS = [START + timedelta(days=d, hours=h) for d, h in
           [(0, 12), (8, 0), (13, 0), (15, 0), (20, 6), (31, 0), (33, 0), (42, 0), (50, 0),
            (80, 0), (400, 0)]]


def envelope(kind: str, subject: str, at: datetime, data: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"evt-{uuid.uuid4().hex[:12]}", "source": "billing/test",
            "type": kind, "time": format_time(at), "subject": subject, "tenantid": TENANT,
            "data": data or {}, **extra}


def scenario() -> list[dict[str, Any]]:
    """Grants, a trial, upgrades, seats, usage over two months, a late suspension, a late
    revocation before recorded usage, and a later catalog version."""
    d = lambda days, hours=0: START + timedelta(days=days, hours=hours)  # noqa: E731
    return [
        envelope("catalog.published", "2026-01", datetime(2026, 1, 1, tzinfo=UTC), CATALOG),
        envelope("license.granted", "lic-1", d(0), {"customer_id": "cust-1", "plan": "basic",
                 "seats": 3, "ends_at": format_time(d(92)), "region": "DE"}),
        envelope("license.trial_started", "lic-2", d(0), {"customer_id": "cust-1", "plan": "pro",
                 "ends_at": format_time(d(14))}),
        envelope("license.granted", "lic-3", d(0), {"customer_id": "cust-2", "plan": "pro",
                 "seats": 2, "ends_at": format_time(d(40))}),
        envelope("seat.assigned", "lic-1", d(1), {"user_id": "u-1"}),
        envelope("seat.assigned", "lic-1", d(1, 1), {"user_id": "u-2"}),
        envelope("usage.recorded", "lic-1", d(4), {"feature": "api_calls", "quantity": 100}),
        envelope("license.upgraded", "lic-1", d(9), {"plan": "pro"}),
        envelope("usage.recorded", "lic-1", d(19), {"feature": "api_calls", "quantity": 200}),
        envelope("usage.recorded", "lic-1", d(32), {"feature": "api_calls", "quantity": 50}),
        envelope("usage.recorded", "lic-3", d(24), {"feature": "api_calls", "quantity": 70}),
        envelope("usage.recorded", "lic-3", d(25), {"feature": "exports", "quantity": 5}),
        envelope("usage.recorded", "lic-3", d(35), {"feature": "exports", "quantity": 5}),
        envelope("license.suspended", "lic-3", d(7), {"reason": "payment_failed"}),  # late
        envelope("license.reinstated", "lic-3", d(11)),  # late
        envelope("license.revoked", "lic-1", d(14), {"reason": "fraud"}),  # late: usage after it
        envelope("catalog.published", "2026-04", d(31), CATALOG_APRIL),
    ]


def ingest(wiring: Wiring, envelopes: list[dict[str, Any]]) -> list[Fact]:
    outcomes = wiring.ledger.ingest(envelopes, TENANT)
    assert [o.status for o in outcomes] == ["accepted"] * len(envelopes), outcomes
    return [o.fact for o in outcomes if o.fact is not None]


def all_facts(store: LedgerStore) -> list[Fact]:
    facts: list[Fact] = []
    while batch := store.facts_after(facts[-1].position or 0 if facts else 0, 7):
        facts += batch
    return facts


def dump(models: ReadModels) -> dict[str, list[tuple[Any, ...]]]:
    with models.db.transaction() as cur:
        return {name: sorted(cur.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
                for name in tables.NAMES}


def assert_same_as_replay(wiring: Wiring, models: ReadModels, licenses: list[str],
                          moments: list[datetime] = MOMENTS) -> None:
    for as_of in moments:
        for license_id in licenses:
            assert models.license_state(TENANT, license_id, as_of) == \
                wiring.ledger.state(TENANT, license_id, as_of), (license_id, as_of)


@pytest.fixture
def wiring(sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> Wiring:
    return wiring_factory(sqlite_url)


@pytest.fixture
def models(tmp_path: Path) -> Iterator[ReadModels]:
    """Read models whose clock (the moment of their stored state rows) is fixed in March 2026."""
    opened = ReadModels.open(f"sqlite:///{tmp_path / 'read.db'}", clock=lambda: START + 10 * DAY)
    yield opened
    opened.close()


def test_states_from_read_models_equal_replay_of_the_ledger(wiring: Wiring,
                                                            models: ReadModels) -> None:
    ingest(wiring, scenario())

    models.apply(all_facts(wiring.store), tracking=("ledger", wiring.store.max_position()))

    assert_same_as_replay(wiring, models, ["lic-1", "lic-2", "lic-3", "lic-unknown"])
    april = START + timedelta(days=33)
    lic1 = models.license_state(TENANT, "lic-1", april)
    assert lic1 is not None and lic1["status"] == "revoked" and lic1["plan"] == "pro"
    assert lic1["features"]["api_calls"]["used"] == 0  # April usage came after the revocation
    march = models.license_state(TENANT, "lic-1", START + timedelta(days=20))
    assert march is not None and march["features"]["api_calls"]["used"] == 100
    for customer in ("cust-1", "cust-2", "cust-none"):
        for as_of in MOMENTS:
            assert models.customer_states(TENANT, customer, as_of) == \
                wiring.ledger.replay(TENANT, as_of, customer_id=customer)
    assert models.licenses(TENANT) == ["lic-1", "lic-2", "lic-3"]


def test_expiry_follows_the_clock_at_query_time_not_the_last_event(wiring: Wiring,
                                                                   models: ReadModels) -> None:
    ingest(wiring, scenario())
    models.apply(all_facts(wiring.store))

    states = [models.license_state(TENANT, "lic-3", START + timedelta(days=d)) for d in (39, 42, 48)]

    assert [s["status"] for s in states if s] == ["active", "grace", "expired"]


def test_redelivering_facts_changes_nothing(wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario())
    facts = all_facts(wiring.store)
    models.apply(facts, tracking=("entitlements.events:0", 10))
    before, watermark = dump(models), models.watermark()

    again = [models.apply(random.Random(seed).sample(facts, 5)) for seed in range(5)]
    again.append(models.apply(facts + facts, tracking=("entitlements.events:0", 4)))

    assert again == [0] * 6
    assert models.watermark() == watermark
    assert {k: v for k, v in dump(models).items() if k != "rm_tracking"} == \
        {k: v for k, v in before.items() if k != "rm_tracking"}
    assert models.tracked("entitlements.events:0") == 10  # an older offset never moves it back


def test_each_batch_commits_with_its_tracking_record_and_moves_the_watermark(
        wiring: Wiring, models: ReadModels) -> None:
    facts = ingest(wiring, scenario())

    first = models.apply(facts[:4], tracking=("entitlements.events:1", 4))
    mark = models.watermark()
    second = models.apply(facts[4:], tracking=("entitlements.events:1", len(facts)))

    assert (first, second) == (4, len(facts) - 4)
    assert models.tracked("entitlements.events:1") == len(facts)
    assert models.tracked("entitlements.events:2") is None
    assert models.watermark() > mark > 0


def test_a_failed_batch_leaves_neither_its_changes_nor_its_tracking_record(
        wiring: Wiring, models: ReadModels) -> None:
    facts = ingest(wiring, scenario())
    broken = Fact(**{**facts[1].__dict__, "subject": "lic-x", "data": {}, "position": 10_000})

    with pytest.raises(KeyError):
        models.apply([*facts[:3], broken], tracking=("ledger", 10_000))

    assert models.tracked("ledger") is None and models.applied_positions() == set()
    assert models.apply(facts, tracking=("ledger", facts[-1].position or 0)) == len(facts)


def test_read_models_hold_seats_features_and_states_as_rows_for_sql_users(
        wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario()[:8])

    models.apply(all_facts(wiring.store))

    with models.db.transaction() as cur:
        seats = cur.execute("SELECT license_id, user_id, customer_id FROM rm_seats").fetchall()
        features = cur.execute("SELECT feature, enabled FROM rm_features WHERE tenant = ? AND "
                               "customer_id = ? AND license_id = ? ORDER BY feature",
                               (TENANT, "cust-1", "lic-1")).fetchall()
    assert sorted(seats) == [("lic-1", "u-1", "cust-1"), ("lic-1", "u-2", "cust-1")]
    assert features == [("api_calls", 1), ("exports", 1), ("reports", 1), ("sso", 1)]
    stored = models.stored_state(TENANT, "lic-1")
    assert stored is not None and stored[1] == wiring.ledger.state(TENANT, "lic-1", stored[0])


# -- any interleaving ------------------------------------------------------------------------

KINDS = ["grant", "grant", "trial", "convert", "upgrade", "downgrade", "suspend", "reinstate",
         "revoke", "renew", "seats", "assign", "release", "catalog", *["usage"] * 6]


def arbitrary_envelope(kind: str, subject: str, day: int, n: int) -> dict[str, Any]:
    at = START + timedelta(days=day, hours=n)
    ends = format_time(at + timedelta(days=10 + 10 * n))
    events: dict[str, tuple[str, dict[str, Any]]] = {
        "grant": ("license.granted", {"customer_id": f"cust-{n % 2}", "seats": 2, "ends_at": ends,
                                      "plan": ["basic", "pro"][n % 2]}),
        "trial": ("license.trial_started", {"customer_id": f"cust-{n % 2}", "plan": "pro",
                                            "ends_at": ends}),
        "convert": ("license.trial_converted", {"ends_at": ends} if n % 2 else {}),
        "upgrade": ("license.upgraded", {"plan": ["pro", "enterprise"][n % 2]}),
        "downgrade": ("license.downgraded", {"plan": ["basic", "pro"][n % 2]}),
        "suspend": ("license.suspended", {"reason": "payment_failed"}),
        "reinstate": ("license.reinstated", {}),
        "revoke": ("license.revoked", {"reason": "fraud"}),
        "renew": ("license.renewed", {"ends_at": ends}),
        "seats": ("license.seats_changed", {"seats": 1 + n}),
        "assign": ("seat.assigned", {"user_id": f"u-{n}"}),
        "release": ("seat.released", {"user_id": f"u-{n}"}),
        "usage": ("usage.recorded", {"feature": ["api_calls", "exports"][n % 2],
                                     "quantity": 1 + n * 7}),
        "catalog": ("catalog.published", {**CATALOG_APRIL, "version": f"v-{day}-{n}"}),
    }
    event_type, data = events[kind]
    return envelope(event_type, data["version"] if kind == "catalog" else subject, at, data)


LICENSES = st.sampled_from(["lic-a", "lic-b", "lic-c"])
# Licenses granted early, then anything at any day: many arrive late, some break rules.
histories = st.builds(
    lambda grants, events: grants + events,
    st.lists(st.tuples(st.sampled_from(["grant", "trial"]), LICENSES, st.integers(0, 3),
                       st.integers(0, 3)), min_size=2, max_size=4),
    st.lists(st.tuples(st.sampled_from(KINDS), LICENSES, st.integers(0, 60), st.integers(0, 3)),
             max_size=30))


def deliveries(facts: list[Fact], rnd: random.Random) -> list[list[Fact]]:
    """Batches as a partitioned topic may deliver them: each key's facts in ledger order, keys
    interleaved at random, with earlier facts delivered again now and then."""
    queues: dict[str, list[Fact]] = {}
    for fact in facts:
        queues.setdefault(fact.subject, []).append(fact)
    stream: list[Fact] = []
    while any(queues.values()):
        queue = rnd.choice([q for q in queues.values() if q])
        stream.append(queue.pop(0))
        if rnd.random() < 0.25:
            stream += rnd.sample(stream, rnd.randint(1, min(3, len(stream))))
    batches = []
    while stream:
        size = rnd.randint(1, 6)
        batches.append(stream[:size])
        stream = stream[size:]
    return batches


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, rnd=st.randoms(use_true_random=False))
def test_any_interleaving_and_redelivery_of_an_accepted_history_gives_replayed_states(
        history: list[tuple[str, str, int, int]], rnd: random.Random) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wiring = bootstrap(Settings(database_url=f"sqlite:///{tmp}/ledger.db",
                                    _env_file=None))  # type: ignore[call-arg]
        models = ReadModels.open(f"sqlite:///{tmp}/read.db")
        try:
            wiring.ledger.ingest([envelope("catalog.published", "2026-01",
                                           datetime(2026, 1, 1, tzinfo=UTC), CATALOG)], TENANT)
            for item in history:
                wiring.ledger.ingest([arbitrary_envelope(*item)], TENANT)
            facts = all_facts(wiring.store)

            for number, batch in enumerate(deliveries(facts, rnd)):
                models.apply(batch, tracking=("entitlements.events:0", number))

            assert models.applied_positions() == {f.position for f in facts}
            assert_same_as_replay(wiring, models, ["lic-a", "lic-b", "lic-c"])
            for customer in ("cust-0", "cust-1"):
                ours = models.customer_states(TENANT, customer, MOMENTS[6])
                assert ours == [s for s in (wiring.ledger.state(TENANT, lic, MOMENTS[6])
                                            for lic in models.licenses(TENANT))
                                if s and s["customer_id"] == customer]
            assert verify_projections(wiring.store, wiring.ledger, models, MOMENTS[5]) == []
        finally:
            models.close()
            wiring.close()


# -- the embedded follower -------------------------------------------------------------------


def test_the_follower_catches_up_with_everything_the_ledger_holds(wiring: Wiring,
                                                                  models: ReadModels) -> None:
    facts = ingest(wiring, scenario())
    follower = Follower(wiring.store, models, batch=4)

    applied = follower.catch_up()

    assert applied == len(facts)
    assert models.tracked("ledger") == facts[-1].position
    assert follower.catch_up() == 0
    assert_same_as_replay(wiring, models, ["lic-1", "lic-2", "lic-3"])


def test_the_running_follower_applies_new_facts_and_wait_for_returns_once_they_are_in(
        wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario()[:4])
    follower = Follower(wiring.store, models, interval=30)  # so only notify() can wake it soon
    follower.start()
    try:
        assert follower.wait_for(wiring.store.max_position(), timeout=5)
        later = ingest(wiring, scenario()[4:8])
        started = time.monotonic()

        follower.notify()
        reached = follower.wait_for(later[-1].position or 0, timeout=5)

        assert reached and time.monotonic() - started < 5
        assert models.tracked("ledger") == later[-1].position
        assert not follower.wait_for(wiring.store.max_position() + 1000, timeout=0.3)
    finally:
        follower.stop()
    assert_same_as_replay(wiring, models, ["lic-1", "lic-2", "lic-3"])


def test_read_models_in_the_event_store_database_follow_it_too(
        sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(sqlite_url)
    models = ReadModels.open(sqlite_url)  # the embedded default: one file for both
    try:
        ingest(wiring, scenario())
        Follower(wiring.store, models).catch_up()
        assert verify_projections(wiring.store, wiring.ledger, models, MOMENTS[4]) == []
    finally:
        models.close()


# -- verify and rebuild ----------------------------------------------------------------------


def test_verify_finds_no_difference_in_caught_up_read_models(wiring: Wiring,
                                                             models: ReadModels) -> None:
    ingest(wiring, scenario())
    Follower(wiring.store, models).catch_up()

    assert [verify_projections(wiring.store, wiring.ledger, models, m) for m in MOMENTS] == \
        [[] for _ in MOMENTS]


def test_verify_names_tenant_license_and_field_of_a_tampered_usage_total(
        wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario())
    Follower(wiring.store, models).catch_up()
    with models.db.transaction() as cur:
        cur.execute("UPDATE rm_usage_totals SET quantity = quantity + 1 WHERE license_id = ? "
                    "AND feature = ?", ("lic-3", "api_calls"))

    problems = verify_projections(wiring.store, wiring.ledger, models, START + timedelta(days=30))

    assert problems[0] == ("tenant 'acme', license 'lic-3', field features.api_calls.used: "
                           "read model 71, ledger replay 70")


def test_verify_names_a_tampered_state_row(wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario())
    Follower(wiring.store, models).catch_up()
    with models.db.transaction() as cur:
        cur.execute("UPDATE rm_license_states SET state = REPLACE(state, '\"seats\":2', "
                    "'\"seats\":9') WHERE license_id = ?", ("lic-3",))

    problems = verify_projections(wiring.store, wiring.ledger, models, MOMENTS[0])

    assert len(problems) == 1
    assert problems[0].startswith("tenant 'acme', license 'lic-3' (stored row as of ")
    assert problems[0].endswith("field seats: read model 9, ledger replay 2")


def test_verify_reports_read_models_that_are_behind_the_ledger(wiring: Wiring,
                                                               models: ReadModels) -> None:
    facts = ingest(wiring, scenario())
    models.apply(facts[:5])

    problems = verify_projections(wiring.store, wiring.ledger, models, MOMENTS[0])

    assert problems[0] == (f"read models are behind: applied up to {facts[4].position}, "
                           f"ledger at {facts[-1].position}")


def test_rebuild_from_the_ledger_gives_the_same_read_models(wiring: Wiring,
                                                            models: ReadModels) -> None:
    ingest(wiring, scenario())
    Follower(wiring.store, models).catch_up()
    with models.db.transaction() as cur:
        cur.execute("UPDATE rm_usage_totals SET quantity = 0")
        cur.execute("DELETE FROM rm_licenses WHERE license_id = 'lic-2'")

    applied = rebuild_from_ledger(wiring.store, models, batch=3)

    assert applied == len(all_facts(wiring.store))
    assert verify_projections(wiring.store, wiring.ledger, models, MOMENTS[3]) == []
