"""API keys on SQLite and PostgreSQL alike: made once, kept only as a hash, revoked at once where revoked and within a second everywhere;
and the `ledger apikey` commands that make and end them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from psycopg_pool import PoolTimeout

from ledger.api import ApiKeyError, ApiKeys, Principal
from ledger.api.keys import digest
from ledger.cli.main import cli
from tests.builders import envelope
from tests.integration.test_api_harness import running_api, sqlite


def ledger(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def test_a_key_stands_for_its_tenant_role_and_customer(database_url: str) -> None:
    keys = ApiKeys.open(database_url)
    try:
        issued = keys.create("acme", "customer", "cust-7")
        assert keys.authenticate(issued.key) == Principal(issued.key_id, "acme", "customer", "cust-7")
        assert keys.authenticate(issued.key + "x") is None
        assert keys.authenticate("") is None
    finally:
        keys.close()


def test_only_a_hash_of_the_key_is_stored(database_url: str) -> None:
    keys = ApiKeys.open(database_url)
    try:
        issued = keys.create("acme", "admin")
        with keys.db.transaction() as cur:
            rows = cur.execute("SELECT * FROM api_keys").fetchall()
        stored = json.dumps([list(map(str, row)) for row in rows])
        assert issued.key not in stored and digest(issued.key) in stored
    finally:
        keys.close()


def test_a_revoked_key_stops_at_once_where_revoked_and_after_the_recheck_elsewhere(
        database_url: str) -> None:
    ticks = [0.0]
    serving = ApiKeys.open(database_url, monotonic=lambda: ticks[0])
    revoking = ApiKeys.open(database_url)
    try:
        issued = serving.create("acme", "service")
        assert revoking.authenticate(issued.key) is not None
        assert serving.authenticate(issued.key) == serving.remembered(issued.key) is not None
        assert revoking.revoke(issued.key_id) is True
        assert revoking.authenticate(issued.key) is None and revoking.remembered(issued.key) is None
        ticks[0] = 0.24  # memory is trusted without a recount before half of `recheck`
        assert serving.remembered(issued.key) is not None
        ticks[0] = 0.5  # and never from `recheck` on: the bound the contract allows
        assert serving.remembered(issued.key) is None and serving.authenticate(issued.key) is None
        assert revoking.revoke(issued.key_id) is True  # twice is harmless
        assert revoking.revoke("key_unknown") is False
    finally:
        serving.close()
        revoking.close()


def test_memory_is_recounted_in_the_background_so_steady_traffic_never_waits_for_the_table(
        database_url: str) -> None:
    ticks, spawned = [0.0], []
    serving = ApiKeys.open(database_url, monotonic=lambda: ticks[0], spawn=spawned.append)
    revoking = ApiKeys.open(database_url)
    try:
        kept, ended = serving.create("acme", "service"), serving.create("acme", "service")
        assert serving.authenticate(kept.key) and serving.authenticate(ended.key)
        ticks[0] = 0.3  # half of `recheck` has passed: memory still answers, a recount is asked
        assert serving.remembered(kept.key) is not None and serving.remembered(kept.key) is not None
        assert len(spawned) == 1  # once, however many requests ask meanwhile
        spawned.pop()()
        ticks[0] = 0.75  # 0.45 s after that count: memory answers without the full way
        assert serving.remembered(kept.key) is not None and len(spawned) == 1
        assert revoking.revoke(ended.key_id) is True  # in another process
        spawned.pop()()  # the recount asked at 0.75 sees it, and forgets what it remembered
        assert serving.remembered(ended.key) is None and serving.authenticate(ended.key) is None
        assert serving.authenticate(kept.key) is not None
    finally:
        serving.close()
        revoking.close()


def test_cut_off_from_the_table_memory_vouches_without_waiting_then_for_a_bound_only(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review found every request waiting on the unreadable table (30 s each on a stopped
    PostgreSQL) and memory trusted with no end. Now the first failure marks the table cut
    off: memory vouches for keys known valid without a read, a recount is retried in the
    background once a second, and after `max_unreadable` memory vouches no more."""
    ticks, spawned = [0.0], []
    serving = ApiKeys.open(database_url, monotonic=lambda: ticks[0], spawn=spawned.append,
                           max_unreadable=10.0)
    try:
        issued, unknown = serving.create("acme", "service"), serving.create("acme", "service")
        assert serving.authenticate(issued.key) is not None
        reading = serving.db.reading

        def stopped() -> None:
            raise ConnectionError("the read database is stopped")

        monkeypatch.setattr(serving.db, "reading", stopped)
        ticks[0] = 1.0  # past `recheck`: memory cannot say until the table was tried
        assert serving.remembered(issued.key) is None
        assert serving.authenticate(issued.key) is not None  # the table failed: from memory
        with pytest.raises(ConnectionError):
            serving.authenticate(unknown.key)  # never known: an error, as before
        spawned.clear()
        for tick in (1.2, 1.5, 2.3, 2.6):  # answered from memory, a retry once a second
            ticks[0] = tick
            assert serving.remembered(issued.key) is not None
            if spawned:
                spawned.pop()()
        assert serving._tried == 2.3  # retried at 1.2 and 2.3 only
        ticks[0] = 11.5  # cut off for longer than the bound: memory vouches no more
        assert serving.remembered(issued.key) is None
        with pytest.raises(ConnectionError):
            serving.authenticate(issued.key)
        monkeypatch.setattr(serving.db, "reading", reading)  # readable again
        assert serving.authenticate(issued.key) is not None
        serving._unreadable_since = None

        def busy() -> None:
            raise PoolTimeout("couldn't get a connection after 2.00 sec")

        monkeypatch.setattr(serving.db, "reading", busy)
        ticks[0] = 20.0
        with pytest.raises(PoolTimeout):  # a busy pool is not a table cut off: no memory
            serving.authenticate(issued.key)
        assert serving.remembered(issued.key) is None
        monkeypatch.setattr(serving.db, "reading", reading)
        assert serving.authenticate(issued.key) is not None
        assert serving.remembered(issued.key) is not None
    finally:
        serving.close()


