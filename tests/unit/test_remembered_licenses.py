"""A writer keeps its tenants' licenses from one batch to the next (`store.remembered`): on a
store nobody alters behind the writers, that never changes a judgement. Batches written by a writer that remembers, with another writer on
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
from ledger.judging import Outcome
from ledger.settings import Settings
from ledger.store.eventstore import ConcurrentAppendError
from ledger.store.recorders import AppendCollidedError
from ledger.store.records import LIFECYCLE
from ledger.store.remembered import HeadKey, RememberedLicenses
from tests.builders import CATALOG, catalog_envelope
from tests.unit.test_laws import day, envelopes, numbered


class _Forgetful(RememberedLicenses):
    """Keeps nothing: every batch reads its licenses from the store."""

    def of(self, tenant: str, head: HeadKey | None) -> dict[str, list[Fact]]:
        return {}


def _wiring(path: Path) -> Any:
    return bootstrap(Settings(database_url=f"sqlite:///{path}", _env_file=None))  # type: ignore[call-arg]


def _recorded(wiring: Any) -> list[tuple[Any, ...]]:
    return [(f.tenant, f.subject, f.type, f.source_event_id, f.effective_at, f.sequence, f.data)
            for f in wiring.store.facts_after(0, 10_000)]


def _collided(*args: Any) -> Any:
    raise AppendCollidedError("another writer, say")


def _judged_alike(batches: list[list[dict[str, Any]]], turns: list[str]) -> None:
    """Each batch written by `mine` (which remembers), `other` (a second store on the same
    database: it moves the head) or judged by `mine` and rolled back ("lost", recorded
    nowhere); the same batches but the lost ones by a writer that reads afresh: the same
    outcomes, the same facts."""
    folder = Path(tempfile.mkdtemp(prefix="remembered-"))
    mine, other = _wiring(folder / "shared.db"), _wiring(folder / "shared.db")
    fresh = _wiring(folder / "fresh.db")
    fresh.store.remembered = _Forgetful()
    try:
        got, expected = [], []
        for batch, turn in zip(batches, turns, strict=True):
            if turn == "lost":  # (if it had anything to record: else nothing to roll back)
                mine.store._chained = _collided
                try:
                    mine.ledger.ingest(batch, "acme")
                except ConcurrentAppendError:
                    pass
                finally:
                    del mine.store._chained
                continue
            writer = other if turn == "other" else mine
            got += [(o.id, o.status, o.code) for o in writer.ledger.ingest(batch, "acme")]
            expected += [(o.id, o.status, o.code) for o in fresh.ledger.ingest(batch, "acme")]
        assert got == expected
        assert _recorded(mine) == _recorded(fresh)
    finally:
        for wiring in (mine, other, fresh):
            wiring.close()


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
    _judged_alike(batches, ["other" if others[n % len(others)] else "mine" for n in range(len(batches))])


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


def test_after_another_writer_only_the_licenses_it_changed_are_read_again(
        tmp_path: Path, monkeypatch: Any) -> None:
    """Two writers sharing a tenant (billing keyed by license): after the other's batch, the
    writer reads again only the license the other recorded a lifecycle fact for, and judges
    by that fact; a license the other only metered is not read again."""
    from tests.builders import envelope

    mine, other = _wiring(tmp_path / "l.db"), _wiring(tmp_path / "l.db")
    read: list[list[str]] = []
    facts = mine.store._facts

    def counted(tenant: str, kind: str, subjects: Any = None, *args: Any) -> Any:
        if kind == LIFECYCLE:
            read.append(sorted(subjects or []))
        return facts(tenant, kind, subjects, *args)

    monkeypatch.setattr(mine.store, "_facts", counted)
    try:
        def granted(license_id: str) -> list[dict[str, Any]]:
            return [envelope("license.granted", "2026-02-01", id=f"g-{license_id}",
                             subject=license_id, customer_id="c", plan="pro"),
                    envelope("usage.recorded", "2026-02-02", id=f"u0-{license_id}",
                             subject=license_id, feature="api_calls", quantity=1)]

        first = [catalog_envelope(id="cat"), *granted("L1"), *granted("L2")]
        assert {o.status for o in mine.ledger.ingest(first, "acme")} == {"accepted"}
        again = [envelope("usage.recorded", "2026-02-02", id=f"u1-{n}", subject=n,
                          feature="api_calls", quantity=1) for n in ("L1", "L2")]
        assert {o.status for o in mine.ledger.ingest(again, "acme")} == {"accepted"}
        assert read[-1] == ["L1", "L2"]  # the grants were this writer's: read once after them
        revoked = envelope("license.revoked", "2026-02-03", id="r", subject="L1", reason="fraud")
        metered = envelope("usage.recorded", "2026-02-03", id="o-u", subject="L2",
                           feature="api_calls", quantity=1)
        assert [o.status for o in other.ledger.ingest([revoked, metered], "acme")] == ["accepted"] * 2
        read.clear()
        late = [envelope("usage.recorded", "2026-02-04", id=f"u2-{n}", subject=n,
                         feature="api_calls", quantity=1) for n in ("L1", "L2")]
        outcomes = mine.ledger.ingest(late, "acme")
        assert [(o.status, o.code) for o in outcomes] == [("rejected", "revoked"), ("accepted", None)]
        assert read == [["L1"]]
        # a kept head that is no longer the record it was: nothing is carried over from it
        from ledger.store import streams
        stream = streams.chain_stream("acme")
        version, state = mine.store.recorder.newest(stream)
        assert mine.store.recorder.licenses_changed_since(stream, "acme", (version - 1, state)) is None
        assert mine.store.recorder.licenses_changed_since(stream, "acme", (version, state)) == set()
    finally:
        mine.close()
        other.close()


def test_a_batch_that_did_not_commit_leaves_nothing_of_its_drafts_for_the_next(
        tmp_path: Path, monkeypatch: Any) -> None:
    """A batch's folds over its own drafts are not kept: rolled back, its drafts never were."""
    from tests.builders import envelope

    wiring = _wiring(tmp_path / "l.db")
    try:
        grant = envelope("license.granted", "2026-02-01", id="g", customer_id="c", plan="pro", seats=5)
        assert {o.status for o in wiring.ledger.ingest([catalog_envelope(id="cat"), grant], "acme")} == {"accepted"}
        chained = wiring.store._chained
        monkeypatch.setattr(wiring.store, "_chained", _collided)
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


