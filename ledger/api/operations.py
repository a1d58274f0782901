"""GET /healthz for load balancers and GET /metrics for Prometheus."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from starlette.exceptions import HTTPException

from ledger.api.auth import Guarded, may
from ledger.api.errors import Answer, body, refuse_unknown_query
from ledger.api.keys import Principal
from ledger.api.metrics import CONTENT_TYPE, Metrics
from ledger.api.models import Health
from ledger.api.ports import Ports, PortsDep, Probe
from ledger.api.responses import problems

router = APIRouter(tags=["operations"], route_class=Guarded)


def _probe(probe: Probe) -> dict[str, Any]:
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 - any failure of a store is what health reports
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


LAG_PROBE = 1000  # facts looked at beyond the newest applied one
STALE_AFTER = timedelta(seconds=60)  # an event not projected by then means a worker is missing


def _read_models(ports: Ports, store_reachable: bool) -> dict[str, Any]:
    """The read models answer; in the embedded mode also how far the follower lags the ledger,
    and not ok while its rounds keep failing (it retries a failing batch forever). The lag is
    counted against the event store: None while that cannot be reached."""
    check: dict[str, Any] = {"ok": True, "watermark": ports.models.watermark()}
    follower = ports.follower
    if not store_reachable:
        check["lag"] = None
    elif follower is None:  # Kafka mode: are the relay and the projection workers keeping up?
        pending = ports.store.facts_after(ports.models.newest_applied(), LAG_PROBE)
        check["lag"] = len(pending)
        if pending and ports.clock() - pending[0].recorded_at > STALE_AFTER:
            check.update(ok=False, error=(
                f"{len(pending)}{'+' if len(pending) == LAG_PROBE else ''} ledger events are not "
                f"in the read models, the oldest recorded {pending[0].recorded_at:%Y-%m-%dT%H:%M:%SZ}"
                ": are `ledger relay` and `ledger project` running and reaching Kafka?"))
    else:
        check["lag"] = follower.lag()
    if follower is not None:
        error = follower.last_error
        if error is not None:
            rounds = max(1, follower.failures)  # read after the error: a success may come between
            check.update(ok=False, error=f"projecting the ledger failed {rounds} time"
                         f"{'' if rounds == 1 else 's'} in a row; last: {error}")
    return check


def _event_store(ports: Ports) -> dict[str, Any]:
    return {"ok": True, "position": ports.store.newest_position()}


def health(ports: Ports) -> dict[str, dict[str, Any]]:
    store = _probe(lambda: _event_store(ports))
    checks = {"event_store": store, "read_models": _probe(lambda: _read_models(ports, store["ok"]))}
    if ports.kafka_probe is not None:
        checks["kafka"] = _probe(ports.kafka_probe)
    stale = ports.cache.stale_for()
    checks["check_cache"] = {"ok": True, "entries": len(ports.cache)} if stale is None else {
        "ok": False, "entries": len(ports.cache), "stale_seconds": round(stale, 3),
        "error": "the check answers marked stale: " + (
            ports.cache.last_error or "the read models are not following the ledger")}
    return checks


@router.get("/healthz", response_model=None,
            responses={200: {"model": Health}, 503: {"model": Health, "description": "Degraded."}})
def healthz(ports: PortsDep, _: Annotated[None, Depends(refuse_unknown_query)]) -> Answer:
    """Whether the event store, the read models and (when configured) Kafka answer."""
    checks = health(ports)
    ok = all(c.get("ok") for c in checks.values())
    return Answer({"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
          "description": "Prometheus text format."}, **problems(401, 403)})
def metrics(_: Annotated[Principal, Depends(may("metrics"))], ports: PortsDep) -> Response:
    """Prometheus metrics of this API instance (admin keys only)."""
    return Response(ports.metrics.render(), media_type=CONTENT_TYPE)


_METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class MeasureRequests:
    """ASGI middleware: count and time every request by its route template."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # the template as documented ("/v1/licenses/{license_id}"), without convertors
            route = getattr(scope.get("route"), "path_format", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.answered(method, route, status, time.perf_counter() - started)


MAX_BODY = 10 * 2**20


class LimitBody:
    """ASGI middleware: refuse a request body over MAX_BODY bytes (413): before reading it when
    its length is declared, and as soon as it passes the limit when it is sent in chunks."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY:
            response = Answer(body("invalid_request", f"the body exceeds {MAX_BODY} bytes"), 413)
            await response(scope, receive, send)
            return
        if b"content-length" in headers and b"transfer-encoding" not in headers:
            # The HTTP parser delivers no more than the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        seen = 0

        async def receiving() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:  # an HTTPException: FastAPI passes it on, as a 413
                raise HTTPException(413, f"the body exceeds {MAX_BODY} bytes")
            return message

        await self.app(scope, receiving, send)
