"""A license's usage summed by the database over the index's usage columns gives exactly the
answer of counting its decoded usage records (`CountedUsage`), on both stores: over random
histories with back-dated and late-recorded usage, back-dated revocations and usage at the same
moment as the revocation (ties by sequence), usage on the first instant of a month and at the
moment asked about, whole-term totals, as of random moments and as known at random moments."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ledger import reading
from ledger.bootstrap import Wiring
from ledger.domain.usage import CountedUsage
from schemas.times import format_time
from tests.builders import catalog_envelope, envelope
from tests.integration.test_replay_batches import TOTALS

START = datetime(2026, 1, 1, tzinfo=UTC)
EDGES = [datetime(2026, m, 1, tzinfo=UTC) for m in (2, 3, 4)]  # the first instant of a month


def a_moment(rng: random.Random) -> datetime:
    if rng.random() < 0.2:
        return rng.choice(EDGES)
    return START + timedelta(seconds=rng.randrange(0, 110 * 86400), microseconds=rng.choice(
        [0, 0, rng.randrange(1, 10**6)]))


def a_random_history(wiring: Wiring, rng: random.Random, tenant: str) -> list[datetime]:
    """Licenses granted at random moments, usage in sittings recorded one after another (some
    back-dated before earlier sittings' usage, some at a revocation's very moment), revocations
    back-dated; returns the moments between sittings, for answers as known then."""
    ids = [f"lic-{n}" for n in range(6)]
    wiring.ledger.ingest([catalog_envelope("2026-01-01"), *(
        envelope("license.granted", format_time(START + timedelta(days=rng.randrange(0, 40))), lic,
                 customer_id=f"c-{n}", plan=rng.choice(["pro", "basic"]), seats=2)
        for n, lic in enumerate(ids))], tenant)
    known, revoked = [], {}
    for sitting in range(4):
        batch = []
        for _ in range(60):
            lic = rng.choice(ids)
            at = revoked[lic] if lic in revoked and rng.random() < 0.3 else a_moment(rng)
            batch.append(envelope("usage.recorded", format_time(at), lic, quantity=rng.randrange(1, 50),
                                  feature=rng.choice(["api_calls", "api_calls", "reports"])))
        if sitting == 1:
            batch.append(catalog_envelope("2026-03-01", TOTALS))
        if sitting in (1, 2):
            lic, at = rng.choice(ids), a_moment(rng)
            revoked[lic] = at
            batch.insert(rng.randrange(len(batch)), envelope("license.revoked", format_time(at), lic,
                                                             reason="fraud"))
        wiring.ledger.ingest(batch, tenant)
        time.sleep(0.005)
        known.append(datetime.now(UTC))
        time.sleep(0.005)
    return known


def decoded_state(wiring: Wiring, tenant: str, license_id: str, as_of: datetime,
                  known_at: datetime) -> dict[str, object] | None:
    """The answer from every usage record decoded and counted (`CountedUsage`)."""
    store = wiring.store
    state = reading.typed_state_of(
        store.catalogs(tenant), store.license_facts(tenant, license_id),
        lambda _: CountedUsage.of(store.usage_facts(tenant, license_id), known_at), as_of, known_at)
    return state.as_dict() if state is not None else None


def test_summed_usage_answers_exactly_as_counting_the_decoded_usage_records(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(database_url)
    rng = random.Random(20261202)
    tenant = f"sum-{rng.randrange(10**6)}"
    known = a_random_history(wiring, rng, tenant)
    ids = wiring.store.licenses_of_tenant(tenant)
    usage = {i: wiring.store.usage_facts(tenant, i) for i in ids}
    nonzero = 0
    for _ in range(60):
        as_of = a_moment(rng) if rng.random() < 0.7 else rng.choice(
            [f.effective_at for i in ids for f in usage[i]])  # usage at the moment asked about
        known_at = rng.choice([*known, datetime.now(UTC)])
        for license_id in ids:
            summed = wiring.ledger.state(tenant, license_id, as_of, known_at)
            assert summed == decoded_state(wiring, tenant, license_id, as_of, known_at), (
                license_id, as_of, known_at)
            if summed and summed["features"].get("api_calls", {}).get("used"):
                nonzero += 1
    assert nonzero > 50  # the comparison is over real sums, not zeros
