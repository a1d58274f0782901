"""The API served for tests exactly as in production: uvicorn on a free loopback port, in a
thread, spoken to over real HTTP with httpx. Other test_api_* modules import `running_api`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ledger.api import ApiKeys, create_app
from ledger.api.cache import EntitlementCache
from ledger.bootstrap import Wiring, bootstrap
from ledger.licensefile import KeyRing, SigningKey
from ledger.settings import Settings
from ledger.store.database import SERVE_STORE_WAIT
from projections.embedded import Follower
from projections.readmodel import ReadModels
from tests.builders import catalog_envelope


@dataclass
class Clock:
    """Real time unless set: tests that cross an expiry move it by hand."""

    fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)


@dataclass
class Api:
    url: str
    wiring: Wiring
    models: ReadModels
    follower: Follower
    keys: ApiKeys
    keyring: KeyRing
    clock: Clock
    clients: list[httpx.Client] = field(default_factory=list)

    def key(self, role: str = "admin", tenant: str = "acme", customer: str | None = None) -> str:
        return self.keys.create(tenant, role, customer).key

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        made = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(made)
        return made

    def as_role(self, role: str = "admin", tenant: str = "acme",
                customer: str | None = None) -> httpx.Client:
        return self.client(self.key(role, tenant, customer))

    def record(self, envelopes: Sequence[dict[str, Any]], tenant: str = "acme") -> list[str]:
        """Straight into the ledger (as Kafka or the CLI would), then into the read models."""
        outcomes = self.wiring.ledger.ingest(list(envelopes), tenant)
        self.follower.catch_up()
        return [o.status for o in outcomes]

    def with_catalog(self, tenant: str = "acme") -> Api:
        self.record([catalog_envelope("2026-01-01")], tenant)
        return self


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (server.started and server.servers):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]


@contextmanager
def built_api(url: str, *, clock: Clock | None = None,
              configure: Callable[[dict[str, Any]], None] | None = None,
              read_url: str | None = None,
              cache: Callable[[ReadModels, Follower], EntitlementCache] | None = None,
              read_wait: float = 30.0) -> Iterator[tuple[Any, Api]]:
    """A ledger, its read models, keys and signing key on `url` (the read models and keys on
    `read_url` if given, waiting `read_wait` s at most for a PostgreSQL connection), and the
    app over them, not served: for in-process tests (`starlette.testclient.TestClient(app)`)."""
    wiring = bootstrap(Settings(database_url=url, _env_file=None),  # type: ignore[call-arg]
                       store_wait=SERVE_STORE_WAIT)  # as `ledger serve` waits
    models = ReadModels.open(read_url or url, wait=read_wait)
    follower = Follower(wiring.store, models)  # no thread: wait_for catches up synchronously
    keys = ApiKeys.open(read_url or url, wait=read_wait)
    key = SigningKey.generate()
    keyring = KeyRing([key], key.key_id)
    clock = clock or Clock()
    options: dict[str, Any] = {"keys": keys, "follower": follower, "clock": clock}
    if cache is not None:
        options["cache"] = cache(models, follower)
    if configure is not None:
        configure(options)
    try:
        yield (create_app(wiring, models, keyring, **options),
               Api("http://testserver", wiring, models, follower, keys, keyring, clock))
    finally:
        keys.close()
        models.close()
        wiring.close()


@contextmanager
def running_api(url: str, *, clock: Clock | None = None,
                configure: Callable[[dict[str, Any]], None] | None = None,
                read_url: str | None = None,
                cache: Callable[[ReadModels, Follower], EntitlementCache] | None = None,
                read_wait: float = 30.0) -> Iterator[Api]:
    """A ledger, its read models, keys and signing key on `url` (the read models and keys on
    `read_url` if given), and the API over them."""
    with built_api(url, clock=clock, configure=configure, read_url=read_url,
                   cache=cache, read_wait=read_wait) as (app, built):
        server, thread, port = _serve(app)
        api = replace(built, url=f"http://127.0.0.1:{port}")
        try:
            yield api
        finally:
            for client in api.clients:
                client.close()
            server.should_exit = True
            thread.join(10)


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def test_the_api_answers_over_real_loopback_http(tmp_path: Path) -> None:
    with running_api(sqlite(tmp_path)) as api:
        answer = httpx.get(f"{api.url}/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
