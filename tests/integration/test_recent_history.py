"""A license's newest history entries, as the portal shows them, read without decoding its
older usage records: the same entries as the end of its whole history, on both stores."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.bootstrap import Wiring
from tests.builders import catalog_envelope, envelope


def _license(wiring: Wiring) -> None:
    usage = [envelope("usage.recorded", f"2026-03-{1 + k % 20:02d}T00:00:{k % 3:02d}Z", "lic-1",
                      id=f"u{k}", feature="api_calls", quantity=1) for k in range(60)]
    outcomes = wiring.ledger.ingest([
        catalog_envelope("2026-01-01"),
        envelope("license.granted", "2026-02-01", "lic-1", customer_id="c", plan="pro", seats=3),
        *usage[:40],
        envelope("seat.assigned", "2026-03-05", "lic-1", user_id="u-1"),
        envelope("license.revoked", "2026-03-18", "lic-1", reason="chargeback"),  # later usage superseded
        *usage[40:],
        envelope("usage.recorded", "2026-03-10", "lic-2", tenant=None, feature="api_calls", quantity=1),
    ], "acme")
    # usage effective after the revocation is refused once it is recorded; lic-2 is unknown
    assert [o.status for o in outcomes].count("accepted") == 61


@pytest.mark.parametrize("limit", [0, 1, 7, 50, 100])
def test_the_newest_entries_are_the_end_of_the_whole_history(
        database_url: str, wiring_factory: Callable[..., Wiring], limit: int) -> None:
    wiring = wiring_factory(database_url)
    _license(wiring)
    whole = wiring.ledger.history("acme", "lic-1")
    newest, total = wiring.ledger.recent_history("acme", "lic-1", limit)
    assert total == len(whole) == 60  # the catalog is not the license's
    assert newest == (whole[-limit:] if limit else [])
    # usage recorded before the late revocation and effective after it: superseded
    assert [e["status"] for e in whole].count("superseded") == 6


def test_only_the_newest_usage_records_are_decoded(
        database_url: str, wiring_factory: Callable[..., Wiring],
        monkeypatch: pytest.MonkeyPatch) -> None:
    wiring = wiring_factory(database_url)
    _license(wiring)
    loaded: list[int] = []
    import ledger.store.tenantreads as reads

    load = reads.load_fact
    monkeypatch.setattr(reads, "load_fact", lambda raw, *a: loaded.append(1) or load(raw, *a))
    wiring.ledger.recent_history("acme", "lic-1", 5)
    assert len(loaded) == 1 + 3 + 5  # the catalog; the grant, seat, revocation; five usage records
