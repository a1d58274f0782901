"""A store created before the index's usage columns (main@9cb1041: `ledger_facts` without
feature, quantity, effective_at, recorded_at) opens, gets the columns filled in from its usage
facts, answers exactly as before and verifies; what is appended afterwards has them too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ledger.bootstrap import Wiring
from ledger.integrity import verify
from ledger.store.factstable import USAGE_COLUMNS
from tests.builders import catalog_envelope, envelope
from tests.integration import tampering

MOMENTS = [datetime(2026, m, d, 12, tzinfo=UTC) for m, d in ((2, 10), (3, 1), (3, 20), (4, 30))]


def test_a_store_without_the_usage_columns_opens_and_answers_the_same(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(database_url)
    wiring.ledger.ingest([
        catalog_envelope("2026-01-01"),
        envelope("license.granted", "2026-01-02", "lic-1", customer_id="c-1", plan="pro"),
        envelope("license.granted", "2026-01-02", "lic-2", customer_id="c-2", plan="basic"),
        *(envelope("usage.recorded", f"2026-{m:02d}-0{d}", lic, feature="api_calls", quantity=m * d)
          for m in (2, 3, 4) for d in (1, 5) for lic in ("lic-1", "lic-2")),
        envelope("license.revoked", "2026-03-03", "lic-2", reason="fraud"),
    ], "acme")
    before = {(lic, at): wiring.ledger.state("acme", lic, at) for lic in ("lic-1", "lic-2")
              for at in MOMENTS}
    wiring.close()
    for column in USAGE_COLUMNS:  # the table exactly as main@9cb1041 created it
        tampering.run(database_url, f"ALTER TABLE ledger_facts DROP COLUMN {column}")

    reopened = wiring_factory(database_url)
    assert {(lic, at): reopened.ledger.state("acme", lic, at) for lic, at in before} == before
    filled = tampering.run(database_url, "SELECT feature, quantity FROM ledger_facts WHERE "
                                         "kind = 'usage' ORDER BY sequence")
    assert len(filled) == 12 and all(f == "api_calls" and q > 0 for f, q in filled)
    assert verify(reopened.store).ok
    reopened.ledger.ingest([envelope("usage.recorded", "2026-04-06", "lic-1", feature="api_calls",
                                     quantity=1)], "acme")
    state = reopened.ledger.state("acme", "lic-1", MOMENTS[-1])
    assert state is not None and state["features"]["api_calls"]["used"] == 4 + 20 + 1
    assert verify(reopened.store).ok
