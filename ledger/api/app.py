"""The HTTP API's one factory. Every part it uses is a parameter: the composition root in
`ledger.cli.serve` passes the real ones, tests pass their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from ledger.api import (
    errors,
    events,
    explain,
    governance,
    license_files,
    operations,
    portal,
    proofs,
    queries,
    releases,
)
from ledger.api.cache import EntitlementCache
from ledger.api.fastcheck import FastAnswers, FastCheck
from ledger.api.metrics import Metrics
from ledger.api.openapi import document
from ledger.api.ports import Follower, LedgerWiring, Ports, Probe, ReadModels
from ledger.api.remembered_keys import ApiKeys
from ledger.licensefile import KeyRing

TITLE = "Entitlement ledger"
VERSION = "1"
DESCRIPTION = ("Licenses, plans, seats and usage as immutable, hash-chained events. Every call "
               "but `/healthz` and `/v1/license-files/keys` needs `Authorization: Bearer KEY`. "
               "See docs/api.md.")


def application() -> FastAPI:
    """The routes, error handlers and OpenAPI document, without any parts wired in."""
    # No trailing-slash redirects: Starlette builds their location from the Host header.
    # /docs with the Swagger UI assets shipped in a package, never from a CDN: works offline
    app = FastAPIOffline(title=TITLE, version=VERSION, description=DESCRIPTION,
                         redirect_slashes=False, docs_url="/docs", redoc_url=None,
                         static_url="/docs/static", default_response_class=errors.Answer)
    errors.install(app)
    for module in (events, queries, license_files, operations, proofs, explain, releases,
                   governance):
        app.include_router(module.router)
    portal.install(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app(wiring: LedgerWiring, models: ReadModels, keyring: KeyRing, *, keys: ApiKeys,
               follower: Follower | None = None, kafka_probe: Probe | None = None,
               license_file_days: int = 30, clock: Callable[[], datetime] | None = None,
               cache: EntitlementCache | None = None, write_wait: float = 5.0,
               fast_check: bool = True) -> FastAPI:
    """The API over a ledger (`wiring.ledger`, `wiring.store`), its read models, the license
    signing keys and the API key table. With `follower` (embedded mode) a POST /v1/events
    answers once its events are projected; `kafka_probe` adds Kafka to /healthz. `fast_check`
puts the check's fast path (`fastcheck.py`) in front; without it every request takes the
full stack (tests compare the two)."""
    metrics = Metrics()
    ports = Ports(ledger=wiring.ledger, store=wiring.store, models=models, keyring=keyring,
                  keys=keys, cache=cache if cache is not None else EntitlementCache(models), metrics=metrics,
                  clock=clock or (lambda: datetime.now(UTC)),
                  license_validity=timedelta(days=license_file_days), follower=follower,
                  kafka_probe=kafka_probe, write_wait=write_wait)
    metrics.observe_stores(wiring.store.newest_position, models.watermark)
    app = application()
    app.state.ports = ports
    app.add_middleware(operations.LimitBody)
    app.add_middleware(operations.MeasureRequests, metrics=metrics)
    if fast_check:  # in front of FastAPI's own outer layers too (error, telemetry, body limit)
        answers = app.state.fast_answers = FastAnswers(ports)  # the server's protocol finds it
        stack = app.build_middleware_stack
        app.build_middleware_stack = lambda: FastCheck(stack(), answers)  # type: ignore[method-assign]
    return app
