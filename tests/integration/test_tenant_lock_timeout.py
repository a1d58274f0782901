"""A tenant's write lock that stays taken, on the real PostgreSQL server whose advisory locks
the ledger takes: the writer gets a ConcurrentAppendError (nothing written), which `ledger
consume` waits out; a bare database error would stop the worker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from consumers import inbound
from consumers.inbound import InboundConsumer
from ledger.bootstrap import Wiring
from ledger.store.eventstore import ConcurrentAppendError
from ledger.store.pgrecorder import lock_key
from tests.builders import catalog_envelope, envelope
from tests.integration.test_api_harness import running_api
from tests.unit.test_consumers import KEY, FakeProducer, records

Make = Callable[..., Wiring]


@pytest.fixture
def held(postgres_url: str) -> Iterator[Callable[[str], Callable[[], None]]]:
    """Take a tenant's write lock in another session; returns its release."""
    conns: list[psycopg.Connection[Any]] = []

    def hold(tenant: str) -> Callable[[], None]:
        conn = psycopg.connect(postgres_url.split("?")[0], autocommit=True)
        conns.append(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(tenant),))

        def release() -> None:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(tenant),))

        return release

    yield hold
    for conn in conns:
        conn.close()


def test_a_tenant_lock_that_stays_taken_is_a_concurrent_append_and_writes_nothing(
        wiring_factory: Make, postgres_url: str, held: Callable[[str], Any]) -> None:
    wiring = wiring_factory(postgres_url)
    wiring.store.recorder.datastore.lock_timeout = 1
    held("acme")
    with pytest.raises(ConcurrentAppendError, match="lock stayed taken"):
        wiring.ledger.ingest([catalog_envelope(tenant="acme")], None)
    assert wiring.store.facts_after(0) == []


def test_the_consume_worker_waits_out_a_lock_timeout_and_then_takes_the_batch(
        wiring_factory: Make, postgres_url: str, held: Callable[[str], Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    wiring = wiring_factory(postgres_url)
    wiring.store.recorder.datastore.lock_timeout = 1
    release = held("acme")
    timer = threading.Timer(2.5, release)  # past two lock timeouts
    monkeypatch.setattr(inbound, "BUSY_BACKOFF", 0.0)
    worker = InboundConsumer(wiring.ledger, FakeProducer(), "rejected")
    timer.start()
    try:
        worker.take(KEY, records(catalog_envelope(tenant="acme"), envelope(
            "license.granted", "2026-03-01", "lic-1", tenant="acme", customer_id="c-1", plan="pro")))
    finally:
        timer.cancel()
    assert worker.counts == {"accepted": 2}
    assert wiring.store.recorder.max_tracking_id(KEY) == 2


def test_the_api_answers_busy_while_the_tenant_stays_locked(postgres_url: str,
                                                             held: Callable[[str], Any]) -> None:
    with running_api(postgres_url) as api:
        api.with_catalog()
        api.wiring.store.recorder.datastore.lock_timeout = 1
        release = held("acme")
        grant = envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro")
        answer = api.as_role("admin").post("/v1/events", json=grant)
        assert (answer.status_code, answer.json()["code"]) == (503, "busy")
        assert "send the same envelopes again" in answer.json()["message"]
        release()  # sent again, it is recorded once
        again = api.as_role("admin").post("/v1/events", json=grant)
        assert [r["status"] for r in again.json()["results"]] == ["accepted"]
