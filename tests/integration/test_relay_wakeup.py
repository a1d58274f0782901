"""The relay wakes on the ledger's commits (PostgreSQL's NOTIFY from the library's insert)
instead of reading the log on a timer. Real PostgreSQL, a fresh schema per test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from consumers.relay import Relay
from consumers.wakeup import LedgerCommits, Sleep, ledger_commits
from ledger.bootstrap import Wiring
from tests.builders import catalog_envelope, envelope
from tests.unit.test_consumers import FakeProducer

pytestmark = [pytest.mark.postgres]
DEADLINE = 30.0


def test_a_wait_ends_when_the_ledger_commits(wiring_factory: Callable[..., Wiring],
                                             postgres_url: str) -> None:
    # (The channel is the database's, not the schema's: other schemas' commits wake it too, so
    # this test cannot ask for "no wake without a commit"; a spurious wake costs one read.)
    wiring = wiring_factory(postgres_url)
    wakeup = ledger_commits(wiring.store.recorder)
    assert isinstance(wakeup, LedgerCommits)
    try:
        later = threading.Timer(0.3, wiring.ledger.ingest, ([catalog_envelope(tenant="acme")], None))
        later.start()
        assert wakeup.wait(DEADLINE, threading.Event()) is True  # a signal, not the timeout
        later.join()
    finally:
        wakeup.close()


def test_the_relay_publishes_a_fact_committed_while_it_waits_without_waiting_out_its_tick(
        wiring_factory: Callable[..., Wiring], postgres_url: str) -> None:
    wiring = wiring_factory(postgres_url)
    producer = FakeProducer()
    relay = Relay(wiring.store, producer, "out", wakeup=ledger_commits(wiring.store.recorder))
    stop = threading.Event()
    # a fallback read of the log only after 10 minutes: only the commit's signal can wake it
    follower = threading.Thread(target=relay.run, kwargs={"stop": stop, "wait": 600.0})
    follower.start()
    try:
        time.sleep(0.5)  # the relay found nothing and waits
        wiring.ledger.ingest([catalog_envelope(tenant="acme")], None)
        deadline = time.monotonic() + DEADLINE
        while not producer.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [v["type"] for v in producer.values()] == ["catalog.published"]
    finally:
        stop.set()
        wiring.ledger.ingest([envelope("license.granted", "2026-03-01", "lic-1", tenant="acme",
                                       customer_id="c-1", plan="pro")], None)  # wakes it to stop
        follower.join(timeout=DEADLINE)
        relay.wakeup.close()
    assert not follower.is_alive()


def test_a_store_without_commit_signals_reads_the_log_on_a_tick(
        wiring_factory: Callable[..., Wiring], sqlite_url: str) -> None:
    wakeup = ledger_commits(wiring_factory(sqlite_url).store.recorder)
    assert isinstance(wakeup, Sleep) and wakeup.wait(600.0, threading.Event()) is False
