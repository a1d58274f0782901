"""A writer keeps its tenants' licenses from one batch to the next (`store.remembered`): that
never changes a judgement. Batches written by a writer that remembers, with another writer on
the same store appending in between at random, get exactly the outcomes and record exactly the
facts of batches written by a writer that reads every license afresh every batch."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import bootstrap
from ledger.domain.facts import Fact
from ledger.settings import Settings
from ledger.store.remembered import HeadKey, RememberedLicenses
from tests.builders import catalog_envelope
from tests.unit.test_laws import envelopes, numbered


class _Forgetful(RememberedLicenses):
    """Keeps nothing: every batch reads its licenses from the store."""

    def of(self, tenant: str, head: HeadKey | None) -> dict[str, list[Fact]]:
        return {}


def _wiring(path: Path) -> Any:
    return bootstrap(Settings(database_url=f"sqlite:///{path}", _env_file=None))  # type: ignore[call-arg]


def _recorded(wiring: Any) -> list[tuple[Any, ...]]:
    return [(f.tenant, f.subject, f.type, f.source_event_id, f.effective_at, f.sequence, f.data)
            for f in wiring.store.facts_after(0, 10_000)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(envelopes(), max_size=40), st.lists(st.integers(1, 6), min_size=1, max_size=12),
       st.lists(st.booleans(), min_size=12, max_size=12))
def test_a_writer_that_remembers_judges_as_one_that_reads_afresh(
        items: list[dict[str, Any]], sizes: list[int], others: list[bool]) -> None:
    events = [catalog_envelope(id="cat"), *numbered(items)]
    batches, at = [], 0
    while at < len(events):
        size = sizes[len(batches) % len(sizes)]
        batches.append(events[at:at + size])
        at += size
    folder = Path(tempfile.mkdtemp(prefix="remembered-"))
    mine, other = _wiring(folder / "shared.db"), _wiring(folder / "shared.db")
    fresh = _wiring(folder / "fresh.db")
    fresh.store.remembered = _Forgetful()
    try:
        got, expected = [], []
        for n, batch in enumerate(batches):
            writer = other if others[n % len(others)] else mine  # the other moves the head
            got += [(o.id, o.status, o.code) for o in writer.ledger.ingest(batch, "acme")]
            expected += [(o.id, o.status, o.code) for o in fresh.ledger.ingest(batch, "acme")]
        assert got == expected
        assert _recorded(mine) == _recorded(fresh)
    finally:
        for wiring in (mine, other, fresh):
            wiring.close()


def test_a_write_of_another_store_is_seen_by_the_next_batch(tmp_path: Path) -> None:
    """The head moved by another writer: the licenses kept for the old head are not used."""
    from tests.builders import envelope

    mine, other = _wiring(tmp_path / "l.db"), _wiring(tmp_path / "l.db")
    try:
        grant = envelope("license.granted", "2026-02-01", id="g", customer_id="c", plan="pro")
        usage = envelope("usage.recorded", "2026-02-03", id="u1", feature="api_calls", quantity=1)
        assert [o.status for o in mine.ledger.ingest([catalog_envelope(id="cat"), grant, usage],
                                                     "acme")] == ["accepted"] * 3
        revoked = envelope("license.revoked", "2026-02-02", id="r", reason="fraud")
        assert [o.status for o in other.ledger.ingest([revoked], "acme")] == ["accepted"]
        late = envelope("usage.recorded", "2026-02-04", id="u2", feature="api_calls", quantity=1)
        outcome = mine.ledger.ingest([late], "acme")[0]
        assert (outcome.status, outcome.code) == ("rejected", "revoked")
    finally:
        mine.close()
        other.close()


def test_a_batch_that_did_not_commit_leaves_nothing_of_its_drafts_for_the_next(
        tmp_path: Path, monkeypatch: Any) -> None:
    """A batch's folds over its own drafts are not kept: rolled back, its drafts never were."""
    from ledger.store.eventstore import ConcurrentAppendError
    from ledger.store.recorders import AppendCollidedError
    from tests.builders import envelope

    wiring = _wiring(tmp_path / "l.db")
    try:
        grant = envelope("license.granted", "2026-02-01", id="g", customer_id="c", plan="pro", seats=5)
        assert {o.status for o in wiring.ledger.ingest([catalog_envelope(id="cat"), grant], "acme")} == {"accepted"}
        chained = wiring.store._chained

        def collided(*args: Any) -> Any:
            raise AppendCollidedError("another writer, say")

        monkeypatch.setattr(wiring.store, "_chained", collided)
        lost = [envelope("license.suspended", "2026-02-03", id="a1", reason="payment_failed"),
                envelope("license.revoked", "2026-02-20", id="a2", reason="fraud"),
                envelope("usage.recorded", "2026-02-05", id="a3", feature="api_calls", quantity=1)]
        try:
            wiring.ledger.ingest(lost, "acme")
            raise AssertionError("the batch was not refused")
        except ConcurrentAppendError:
            pass
        monkeypatch.setattr(wiring.store, "_chained", chained)
        # judged against the grant and b1 (as the lost batch's usage was against a1's suspension)
        active = [envelope("seat.assigned", "2026-02-04", id="b1", user_id="u1"),
                  envelope("seat.assigned", "2026-02-25", id="b2", user_id="u2"),
                  envelope("license.reinstated", "2026-02-10", id="b3")]
        outcomes = [(o.id, o.status, o.code) for o in wiring.ledger.ingest(active, "acme")]
        assert outcomes == [("b1", "accepted", None), ("b2", "accepted", None),
                            ("b3", "rejected", "not_suspended")]
    finally:
        wiring.close()
