"""`replay --all` reads a batch of licenses' facts at once and the catalogs once: every state it
gives is the one `Ledger.state` gives for that license alone, as of any moment and as known at
any moment, with usage over several months, revocations and totals over the whole term."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ledger import reading
from ledger.bootstrap import Wiring
from tests.builders import CATALOG, catalog_envelope, envelope

# A second catalog version where api_calls counts over the whole term: every month is read.
TOTALS = {**CATALOG, "version": "2026-totals", "plans": {**CATALOG["plans"], "pro": {
    **CATALOG["plans"]["pro"], "features": {**CATALOG["plans"]["pro"]["features"],
                                           "api_calls": {"limit": 500, "period": "total"}}}}}


def a_tenant_in_two_sittings(wiring: Wiring) -> datetime:
    """Licenses with usage in several months, one revoked, one never granted usage; returns a
    moment between the two sittings, for answers as known then."""
    first = [catalog_envelope("2026-01-01")]
    for n in range(7):
        lic = f"lic-{n}"
        first.append(envelope("license.granted", "2026-01-02", lic, customer_id=f"c-{n % 3}",
                              plan="pro" if n % 2 else "basic", seats=3))
        for month in (1, 2, 3):
            first.append(envelope("usage.recorded", f"2026-{month:02d}-1{n}", lic,
                                  feature="api_calls", quantity=n + month))
    first.append(envelope("license.revoked", "2026-02-20", "lic-3", reason="fraud"))
    wiring.ledger.ingest(first, "acme")
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    wiring.ledger.ingest([
        catalog_envelope("2026-02-01", TOTALS),
        envelope("usage.recorded", "2026-02-25", "lic-1", feature="api_calls", quantity=40),
        envelope("usage.recorded", "2026-01-05", "lic-4", feature="api_calls", quantity=9),
        envelope("license.upgraded", "2026-02-10", "lic-0", plan="pro"),
        envelope("license.granted", "2026-03-01", "lic-late", customer_id="c-9", plan="pro"),
    ], "acme")
    return between


def test_replay_all_gives_each_license_the_state_it_has_alone(
        database_url: str, wiring_factory: Callable[..., Wiring], monkeypatch: pytest.MonkeyPatch
) -> None:
    wiring = wiring_factory(database_url)
    between = a_tenant_in_two_sittings(wiring)
    monkeypatch.setattr(reading, "BATCH", 3)  # several batches, one split mid-customer
    ids = wiring.store.licenses_of_tenant("acme")
    compared = 0
    for as_of in ("2026-01-20", "2026-02-15", "2026-02-28", "2026-03-31"):
        moment = datetime.fromisoformat(f"{as_of}T12:00:00+00:00")
        for known in (between, datetime.now(UTC)):
            alone = [s for s in (wiring.ledger.state("acme", i, moment, known) for i in ids) if s]
            assert wiring.ledger.replay("acme", moment, known) == alone
            compared += len(alone)
    assert compared > 40
    totals = wiring.ledger.state("acme", "lic-1", datetime(2026, 3, 31, tzinfo=UTC))
    assert totals is not None and totals["features"]["api_calls"]["period"] == "total"
