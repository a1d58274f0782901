"""`ledger verify` reads each fact's index row in the records' own query (joined by position):
a row at a position no record has is found afterwards, and with `--tenant` a row of ours beside
another tenant's record too. Run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.bootstrap import Wiring
from ledger.integrity import verify
from tests.builders import catalog_envelope, envelope
from tests.integration import tampering

Make = Callable[..., Wiring]
COLUMNS = ("tenant, sequence, position, kind, subject, month, customer, source, source_event_id, "
           "feature, quantity, effective_at, recorded_at")


def two_tenants(make: Make, url: str) -> Wiring:
    wiring = make(url)
    for tenant, licenses in (("acme", 1), ("globex", 3)):
        outcomes = wiring.ledger.ingest([catalog_envelope(), *(
            envelope("license.granted", "2026-03-01", f"lic-{n}", customer_id="cust-7", plan="pro")
            for n in range(licenses))], tenant)
        assert {o.status for o in outcomes} == {"accepted"}
    assert verify(wiring.store).ok and verify(wiring.store, "acme").ok
    return wiring


def add_row(url: str, row: tuple[Any, ...]) -> None:
    tampering.run(url, f"INSERT INTO ledger_facts ({COLUMNS}) VALUES "
                       f"({', '.join(['%s'] * len(row))})", row)


def row_of(url: str, tenant: str, sequence: int) -> tuple[Any, ...]:
    return tampering.run(url, f"SELECT {COLUMNS} FROM ledger_facts WHERE tenant = %s AND "
                              "sequence = %s", (tenant, sequence))[0]


def test_an_index_row_after_the_last_record_is_named_as_belonging_to_no_event(
        wiring_factory: Make, database_url: str) -> None:
    wiring = two_tenants(wiring_factory, database_url)
    last = row_of(database_url, "globex", 4)
    add_row(database_url, ("globex", 5, last[2] + 10, *last[3:8], "forged", *last[9:]))
    for tenant in (None, "globex"):
        verdict = verify(wiring.store, tenant)
        assert not verdict.ok and "position" in verdict.problem  # type: ignore[operator]
        assert "belongs to no recorded event" in verdict.problem  # type: ignore[operator]
    assert verify(wiring.store, "acme").ok, "another tenant's rows are not acme's"


def test_a_receipt_moved_to_no_records_position_is_missing_there_and_left_over_here(
        wiring_factory: Make, database_url: str) -> None:
    wiring = two_tenants(wiring_factory, database_url)
    first = row_of(database_url, "acme", 1)
    tampering.rewrite_index(database_url, "acme", 1, "position", -5)  # before every record
    verdict = verify(wiring.store)
    assert not verdict.ok and "index entry is missing" in verdict.problem  # type: ignore[operator]
    tampering.rewrite_index(database_url, "acme", 1, "position", first[2])
    add_row(database_url, ("acme", 99, -5, *first[3:8], "stray", *first[9:]))
    for tenant in (None, "acme"):
        verdict = verify(wiring.store, tenant)
        assert not verdict.ok and "index row at position -5" in verdict.problem  # type: ignore[operator]


def test_verify_of_one_tenant_notices_another_tenants_record_indexed_as_its_own(
        wiring_factory: Make, database_url: str) -> None:
    wiring = two_tenants(wiring_factory, database_url)
    tampering.rewrite_index(database_url, "globex", 4, "tenant", "acme")  # acme has 2 facts
    verdict = verify(wiring.store, "acme")
    assert not verdict.ok and "belongs to no recorded event" in verdict.problem  # type: ignore[operator]
    assert "'acme', sequence 4" in verdict.problem  # type: ignore[operator]


def test_the_joined_read_gives_each_record_as_stored_beside_its_own_index_row(
        wiring_factory: Make, database_url: str) -> None:
    wiring = two_tenants(wiring_factory, database_url)
    records = list(wiring.store.all_records(decoded=False))
    rows = {r.position: r for r in wiring.store.index_rows()}
    joined = list(wiring.store.records_with_rows(page=2))  # pages of two: the bound moves on
    assert [(j[0], j[1], j[2], j[3], bytes(j[4])) for j in joined] == [
        (p, topic, wiring.store.recorder.stored_id(stream), version, bytes(raw))
        for p, topic, stream, version, raw in records]
    assert [tuple(j[5:]) for j in joined] == [tuple(rows[j[0]]) for j in joined]