def _one_seat_granted(wiring: Any, tenant: str) -> Outcome:
    """A catalog and a one-seat license `lic-1` for `tenant`; the grant's outcome."""
    from tests.builders import envelope

    grant = envelope("license.granted", "2026-02-01", id="g", customer_id="c", plan="pro", seats=1)
    outcomes = wiring.ledger.ingest([catalog_envelope(id="cat"), grant], tenant)
    assert {o.status for o in outcomes} == {"accepted"}
    return outcomes[1]


def _two_seats_asked(wiring: Any, tenant: str) -> list[tuple[str, str | None]]:
    """Two seats asked of `lic-1`: with one seat, the second is refused."""
    from tests.builders import envelope

    seats = [envelope("seat.assigned", "2026-02-02", id="s1", user_id="u1"),
             envelope("seat.assigned", "2026-02-03", id="s2", user_id="u2")]
    return [(o.status, o.code) for o in wiring.ledger.ingest(seats, tenant)]


def test_what_a_caller_does_with_the_facts_it_was_handed_changes_no_judgement(tmp_path: Path) -> None:
    """The writer keeps nothing a caller holds: an `Outcome.fact` is the caller's to change."""
    wiring = _wiring(tmp_path / "l.db")
    try:
        handed = _one_seat_granted(wiring, "acme").fact
        assert handed is not None
        handed.data["seats"] = 3  # an embedder's hook, say
        assert _two_seats_asked(wiring, "acme") == [("accepted", None), ("rejected", "no_free_seat")]
    finally:
        wiring.close()


def test_the_tenants_kept_are_bounded_and_a_dropped_one_is_read_afresh(tmp_path: Path) -> None:
    wiring = _wiring(tmp_path / "l.db")
    wiring.store.remembered = RememberedLicenses(tenants=2)
    try:
        for tenant in ("t1", "t2", "t3"):
            _one_seat_granted(wiring, tenant)
        assert set(wiring.store.remembered._tenants) == {"t2", "t3"}
        assert _two_seats_asked(wiring, "t1") == [("accepted", None), ("rejected", "no_free_seat")]
    finally:
        wiring.close()


# Catalogs published part-way: one that reorders the tiers and adds a plan, one back-dated that
# drops a plan; payments; redeliveries; two tenants in one batch.
_REORDERED = {**CATALOG, "version": "2026-05",
              "plans": {**CATALOG["plans"], "basic": {**CATALOG["plans"]["basic"], "tier": 5},
                        "ghost": {"tier": 4, "features": {"reports": {}}}}}
_DROPPED = {**CATALOG, "version": "2025-12",
            "plans": {k: v for k, v in CATALOG["plans"].items() if k != "enterprise"}}
_PAYMENT = {"amount": 1, "currency": "EUR", "invoice_id": "i",
            "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z"}


@st.composite
def _mixed(draw: st.DrawFn) -> dict[str, Any]:
    tenant = draw(st.sampled_from(["acme", "beta"]))
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return catalog_envelope(time=day(draw(st.integers(0, 300)))[:10], tenantid=tenant,
                                catalog=draw(st.sampled_from([_REORDERED, _DROPPED])))
    if kind == 1:
        return {**draw(envelopes()), "type": "payment.succeeded", "data": _PAYMENT, "tenantid": tenant}
    return {**draw(envelopes()), "tenantid": tenant}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mixed(), max_size=50), st.randoms(use_true_random=False))
def test_two_tenants_catalogs_payments_redeliveries_and_rolled_back_batches(
        items: list[dict[str, Any]], rnd: Any) -> None:
    events = [catalog_envelope(id="cat", tenantid="acme"), catalog_envelope(id="cat", tenantid="beta"),
              *numbered(items)]
    for n in range(len(events) // 10):  # some delivered again, later
        events.insert(rnd.randrange(len(events) + 1), dict(rnd.choice(events[:max(1, n * 10)])))
    batches, at = [], 0
    while at < len(events):
        size = rnd.randint(1, 6)
        batches.append(events[at:at + size])
        at += size
    chances = [rnd.random() for _ in batches]
    _judged_alike(batches, ["lost" if c < 0.15 else "other" if c < 0.35 else "mine" for c in chances])
