"""A tenant's write lock that stays taken, on the real PostgreSQL server whose advisory locks
the ledger takes (and SQLite's one writer slot of a process): the writer gets a
ConcurrentAppendError (nothing written), which `ledger consume` waits out and the API answers
503 `busy`; a bare database error would stop the worker, or be a 500."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from consumers import inbound
from consumers.inbound import InboundConsumer
from ledger.bootstrap import Wiring
from ledger.cli import core
from ledger.cli.main import cli
from ledger.service import Ledger
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
    real, timed_out = wiring.ledger.ingest, []

    def ingest(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        except ConcurrentAppendError:  # the real lock timeout, from the server
            timed_out.append(1)
            if len(timed_out) == 2:
                release()
            raise

    monkeypatch.setattr(inbound, "BUSY_BACKOFF", 0.0)
    monkeypatch.setattr(wiring.ledger, "ingest", ingest)
    worker = InboundConsumer(wiring.ledger, FakeProducer(), "rejected")
    worker.take(KEY, records(catalog_envelope(tenant="acme"), envelope(
        "license.granted", "2026-03-01", "lic-1", tenant="acme", customer_id="c-1", plan="pro")))
    assert len(timed_out) == 2  # two lock timeouts waited out, then the batch was taken
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


def test_on_sqlite_a_second_writer_of_the_process_that_cannot_get_in_is_a_concurrent_append(
        wiring_factory: Make, sqlite_url: str) -> None:
    wiring = wiring_factory(sqlite_url)
    wiring.store.recorder.datastore.pool.pool_timeout = 0.5
    inside, leave = threading.Event(), threading.Event()

    def slow() -> list[Any]:  # holds the process's writer slot
        inside.set()
        leave.wait(10)
        return []

    first = threading.Thread(target=lambda: wiring.store.write(["acme"], slow))
    first.start()
    try:
        assert inside.wait(10)
        with pytest.raises(ConcurrentAppendError, match="another writer of this process"):
            wiring.ledger.ingest([catalog_envelope(tenant="acme")], None)
    finally:
        leave.set()
        first.join(10)
    assert [o.status for o in wiring.ledger.ingest([catalog_envelope(tenant="acme")], None)] == \
        ["accepted"]


@pytest.fixture
def short_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store the test's commands open waits 1 s for a lock, not the ledger's 10."""
    from ledger.store import database

    real = database.library_settings
    monkeypatch.setattr(database, "library_settings", lambda url: {
        **real(url), **({"POSTGRES_LOCK_TIMEOUT": "1"} if url.startswith("postgres") else {})})


def ledger_ingest(tmp_path: Path, url: str, *lines: dict[str, Any]) -> Result:
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return CliRunner().invoke(cli, ["ingest", str(tmp_path / "events.jsonl")],
                              env={"LEDGER_DATABASE_URL": url})


def test_ledger_ingest_waits_out_a_lock_timeout_then_records_the_file(
        postgres_url: str, held: Callable[[str], Any], short_lock_timeout: None,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release, timed_out = held("acme"), []
    real = Ledger.ingest

    def ingest(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        try:
            return real(self, *args, **kwargs)
        except ConcurrentAppendError:  # the server's lock timeout
            timed_out.append(1)
            release()
            raise

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(core, "BUSY_BACKOFF", 0.0)
    monkeypatch.setattr(Ledger, "ingest", ingest)
    done = ledger_ingest(tmp_path, postgres_url, catalog_envelope(tenant="acme"), envelope(
        "license.granted", "2026-03-01", "lic-1", tenant="acme", customer_id="c-1", plan="pro"))
    assert (done.exit_code, done.stdout.strip()) == (0, "accepted 2, duplicate 0, rejected 0")
    assert timed_out == [1]


def test_ledger_ingest_that_stays_blocked_says_which_lines_were_not_recorded(
        postgres_url: str, held: Callable[[str], Any], short_lock_timeout: None,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(core, "BUSY_BACKOFF", 0.0)
    monkeypatch.setattr(core, "BUSY_ATTEMPTS", 2)
    monkeypatch.setattr(core, "BATCH", 1)
    release = held("acme")
    lines = [catalog_envelope(tenant="globex"), catalog_envelope(tenant="acme")]
    stuck = ledger_ingest(tmp_path, postgres_url, *lines)
    assert stuck.exit_code == 75 and stuck.stdout == ""  # EX_TEMPFAIL: try again later
    *logged, reason = stuck.stderr.splitlines()
    assert reason.startswith("ledger: the ledger stayed busy for lines 2-2 (")
    assert "no later line was read, the lines before were (accepted 1, duplicate 0, rejected 0)" \
        in reason
    assert "Run the same command again" in reason
    busy = [json.loads(line) for line in logged if '"ingest.busy"' in line]
    assert [(b["lines"], b["attempt"]) for b in busy] == [([2, 2], 1)]  # then the last attempt
    release()
    again = ledger_ingest(tmp_path, postgres_url, *lines)
    assert (again.exit_code, again.stdout.strip()) == (0, "accepted 1, duplicate 1, rejected 0")


def test_on_sqlite_a_pool_that_is_out_of_connections_is_not_taken_for_contention(
        wiring_factory: Make, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the library's pool then keeps the writer slot it took: waiting it out would never end
    from eventsourcing.persistence import ConnectionUnavailableError

    wiring = wiring_factory(sqlite_url)

    def exhausted(**kwargs: Any) -> Any:
        raise ConnectionUnavailableError("Timed out waiting for return of connection")

    monkeypatch.setattr(wiring.store.recorder.datastore, "get_connection", exhausted)
    with pytest.raises(ConnectionUnavailableError, match="return of connection"):
        wiring.ledger.ingest([catalog_envelope(tenant="acme")], None)
