"""The read database on a real PostgreSQL, then stopped (every connection to it cut and
refused, through a proxy this test closes): an open change stream says `stale`, checks of
customers held are answered stale within seconds, one not held and /healthz within seconds
too. A review found each waiting
30 s per read (the pool's default) and then refusing."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.api.cache import EntitlementCache
from ledger.store.sql import SERVE_DEADLINE, SERVE_WAIT
from projections.embedded import Follower
from projections.readmodel import ReadModels
from tests.builders import envelope
from tests.conftest import unique
from tests.integration.test_api_harness import running_api, sqlite


class Proxy:
    """A TCP relay to PostgreSQL; `stop` cuts every connection and refuses new ones, as a
    stopped server does; `frozen` relays nothing more while keeping every connection open and
    accepting new ones, as a server that hangs does (its host's kernel still acknowledges)."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.sockets, self.up = target, list[socket.socket](), True
        self.flowing = threading.Event()
        self.flowing.set()
        self.lock = threading.Lock()
        self.listening = socket.create_server(("127.0.0.1", 0))
        self.port = self.listening.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.up:
            try:
                client, _ = self.listening.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:  # one accepted while `stop` ran is cut too
                self.sockets += [client, server]
                if not self.up:
                    for end in (client, server):
                        end.close()
                    return
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                self.flowing.wait()
                b.sendall(data)
        except OSError:
            pass
        finally:
            for end in (a, b):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Cut every open connection but go on accepting new ones, as a restarted server
        does: what a client's pool held is broken."""
        with self.lock:
            held, self.sockets = self.sockets, []
        for end in held:
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Nothing relayed within the block; everything held relayed after it."""
        self.flowing.clear()
        try:
            yield
        finally:
            self.flowing.set()

    def stop(self) -> None:
        with self.lock:
            self.up = False
        self.listening.close()
        for end in self.sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass



def read_database_behind_proxy(tag: str) -> tuple[str, Proxy]:
    """The URL of a fresh schema of the test server reached through a proxy, and the proxy."""
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("LEDGER_TEST_POSTGRES_URL is not set: run `make test` (it starts PostgreSQL)")
    host, port = base.split("@")[1].split("/")[0].split(":")
    proxy = Proxy((host, int(port)))
    return base.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}") + f"?schema={unique(tag)}", proxy


def kafka_like_cache(models: ReadModels, _: Follower) -> EntitlementCache:
    """The check's cache as `ledger serve` builds it with Kafka: the feed read on a timer."""
    return EntitlementCache(models, poll_interval=0.1, max_stale=60.0)


@contextmanager
def two_customers_checked(tmp_path: Path, tag: str
                          ) -> Iterator[tuple[Any, Proxy, httpx.Client, httpx.Client]]:
    """An API on its own ledger with its read models behind a proxy (`kafka_like_cache`),
    customers c1 and c2 granted, c1 checked (held in memory) by the service client, the
    admin client's scrape saying the read models are up: the API, the proxy, the two."""
    read, proxy = read_database_behind_proxy(tag)
    with running_api(sqlite(tmp_path), read_url=read, cache=kafka_like_cache,
                     read_wait=SERVE_WAIT) as api:
        api.with_catalog().record([
            envelope("license.granted", "2026-02-01", "lic-1", customer_id="c1", plan="pro"),
            envelope("license.granted", "2026-02-01", "lic-2", customer_id="c2", plan="pro")])
        client, admin = api.as_role("service"), api.as_role("admin")  # a key each
        assert client.post("/v1/check", json={"customer_id": "c1", "feature": "sso"}
                           ).json()["allowed"] is True
        assert "ledger_read_models_up 1.0" in admin.get("/metrics").text
        yield api, proxy, client, admin


def test_a_stopped_postgresql_read_database_degrades_within_seconds(tmp_path: Path) -> None:
    with two_customers_checked(tmp_path, 'stopped') as (api, proxy, client, admin):
        body = {"customer_id": "c1", "feature": "sso"}
        with client.stream("GET", "/v1/customers/c1/changes") as stream:
            lines = stream.iter_lines()
            assert next(x for x in lines if x.startswith("event:")) == "event: entitlements"
            proxy.stop()
            started = time.monotonic()  # the stream says it can no longer keep them fresh
            assert next(x for x in lines if x.startswith("event:")) == "event: stale"
            assert time.monotonic() - started < 2 * SERVE_WAIT + 1
        time.sleep(0.3)  # past the feed's interval (0.1 s): memory is no longer fresh
        for _ in range(4):
            started = time.monotonic()
            answer = client.post("/v1/check", json=body)
            took = time.monotonic() - started
            assert answer.status_code == 200, answer.text
            assert answer.json()["allowed"] is True and answer.json().get("stale") is True
            assert took < 2 * SERVE_WAIT + 1, took
            time.sleep(0.6)  # past the keys' recheck: memory vouches, the table cut off
        started = time.monotonic()
        unseen = client.post("/v1/check", json={"customer_id": "c2", "feature": "sso"})
        assert unseen.status_code == 503, unseen.text
        assert unseen.json()["code"] == "read_models_unavailable"
        assert time.monotonic() - started < 2 * SERVE_WAIT + 1
        started = time.monotonic()
        health = client.get("/healthz")
        assert health.json()["status"] == "degraded"
        assert time.monotonic() - started < 2 * SERVE_WAIT + 1
        started = time.monotonic()  # metrics still served, the read models said down
        metrics = admin.get("/metrics")
        assert time.monotonic() - started < 2 * SERVE_WAIT + 1
        assert metrics.status_code == 200, metrics.text
        assert "ledger_read_models_up 0.0" in metrics.text
        assert "ledger_read_models_watermark " not in metrics.text
        assert "ledger_event_store_up 1.0" in metrics.text
        started = time.monotonic()  # a key never seen cannot be checked: 503, not 500 or 401
        unknown = httpx.get(f"{api.url}/v1/customers/c1/entitlements",
                            headers={"Authorization": "Bearer ldg_" + "x" * 43})
        assert unknown.status_code == 503, unknown.text
        assert unknown.json()["code"] == "read_models_unavailable"
        assert unknown.headers["retry-after"] == "1"
        assert time.monotonic() - started < 2 * SERVE_WAIT + 1


def test_after_the_read_database_restarts_reads_are_answered_at_once(tmp_path: Path) -> None:
    """Every pooled connection to the read database broken by a restart (the server there
    again): a check of a customer not held, /healthz and the scrape are answered from it, not
    503, degraded or `_up 0` once for each broken connection they meet."""
    read, proxy = read_database_behind_proxy("cut")
    with running_api(sqlite(tmp_path), read_url=read, read_wait=SERVE_WAIT) as api:
        api.with_catalog().record([
            envelope("license.granted", "2026-02-01", f"lic-{n}", customer_id=f"c{n}", plan="pro")
            for n in range(6)])
        client, admin = api.as_role("service"), api.as_role("admin")
        for n in range(3):  # several connections of the pool in use, then kept
            assert client.post("/v1/check", json={"customer_id": f"c{n}", "feature": "sso"}
                               ).json()["allowed"] is True
        assert client.get("/healthz").status_code == 200
        proxy.cut()
        for n in range(3, 6):  # not held in memory: read from the read models
            answer = client.post("/v1/check", json={"customer_id": f"c{n}", "feature": "sso"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["allowed"] is True and not answer.json().get("stale"), answer.text
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert "ledger_read_models_up 1.0" in admin.get("/metrics").text


def test_a_read_database_that_hangs_degrades_within_seconds(tmp_path: Path) -> None:
    """The read database hangs (connections open, nothing answered): as with a stopped one,
    checks of customers held are answered from memory marked stale, one not held is a 503,
    and health and the scrape say so, each within seconds, not hanging with it."""
    with two_customers_checked(tmp_path, 'hung') as (api, proxy, client, admin):
        body = {"customer_id": "c1", "feature": "sso"}
        with proxy.frozen():  # thawed however the test ends
            time.sleep(0.3)  # past the feed's interval: its next read hangs
            # a request meets at most two reads that are cut at the deadline: its key's, its check's
            bound = 2 * SERVE_DEADLINE + 3
            deadline = time.monotonic() + bound
            while True:  # memory answers at once; within the bound, marked stale
                answer = client.post("/v1/check", json=body, timeout=bound)
                assert answer.status_code == 200, answer.text
                if answer.json().get("stale") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert answer.json()["allowed"] is True and answer.json().get("stale") is True
            started = time.monotonic()
            unseen = client.post("/v1/check", json={"customer_id": "c2", "feature": "sso"},
                                 timeout=bound)
            assert unseen.status_code == 503, unseen.text
            assert unseen.json()["code"] == "read_models_unavailable"
            assert time.monotonic() - started < bound
            started = time.monotonic()
            health = client.get("/healthz", timeout=bound)
            assert health.json()["status"] == "degraded"
            assert health.json()["checks"]["read_models"]["ok"] is False
            assert health.json()["checks"]["event_store"]["ok"] is True
            assert time.monotonic() - started < bound
            metrics = admin.get("/metrics", timeout=bound)
            assert "ledger_read_models_up 0.0" in metrics.text