def test_the_background_recount_runs_on_a_thread_of_its_own(sqlite_url: str) -> None:
    ticks = [0.0]
    serving = ApiKeys.open(sqlite_url, monotonic=lambda: ticks[0])
    revoking = ApiKeys.open(sqlite_url)
    try:
        issued = serving.create("acme", "service")
        assert serving.authenticate(issued.key) is not None
        revoking.revoke(issued.key_id)
        ticks[0] = 0.3  # memory may still answer (the bound allows it) and asks for a recount
        deadline = time.monotonic() + 5
        while serving.remembered(issued.key) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert serving.remembered(issued.key) is None  # forgotten by the recount alone
    finally:
        serving.close()
        revoking.close()


@pytest.mark.parametrize(("role", "customer", "complaint"), [
    ("customer", None, "--customer"),
    ("service", "cust-7", "only a customer key"),
    ("root", None, "unknown role"),
])
def test_a_key_that_makes_no_sense_is_refused(sqlite_url: str, role: str, customer: str | None,
                                               complaint: str) -> None:
    keys = ApiKeys.open(sqlite_url)
    try:
        with pytest.raises(ApiKeyError, match=complaint):
            keys.create("acme", role, customer)
    finally:
        keys.close()


def test_apikey_create_prints_the_key_once_as_json_and_revoke_ends_it_in_every_server_within_a_second(
        tmp_path: Path) -> None:
    env = {"LEDGER_DATABASE_URL": sqlite(tmp_path)}
    made = ledger("apikey", "create", "--tenant", "acme", "--role", "customer", "--customer",
                  "cust-7", "--format", "json", env=env)
    assert made.exit_code == 0, made.output
    printed = json.loads(made.stdout)
    assert set(printed) == {"key_id", "key", "tenant", "role", "customer_id"}
    assert (printed["tenant"], printed["role"], printed["customer_id"]) == ("acme", "customer", "cust-7")
    with running_api(env["LEDGER_DATABASE_URL"]) as one, running_api(env["LEDGER_DATABASE_URL"]) as two:
        one.with_catalog().record([envelope("license.granted", "2026-02-01", "lic-1",
                                            customer_id="cust-7", plan="pro")])
        clients = [one.client(printed["key"]), two.client(printed["key"])]
        for client in clients * 2:  # the second ask is answered from memory
            assert client.get("/v1/customers/cust-7/entitlements").status_code == 200
        revoked = ledger("apikey", "revoke", printed["key_id"], env=env)
        assert revoked.exit_code == 0, revoked.output
        deadline = time.monotonic() + 1.0
        refused = [False, False]
        while not all(refused) and time.monotonic() < deadline:
            refused = [c.get("/v1/customers/cust-7/entitlements").status_code == 401 for c in clients]
        assert refused == [True, True]


