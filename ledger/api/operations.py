"""GET /healthz for load balancers and GET /metrics for Prometheus."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from starlette.exceptions import HTTPException

from ledger.api.auth import Guarded, may
from ledger.api.errors import Answer, body, refuse_unknown_query
from ledger.api.health import health
from ledger.api.keys import Principal
from ledger.api.metrics import CONTENT_TYPE, Metrics
from ledger.api.models import Health
from ledger.api.ports import PortsDep
from ledger.api.responses import problems

router = APIRouter(tags=["operations"], route_class=Guarded)


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
