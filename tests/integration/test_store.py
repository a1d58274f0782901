"""The store contract, run against SQLite and a real PostgreSQL server alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ledger.bootstrap import Wiring
from ledger.integrity import verify
from ledger.store import streams
from tests.builders import CATALOG, catalog_envelope, envelope, t
from tests.integration import tampering

Make = Callable[..., Wiring]


def grant(subject: str, **kw: Any) -> dict[str, Any]:
    return envelope("license.granted", "2026-03-01", subject, customer_id="cust-7", plan="pro", **kw)


def seeded(make: Make, url: str) -> Wiring:
    wiring = make(url)
    outcomes = wiring.ledger.ingest([catalog_envelope(), grant("lic-1"), grant("lic-2"),
                                     envelope("seat.assigned", "2026-03-02", "lic-1", user_id="u1"),
                                     envelope("usage.recorded", "2026-03-03", "lic-1",
                                              feature="api_calls", quantity=5)], "acme")
    assert [o.status for o in outcomes] == ["accepted"] * 5
    return wiring


def test_accepted_facts_read_back_in_ledger_order_with_growing_positions(wiring_factory: Make,
                                                                        database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    facts = wiring.store.facts_after(0)
    assert [f.type for f in facts] == ["catalog.published", "license.granted", "license.granted",
                                       "seat.assigned", "usage.recorded"]
    positions = [f.position for f in facts]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert [f.sequence for f in facts] == [1, 2, 3, 4, 5]
    assert wiring.store.facts_after(positions[2]) == facts[3:]
    state = wiring.ledger.state("acme", "lic-1", t("2026-03-10"))
    assert state is not None and state["seats_assigned"] == ["u1"]
    assert state["features"]["api_calls"]["used"] == 5


def test_the_same_source_and_id_is_a_duplicate_across_restarts(wiring_factory: Make, database_url: str) -> None:
    first = seeded(wiring_factory, database_url)
    event = envelope("license.suspended", "2026-04-01", "lic-2", id="stripe-1", reason="payment_failed")
    assert first.ledger.ingest([event], "acme")[0].status == "accepted"
    first.close()
    again = wiring_factory(database_url)
    assert again.ledger.ingest([event], "acme")[0].status == "duplicate"
    assert again.ledger.ingest([{**event, "source": "billing/sap"}], "acme")[0].code == "already_suspended"
    assert again.ledger.ingest([event], "other-tenant")[0].code == "unknown_license"


def test_an_accepted_event_sent_again_garbled_is_still_a_duplicate(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    event = envelope("license.suspended", "2026-04-01", "lic-2", id="stripe-7", reason="payment_failed")
    assert wiring.ledger.ingest([event], "acme")[0].status == "accepted"
    garbled = {**event, "time": "2026-04-01T00:00:00", "data": {}}
    assert wiring.ledger.ingest([garbled], "acme")[0].status == "duplicate"
    never_seen = {**garbled, "id": "stripe-8"}
    assert wiring.ledger.ingest([never_seen], "acme")[0].code == "invalid_event"


def test_a_rejected_event_may_be_sent_again_and_is_judged_afresh(wiring_factory: Make, database_url: str) -> None:
    wiring = wiring_factory(database_url)
    event = grant("lic-9", id="early")
    assert wiring.ledger.ingest([event], "acme")[0].code == "unknown_plan"
    wiring.ledger.ingest([catalog_envelope()], "acme")
    assert wiring.ledger.ingest([event], "acme")[0].status == "accepted"


def test_a_catalog_version_is_immutable(wiring_factory: Make, database_url: str) -> None:
    wiring = wiring_factory(database_url)
    assert wiring.ledger.ingest([catalog_envelope()], "acme")[0].status == "accepted"
    assert wiring.ledger.ingest([catalog_envelope()], "acme")[0].status == "duplicate"
    changed = {**CATALOG, "plans": {"basic": {"tier": 1}}}
    assert wiring.ledger.ingest([catalog_envelope(catalog=changed)], "acme")[0].code == "catalog_version_exists"


def test_concurrent_writers_to_one_tenant_keep_one_unbroken_chain(wiring_factory: Make, database_url: str) -> None:
    seeded(wiring_factory, database_url)
    writers = [wiring_factory(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def write(n: int, wiring: Wiring) -> None:
        try:
            for i in range(15):
                out = wiring.ledger.ingest([grant(f"w{n}-{i}")], "acme")
                assert out[0].status == "accepted", out
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n, w)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    verdict = verify(writers[0].store)
    assert verdict.ok and verdict.tenants == {"acme": 5 + 45}
    assert writers[0].store.head("acme").sequence == 50  # type: ignore[union-attr]


def test_concurrent_seat_assignments_never_exceed_the_seat_count(wiring_factory: Make, database_url: str) -> None:
    seeded(wiring_factory, database_url)
    writers = [wiring_factory(database_url) for _ in range(4)]
    statuses: list[str] = []

    def assign(n: int, wiring: Wiring) -> None:
        for i in range(6):
            event = envelope("seat.assigned", "2026-03-05", "lic-2", user_id=f"user-{n}-{i}")
            statuses.extend(o.code or o.status for o in wiring.ledger.ingest([event], "acme"))

    threads = [threading.Thread(target=assign, args=(n, w)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = writers[0].ledger.state("acme", "lic-2", t("2026-03-06"))
    assert state is not None and len(state["seats_assigned"]) == 1 == statuses.count("accepted")
    assert statuses.count("no_free_seat") == 23


def test_a_second_writer_of_the_tenant_waits_and_judges_against_the_first(wiring_factory: Make,
                                                                         database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    other = wiring_factory(database_url)
    revocation = envelope("license.revoked", "2026-03-01", "lic-1", reason="chargeback")
    late: list[str] = []
    waiter = threading.Thread(target=lambda: late.extend(
        o.code or o.status for o in other.ledger.ingest([revocation], "acme")))

    def judge() -> list[Any]:  # holds the tenant's lock while the other writer tries
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive() and not late, "the second writer must wait for the lock"
        return []

    wiring.store.write(["acme"], judge)
    waiter.join(timeout=10)
    assert late == ["accepted"]
    usage = envelope("usage.recorded", "2026-03-10", "lic-1", feature="api_calls", quantity=5)
    assert wiring.ledger.ingest([usage], "acme")[0].code == "revoked"


def test_verify_names_an_event_altered_in_the_database(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    assert verify(wiring.store).ok
    stream, version, record = tampering.fact_rows(database_url)[3]
    tampering.rewrite(database_url, stream, version, {**record, "data": {"user_id": "mallory"}})
    verdict = verify(wiring.store)
    assert not verdict.ok
    assert f"event {record['source_event_id']!r}" in verdict.problem and "altered" in verdict.problem  # type: ignore[operator]


def test_verify_notices_a_removed_event(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    stream, version, _ = tampering.fact_rows(database_url)[1]
    tampering.delete(database_url, stream, version)
    verdict = verify(wiring.store)
    assert not verdict.ok and "removed" in verdict.problem  # type: ignore[operator]


def test_verify_notices_two_events_swapped(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    rows = tampering.fact_rows(database_url)
    (s1, v1, r1), (s2, v2, r2) = rows[1], rows[2]
    tampering.rewrite(database_url, s1, v1, r2)
    tampering.rewrite(database_url, s2, v2, r1)
    assert not verify(wiring.store).ok


def test_a_cut_off_tail_is_caught_by_the_head(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    head = wiring.store.head("acme")
    assert head is not None and verify(wiring.store, "acme", (head.sequence, head.hash)).ok
    last = wiring.store.facts_after(0)[-1]
    tampering.cut_tail(database_url, last.position)  # the event with its link, receipt, index
    assert wiring.store.head("acme").sequence == head.sequence - 1  # type: ignore[union-attr]
    assert verify(wiring.store).ok, "a chain alone cannot see its newest events cut off"
    verdict = verify(wiring.store, "acme", (head.sequence, head.hash))
    assert not verdict.ok and "head" in verdict.problem  # type: ignore[operator]


def test_verify_notices_an_event_moved_to_another_license(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    seat = wiring.store.facts_after(0)[3]  # lic-1's seat
    tampering.rewrite_index(database_url, "acme", seat.sequence, "subject", "lic-2")
    verdict = verify(wiring.store)
    assert not verdict.ok and "moved" in verdict.problem and seat.source_event_id in verdict.problem  # type: ignore[operator]


def test_verify_notices_an_event_moved_to_another_tenants_chain(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    stream, version, record = tampering.fact_rows(database_url)[4]
    other = streams.chain_stream("globex")
    tampering.move(database_url, stream, version, _id(other, database_url), version)
    verdict = verify(wiring.store)
    assert not verdict.ok and "moved" in verdict.problem and record["source_event_id"] in verdict.problem  # type: ignore[operator]


def test_verify_notices_a_removed_index_entry(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    tampering.delete_index(database_url, "acme", 3)
    verdict = verify(wiring.store)
    assert not verdict.ok and "index entry is missing" in verdict.problem  # type: ignore[operator]


def test_verify_notices_an_altered_receipt(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    granted = wiring.store.facts_after(0)[1]
    tampering.rewrite_index(database_url, "acme", granted.sequence, "source_event_id", "other-id")
    verdict = verify(wiring.store)
    assert not verdict.ok and repr(granted.source_event_id) in verdict.problem  # type: ignore[operator]


def test_verify_names_an_unreadable_row_instead_of_crashing(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    stream, version, _ = tampering.fact_rows(database_url)[2]
    tampering.run(database_url, "UPDATE stored_events SET state = %s WHERE originator_id = %s AND "
                  "originator_version = %s", (b"{bad", stream, version))
    verdict = verify(wiring.store)
    assert not verdict.ok and "unreadable" in verdict.problem  # type: ignore[operator]


def _id(stream: Any, url: str) -> Any:
    return stream.hex if "sqlite" in url else stream


def test_history_lists_positions_and_applied_or_superseded(wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    wiring.ledger.ingest([envelope("license.revoked", "2026-03-02T12:00:00Z", "lic-1", reason="fraud")], "acme")
    events = wiring.ledger.history("acme", "lic-1")
    assert [(e["type"], e["status"]) for e in events] == [
        ("license.granted", "applied"), ("seat.assigned", "applied"), ("license.revoked", "applied"),
        ("usage.recorded", "superseded")]
    positions = {f.source_event_id: f.position for f in wiring.store.facts_after(0)}
    assert all(e["position"] == positions[e["id"]] for e in events)


def test_a_tenants_hashes_facts_and_sequences_are_found_by_sequence_and_by_id(
        wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    facts = wiring.store.facts_after(0)
    assert wiring.store.event_hashes("acme") == [f.hash for f in facts]
    assert wiring.store.event_hashes("acme", upto=2) == [f.hash for f in facts[:2]]
    assert wiring.store.event_hashes("nobody") == []
    assert wiring.store.fact_at_sequence("acme", 3) == facts[2]
    assert wiring.store.fact_at_sequence("acme", 99) is None
    assert wiring.store.sequence_of("acme", facts[3].source, facts[3].source_event_id) == 4
    assert wiring.store.sequence_of("other", facts[3].source, facts[3].source_event_id) is None


def test_every_envelope_gets_the_same_outcome_in_one_batch_or_one_at_a_time(
        wiring_factory: Make, database_url: str) -> None:
    wiring = seeded(wiring_factory, database_url)
    assert {o.status for o in wiring.ledger.ingest([catalog_envelope(), grant("lic-2")], "globex")} \
        == {"accepted"}
    event = envelope("license.suspended", "2026-04-01", "lic-2", id="stripe-9", reason="payment_failed")
    garbled = {**event, "time": "2026-04-01T00:00:00", "data": {}}
    stream = [garbled, event, garbled]
    together = [o.code or o.status for o in wiring.ledger.ingest(stream, "acme")]
    apart = [wiring.ledger.ingest([e], "globex")[0] for e in stream]
    assert together == [o.code or o.status for o in apart] == ["invalid_event", "accepted", "duplicate"]