def test_apikey_create_defaults_to_the_configured_tenant_and_prints_text(tmp_path: Path) -> None:
    env = {"LEDGER_DATABASE_URL": sqlite(tmp_path), "LEDGER_TENANT": "globex"}
    made = ledger("apikey", "create", "--role", "auditor", env=env)
    assert made.exit_code == 0
    assert "globex" in made.stdout and "auditor" in made.stdout and "ldg_" in made.stdout


def test_apikey_refuses_a_customer_key_without_a_customer_and_an_unknown_key_id(tmp_path: Path) -> None:
    env = {"LEDGER_DATABASE_URL": sqlite(tmp_path)}
    refused = ledger("apikey", "create", "--role", "customer", env=env)
    assert refused.exit_code != 0 and "--customer" in refused.stderr
    unknown = ledger("apikey", "revoke", "key_nope", env=env)
    assert unknown.exit_code != 0 and "unknown key id" in unknown.stderr


def test_keys_live_in_the_read_database(tmp_path: Path) -> None:
    read_url = f"sqlite:///{tmp_path / 'read.db'}"
    env = {"LEDGER_DATABASE_URL": sqlite(tmp_path), "LEDGER_READ_DATABASE_URL": read_url}
    made = ledger("apikey", "create", "--role", "admin", "--format", "json", env=env)
    keys = ApiKeys.open(read_url)
    try:
        assert keys.authenticate(json.loads(made.stdout)["key"]) is not None
    finally:
        keys.close()


@pytest.mark.postgres
def test_the_api_serves_every_question_over_postgresql(postgres_url: str) -> None:
    with running_api(postgres_url) as api:
        admin = api.with_catalog().as_role("admin")
        posted = admin.post("/v1/events", json=[
            envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="pro"),
            envelope("usage.recorded", "2026-02-02", "lic-1", feature="api_calls", quantity=3)])
        assert [r["status"] for r in posted.json()["results"]] == ["accepted", "accepted"]
        check = admin.post("/v1/check", json={"customer_id": "cust-7", "feature": "sso"})
        assert check.json()["allowed"] is True
        assert admin.get("/v1/customers/cust-7/entitlements").json()["licenses"][0]["plan"] == "pro"
        assert admin.get("/v1/customers/cust-7/entitlements",
                         params={"as_of": "2026-02-03T00:00:00Z"}).json()["licenses"][0][
            "features"]["api_calls"]["used"] == 3
        assert admin.get("/v1/licenses/lic-1").status_code == 200
        assert len(admin.get("/v1/licenses/lic-1/history").json()["events"]) == 2
        assert admin.get("/v1/customers/cust-7/license-file").status_code == 200
        assert httpx.get(f"{api.url}/healthz").json()["status"] == "ok"
        assert admin.get("/v1/licenses/%00").status_code == 400
