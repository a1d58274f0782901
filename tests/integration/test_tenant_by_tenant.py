"""A batch of several tenants written tenant by tenant as their locks come free (`ledger
consume`'s ingest), on the real PostgreSQL server whose advisory locks it takes: another writer
holding one tenant never makes it wait for the others, and the outcomes are those of one
transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from ledger.bootstrap import Wiring
from ledger.store.eventstore import ConcurrentAppendError
from ledger.store.pgrecorder import lock_key
from tests.builders import catalog_envelope, envelope

Make = Callable[..., Wiring]


def batch() -> list[dict[str, Any]]:
    """Two tenants, interleaved as a license-keyed partition brings them."""
    out: list[dict[str, Any]] = []
    for tenant in ("acme", "globex"):
        out += [catalog_envelope(tenant=tenant),
                envelope("license.granted", "2026-03-01", "lic-1", tenant=tenant,
                         customer_id="c-1", plan="pro")]
    out += [envelope("usage.recorded", f"2026-03-0{d}", "lic-1", tenant=tenant, id=f"u-{tenant}-{d}",
                     feature="api_calls", quantity=d)
            for d in range(2, 6) for tenant in ("acme", "globex")]
    out.append(envelope("seat.assigned", "2026-03-02", "lic-404", tenant="globex", user_id="u1"))
    return out


@pytest.fixture
def held(postgres_url: str) -> Iterator[Callable[[str], Callable[[], None]]]:
    """Take a tenant's write lock in another session; returns its release."""
    conns: list[psycopg.Connection[Any]] = []

    def hold(tenant: str) -> Callable[[], None]:
        conn = psycopg.connect(postgres_url.split("?")[0], autocommit=True)
        conns.append(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(tenant),))
        return lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(tenant),))

    yield hold
    for conn in conns:
        conn.close()


def statuses(outcomes: list[Any]) -> list[str]:
    return [o.code or o.status for o in outcomes]


def test_a_writer_given_some_takes_the_free_tenants_without_waiting(
        wiring_factory: Make, postgres_url: str, held: Callable[[str], Any]) -> None:
    recorder = wiring_factory(postgres_url).store.recorder
    held("acme")
    began = time.monotonic()
    with recorder.writing(["acme", "globex"], some=True) as writer:
        assert writer.held == {"globex"}
    assert time.monotonic() - began < 5  # never the lock timeout (30 s)


def test_a_writer_given_some_when_none_is_free_waits_for_one_and_only_that_one(
        wiring_factory: Make, postgres_url: str, held: Callable[[str], Any]) -> None:
    recorder = wiring_factory(postgres_url).store.recorder
    first, second = sorted(["acme", "globex"], key=lock_key)
    release_first, _ = held(first), held(second)
    got: list[frozenset[str]] = []

    def write() -> None:
        with recorder.writing(["acme", "globex"], some=True) as writer:
            got.append(writer.held)

    waiter = threading.Thread(target=write)
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and not got, "with both locks taken it must wait"
    release_first()  # the second stays taken: the writer goes on with the first alone
    waiter.join(timeout=10)
    assert got == [frozenset({first})]


def test_a_batch_of_two_tenants_one_held_elsewhere_records_the_other_first_with_the_same_outcomes(
        wiring_factory: Make, postgres_url: str, sqlite_url: str,
        held: Callable[[str], Any]) -> None:
    wiring, watcher = wiring_factory(postgres_url), wiring_factory(postgres_url)
    release = held("acme")
    done: list[Any] = []
    writer = threading.Thread(target=lambda: done.extend(wiring.ledger.ingest(batch(), None, some=True)))
    writer.start()
    deadline = time.monotonic() + 20
    while not watcher.store.facts_after(0) and time.monotonic() < deadline:
        time.sleep(0.05)
    # globex's transaction committed while acme's lock is still taken by the other session
    assert {f.tenant for f in watcher.store.facts_after(0)} == {"globex"} and writer.is_alive()
    release()
    writer.join(timeout=30)
    alone = wiring_factory(sqlite_url).ledger.ingest(batch(), None)  # one transaction, no one else
    assert statuses(done) == statuses(alone)
    assert statuses(done).count("accepted") == 12 and statuses(done)[-1] == "unknown_license"
    positions = {tenant: [f.position for f in watcher.store.facts_after(0) if f.tenant == tenant]
                 for tenant in ("acme", "globex")}
    assert max(positions["globex"]) < min(positions["acme"])


def test_a_tenant_that_stays_locked_keeps_what_the_others_recorded_in_the_error(
        wiring_factory: Make, postgres_url: str, held: Callable[[str], Any]) -> None:
    wiring = wiring_factory(postgres_url)
    wiring.store.recorder.datastore.lock_timeout = 1
    release = held("acme")
    raws = batch()
    with pytest.raises(ConcurrentAppendError) as caught:
        wiring.ledger.ingest(raws, None, some=True)
    judged = caught.value.judged
    assert sorted(judged) == [n for n, raw in enumerate(raws) if raw["tenantid"] == "globex"]
    assert [o.status for o in judged.values()].count("accepted") == 6
    assert {f.tenant for f in wiring.store.facts_after(0)} == {"globex"}
    release()  # sent again once the lock is free: what was recorded is a duplicate, once
    again = wiring.ledger.ingest(raws, None, some=True)
    assert [o.status for n, o in enumerate(again) if judged.get(n, again[n]).status == "accepted"
            and raws[n]["tenantid"] == "globex"] == ["duplicate"] * 6
    assert statuses([o for n, o in enumerate(again) if raws[n]["tenantid"] == "acme"]) == \
        ["accepted"] * 6
    assert len(wiring.store.facts_after(0)) == 12


def test_without_contention_a_batch_of_several_tenants_is_one_transaction(
        wiring_factory: Make, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wiring = wiring_factory(database_url)
    writes: list[list[str]] = []
    real = wiring.store.write_some
    monkeypatch.setattr(wiring.store, "write_some",
                        lambda tenants, judge: writes.append(sorted(tenants)) or real(tenants, judge))
    outcomes = wiring.ledger.ingest(batch(), None, some=True)
    assert writes == [["acme", "globex"]]
    assert statuses(outcomes).count("accepted") == 12
