"""The read-model contract on a real PostgreSQL (and, for comparison, SQLite): answers equal
replay, redelivery and concurrent workers never double-apply, verify and rebuild work."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import pytest

from ledger.bootstrap import Wiring
from ledger.domain.facts import Fact
from projections.embedded import Follower
from projections.readmodel import ReadModels
from projections.rebuild import rebuild_from_ledger
from projections.verify import verify_projections
from tests.unit.test_projections import (
    DAY,
    MOMENTS,
    START,
    TENANT,
    all_facts,
    assert_same_as_replay,
    deliveries,
    dump,
    ingest,
    scenario,
)

pytestmark = pytest.mark.postgres

LICENSES = ["lic-1", "lic-2", "lic-3"]


@pytest.fixture
def wiring(database_url: str, wiring_factory: Callable[..., Wiring]) -> Wiring:
    return wiring_factory(database_url)


@pytest.fixture
def models(database_url: str) -> Iterator[ReadModels]:
    """Read models in the event store's own database and schema, as by default."""
    opened = ReadModels.open(database_url, clock=lambda: START + 10 * DAY)
    yield opened
    opened.close()


def test_states_from_read_models_equal_replay_of_the_ledger(wiring: Wiring,
                                                            models: ReadModels) -> None:
    ingest(wiring, scenario())

    models.apply(all_facts(wiring.store), tracking=("ledger", wiring.store.max_position()))

    assert_same_as_replay(wiring, models, [*LICENSES, "lic-unknown"])
    for customer in ("cust-1", "cust-2"):
        assert models.customer_states(TENANT, customer, MOMENTS[3]) == \
            wiring.ledger.replay(TENANT, MOMENTS[3], customer_id=customer)
    assert models.licenses(TENANT) == LICENSES
    assert models.tracked("ledger") == wiring.store.max_position()


def test_the_next_change_is_the_first_license_usage_or_catalog_fact_still_ahead(
        wiring: Wiring, models: ReadModels) -> None:
    facts = ingest(wiring, scenario())
    models.apply(facts)
    owner = {f.subject: f.data["customer_id"] for f in facts if "customer_id" in f.data}
    for customer in ("cust-1", "cust-2", "nobody"):
        for after in [START - 90 * DAY, *MOMENTS, *(f.effective_at for f in facts)]:
            ahead = [f.effective_at for f in facts if f.effective_at > after and (
                f.type == "catalog.published" or owner.get(f.subject) == customer)]
            expected = min(ahead, default=None)
            assert models.next_change(TENANT, customer, after) == expected, (customer, after)
            states, change = models.customer_states_and_next_change(TENANT, customer, after)
            assert ([s.as_dict() for s in states], change) == (
                models.customer_states(TENANT, customer, after), expected)


def test_redelivering_facts_in_any_interleaving_changes_nothing(wiring: Wiring,
                                                                models: ReadModels) -> None:
    ingest(wiring, scenario())
    facts = all_facts(wiring.store)
    models.apply(facts, tracking=("entitlements.events:0", len(facts)))
    before, watermark = dump(models), models.watermark()

    redelivered = [models.apply(batch) for batch in deliveries(facts, random.Random(7))]

    assert sum(redelivered) == 0
    assert dump(models) == before and models.watermark() == watermark


def test_concurrent_workers_with_overlapping_batches_apply_each_fact_once(
        wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario())
    facts = all_facts(wiring.store)
    plans = [deliveries(facts, random.Random(seed)) for seed in range(4)]
    counts: list[int] = []
    failures: list[BaseException] = []

    def work(batches: list[list[Fact]]) -> None:
        try:
            counts.append(sum(models.apply(batch) for batch in batches))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(plan,)) for plan in plans]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert failures == []
    assert sum(counts) == len(facts)
    assert models.watermark() == len(facts)
    assert verify_projections(wiring.store, wiring.ledger, models, MOMENTS[4]) == []


def test_the_follower_catches_up_and_wait_for_returns_once_facts_are_in(
        wiring: Wiring, models: ReadModels) -> None:
    ingest(wiring, scenario()[:6])
    follower = Follower(wiring.store, models, batch=3, interval=30)
    follower.start()
    try:
        later = ingest(wiring, scenario()[6:])
        follower.notify()
        assert follower.wait_for(later[-1].position or 0, timeout=10)
    finally:
        follower.stop()
    assert models.tracked("ledger") == later[-1].position
    assert_same_as_replay(wiring, models, LICENSES)


def test_verify_reports_tampering_and_lag_and_nothing_once_rebuilt(wiring: Wiring,
                                                                   models: ReadModels) -> None:
    facts = ingest(wiring, scenario())
    models.apply(facts[:5])
    behind = verify_projections(wiring.store, wiring.ledger, models, MOMENTS[0])
    Follower(wiring.store, models).catch_up()
    with models.db.transaction() as cur:
        cur.execute("UPDATE rm_usage_totals SET quantity = quantity + 1 WHERE license_id = ? "
                    "AND feature = ?", ("lic-3", "api_calls"))
    tampered = verify_projections(wiring.store, wiring.ledger, models, START + 30 * DAY)

    rebuild_from_ledger(wiring.store, models, batch=4)

    assert behind[0] == (f"read models are behind: applied up to {facts[4].position}, "
                         f"ledger at {facts[-1].position}")
    assert tampered[0] == ("tenant 'acme', license 'lic-3', field features.api_calls.used: "
                           "read model 71, ledger replay 70")
    assert verify_projections(wiring.store, wiring.ledger, models, START + 30 * DAY) == []
