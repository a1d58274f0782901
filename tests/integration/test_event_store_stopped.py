"""The ledger's own PostgreSQL (the event store), stopped under a running API: every
connection to it cut and refused, through the proxy of test_read_database_stopped. A write
is answered 503 `event_store_unavailable` (retry: what was recorded comes back duplicate),
never 500 `internal_error`, and /healthz says degraded after the serving process's wait for a
connection (5 s), not the library pool's 30 s."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlparse

import httpx
import pytest

from ledger.store.database import SERVE_STORE_WAIT
from tests.builders import envelope
from tests.conftest import unique
from tests.integration.test_api_harness import running_api
from tests.integration.test_read_database_stopped import Proxy

DEADLINE = 6  # seconds: the event store's serving deadline, in the hanging write's test


def through_proxy() -> tuple[str, str, Proxy]:
    """The test server's URL, the same server's through a proxy, and the proxy to stop."""
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("LEDGER_TEST_POSTGRES_URL is not set: run `make test`")
    server = urlparse(base)
    proxy = Proxy((server.hostname or "127.0.0.1", server.port or 5432))
    return base, base.replace(f"{server.hostname}:{server.port}", f"127.0.0.1:{proxy.port}", 1), proxy


@contextmanager
def admin_of(url: str, read_url: str) -> Iterator[httpx.Client]:
    """An admin client of an API on the event store at `url` (a fresh schema of it) with its
    read models at `read_url` (another fresh schema), a catalog recorded."""
    with running_api(f"{url}?schema={unique('t')}", read_url=f"{read_url}?schema={unique('r')}"
                     ) as api:
        api.with_catalog()
        yield api.as_role("admin")


def timed(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    """The answer to GET `path`, and how long it took."""
    began = time.monotonic()
    answer = client.get(path)
    return answer, time.monotonic() - began


def test_a_write_while_the_event_store_is_unreachable_is_a_503_to_retry() -> None:
    base, url, proxy = through_proxy()
    with running_api(f"{url}?schema={unique('t')}") as api:
        api.with_catalog()
        client = api.as_role("admin")
        grant = envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro")
        assert client.post("/v1/events", json=grant).status_code == 200
        proxy.stop()
        later = envelope("license.granted", "2026-03-01", "lic-2", customer_id="c-1", plan="pro")
        answer = client.post("/v1/events", json=later)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "event_store_unavailable"
        assert "retry" in answer.json()["message"]
        assert answer.headers["retry-after"] == "5"


def test_health_says_degraded_within_seconds_while_the_event_store_is_unreachable() -> None:
    base, url, proxy = through_proxy()
    # the read models elsewhere, so that only the event store is gone
    with admin_of(url, base) as client:
        assert client.get("/healthz").status_code == 200
        proxy.stop()
        for _ in range(2):  # the pool's connections are broken, then there are none to hand out
            health, took = timed(client, "/healthz")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert health.json()["checks"]["event_store"]["ok"] is False
            assert health.json()["checks"]["read_models"]["lag"] is None  # not asked of the store
            # one wait of a serving process for a connection (5 s), not ten of the library's 30
            assert took < SERVE_STORE_WAIT + 5, took


def test_metrics_are_served_within_seconds_and_say_the_event_store_is_down() -> None:
    base, url, proxy = through_proxy()
    with admin_of(url, base) as admin:
        before = admin.get("/metrics").text
        assert "ledger_event_store_up 1.0" in before
        assert re.search(r"^ledger_event_store_position [1-9]", before, re.M), before
        proxy.stop()
        metrics, took = timed(admin, "/metrics")
        assert metrics.status_code == 200, metrics.text
        # one wait for a connection, not the library's ten tries (before: 50 s and more)
        assert took < SERVE_STORE_WAIT + 5, took
        assert "ledger_event_store_up 0.0" in metrics.text
        assert "ledger_event_store_position " not in metrics.text  # no made-up value
        assert "ledger_read_models_up 1.0" in metrics.text
        assert 'ledger_http_requests_total{method="GET",route="/metrics",status="200"}' in metrics.text


def test_metrics_answer_within_a_scrapers_timeout_with_both_stores_on_one_stopped_server(
        ) -> None:
    _, url, proxy = through_proxy()  # the default set-up: the read models in the same database
    with admin_of(url, url) as admin:
        assert "ledger_read_models_up 1.0" in admin.get("/metrics").text  # the key now known
        proxy.stop()
        metrics, took = timed(admin, "/metrics")
        assert metrics.status_code == 200, metrics.text
        assert "ledger_event_store_up 0.0" in metrics.text
        assert "ledger_read_models_up 0.0" in metrics.text
        # the two asked at once: one wait, within a scraper's usual 10 s timeout
        assert took < SERVE_STORE_WAIT + 3, took


def test_after_the_event_store_restarts_health_and_metrics_say_it_answers_at_once() -> None:
    base, url, proxy = through_proxy()
    with admin_of(url, base) as admin:
        assert admin.get("/healthz").status_code == 200
        proxy.cut()  # the pool's connections broken, the server there again
        health, took = timed(admin, "/healthz")  # not a false "degraded" for the broken ones
        assert health.status_code == 200, health.text
        assert took < SERVE_STORE_WAIT, "it waited as for a stopped store"
        assert "ledger_event_store_up 1.0" in admin.get("/metrics").text


def test_after_the_event_store_restarts_writes_are_recorded_at_once() -> None:
    """Every pooled connection broken by a restart: a write is recorded on a connection of
    its own, not answered 503 once for each broken one it meets (the client would retry)."""
    base, url, proxy = through_proxy()
    with admin_of(url, base) as admin:
        for n in range(8):  # the pool holds several connections, each to be broken
            grant = envelope("license.granted", "2026-03-01", f"lic-{n}", customer_id="c-1",
                             plan="pro")
            assert admin.post("/v1/events", json=grant).status_code == 200
        proxy.cut()
        for n in range(8, 16):
            grant = envelope("license.granted", "2026-03-01", f"lic-{n}", customer_id="c-1",
                             plan="pro")
            answer = admin.post("/v1/events", json=grant)
            assert answer.status_code == 200, answer.text
            assert [r["status"] for r in answer.json()["results"]] == ["accepted"], answer.text


def test_health_and_metrics_answer_within_seconds_while_the_event_store_hangs() -> None:
    """A database that hangs (the connection open, nothing answered, as a frozen server or a
    partition the host's kernel still acknowledges) is not a stopped one: no connection fails.
    Health and the scrape still answer within their wait, probes at once and probes later,
    and they do not each leave a thread behind waiting on it."""
    base, url, proxy = through_proxy()
    with admin_of(url, base) as admin:
        assert admin.get("/healthz").status_code == 200

        def asking() -> Counter[str]:
            return Counter(t.name for t in threading.enumerate()
                           if t.name.startswith(("health-", "metrics-")))

        before = asking()
        with proxy.frozen():  # thawed however the test ends
            for probes in (["/healthz", "/healthz", "/healthz", "/metrics"], ["/healthz"]):
                with ThreadPoolExecutor(len(probes)) as pool:
                    answers = list(pool.map(lambda path: timed(admin, path), probes))
                for path, (answer, took) in zip(probes, answers, strict=True):
                    assert took < SERVE_STORE_WAIT + 3, (path, took)
                    if path == "/metrics":
                        assert "ledger_event_store_up 0.0" in answer.text
                        continue
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["checks"]["event_store"]["ok"] is False
                    assert answer.json()["checks"]["read_models"]["ok"] is True  # elsewhere
            # one ask of the hung store by each, however many probes; of the read models none
            # left: they answered
            assert asking() - before == Counter(["health-event_store", "metrics-ledger_event_store"])


def test_a_write_while_the_event_store_hangs_is_a_503_within_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing fails on a database that hangs: the write's transaction is cut at the serving
    deadline, and the answer is the stopped store's 503 (retry: what was recorded comes back
    duplicate), not a request held for as long as the database hangs. The deadline is made
    shorter here (45 s in serving processes) to keep the suite short."""
    monkeypatch.setattr("ledger.bootstrap.SERVE_STORE_DEADLINE", DEADLINE)
    base, url, proxy = through_proxy()
    with admin_of(url, base) as admin:
        grant = envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro")
        assert admin.post("/v1/events", json=grant).status_code == 200
        with proxy.frozen():  # thawed however the test ends
            later = envelope("license.granted", "2026-03-01", "lic-2", customer_id="c-1",
                             plan="pro")
            began = time.monotonic()
            answer = admin.post("/v1/events", json=later, timeout=DEADLINE + 20)
            took = time.monotonic() - began
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "event_store_unavailable"
            assert DEADLINE - 1 < took < DEADLINE + 8, took
        again = admin.post("/v1/events", json=later)  # the same envelope, once it answers
        assert again.status_code == 200, again.text
        assert [r["status"] for r in again.json()["results"]] in (["accepted"], ["duplicate"])
