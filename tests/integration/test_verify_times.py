"""`ledger verify` reads canonical times on a fast path (`datetime.fromisoformat`): a time
rewritten in another spelling of the same moment, with every other byte of the record in the
ledger's own encoding and its hash still matching, is found all the same (its bytes are not
the ones the ledger wrote)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.bootstrap import Wiring
from ledger.integrity import verify
from ledger.store.codec import encode
from tests.builders import catalog_envelope, envelope
from tests.integration import tampering


@pytest.mark.parametrize("spelling", ["2026-03-05T00:00:00.000000Z", "2026-03-05T01:00:00+01:00",
                                      "2026-03-05t00:00:00z", "2026-03-05T00:00:00.0Z"])
def test_another_spelling_of_the_same_moment_is_found_altered(
        spelling: str, sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(sqlite_url)
    wiring.ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-03-01", "lic-1",
                                                       customer_id="c", plan="pro"),
                          envelope("usage.recorded", "2026-03-05", "lic-1", feature="api_calls",
                                   quantity=3)], "acme")
    assert verify(wiring.store).ok
    stream, version, record = tampering.fact_rows(sqlite_url)[-1]
    assert record["effective_at"] == "2026-03-05T00:00:00Z"
    tampering.run(sqlite_url, "UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
                  "originator_version = ?", (encode({**record, "effective_at": spelling}), stream,
                                             version))
    verdict = verify(wiring.store)
    assert not verdict.ok and "stored bytes are not those the ledger wrote" in str(verdict.problem)
