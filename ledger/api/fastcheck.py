"""The check's fast path: the common `POST /v1/check` (a well-formed JSON body, a key this
process already vouches for, the customer's states in the cache) answered by a small ASGI
layer in front of FastAPI, without its routing, dependency solving and middleware stack,
which cost about ten times the check itself (docs/benchmarks.md, issue 10).

It answers only what the full stack would answer 200 with the same bytes; it is one more way
to the same answer, never a second set of rules:
- the key is checked by `keys.remembered` (memory only; a first use today, an unknown key or
  revocations due to be counted go the full way, which writes and looks them up);
- the role by `auth.check_access`, the body by the route's own `CheckRequest` over
  `json.loads`, as FastAPI reads a JSON body;
- the decision and its counters by `queries.decided`, the bytes by the route's `Answer`.

Anything else goes to the full stack unchanged, the body already read replayed to it: another
path or method, a query string, a Content-Type other than exactly `application/json`, no
declared length, a chunked or larger body (so `LimitBody`'s 413 is the full stack's), repeated
headers, a body that does not validate, or no fresh answer in the cache (`lookup` holds none
while the feed is due, behind or failing: the full route then marks a stale answer). The
slow-client bounds are the server's (`connections.py`) and hold for both ways alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from pydantic import ValidationError

from ledger.api.auth import check_access
from ledger.api.credentials import bearer_key
from ledger.api.errors import Answer, ApiError
from ledger.api.keys import Principal
from ledger.api.models import CheckRequest
from ledger.api.ports import Ports
from ledger.api.queries import decided

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = "/v1/check"
MAX_FAST_BODY = 16_384  # a check body is under 1 KiB; larger ones go the full way
_T = TypeVar("_T")
_WANTED = (b"authorization", b"content-type", b"content-length", b"transfer-encoding")


class FastCheck:
    """In front of the whole FastAPI application (`app.LedgerApp`), so that a fast answer
    skips its outer layers too: see the module's docstring for what it answers."""

    def __init__(self, app: App, ports: Ports):
        self.app = app
        self.ports = ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST"
                or scope.get("query_string") or scope.get("root_path")):
            await self.full(scope, receive, send)
            return
        started = time.perf_counter()
        principal = self._guarded(self._principal, scope)
        if principal is None:
            await self.full(scope, receive, send)
            return
        messages: list[Message] = []
        raw = await _read(receive, messages)
        answer = None if raw is None else self._guarded(self._answer, principal, raw)
        if answer is None:
            await self.full(scope, _replaying(messages, receive), send)
            return
        await answer(scope, receive, send)
        self.ports.metrics.answered("POST", PATH, 200, time.perf_counter() - started)

    def _guarded(self, step: Callable[..., _T | None], *args: Any) -> _T | None:
        """`step`, or None (the full way) if it raised: the fast path runs in front of the
        framework's error middleware, so a failure here is answered, and logged, by the full
        stack, which meets the same failure in the route, exactly as without the fast path."""
        try:
            return step(*args)
        except Exception:  # noqa: BLE001 - the full stack answers and logs it
            return None

    async def full(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The full stack: FastAPI with every middleware, as for any request."""
        await self.app(scope, receive, send)

    def _principal(self, scope: Scope) -> Principal | None:
        """The caller, if the headers are plain (each wanted one at most once, the body JSON
        of a small declared length) and memory vouches for the key and its role may check."""
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED:
                if name in found:
                    return None
                found[name] = value
        length = found.get(b"content-length", b"")
        if (b"transfer-encoding" in found or found.get(b"content-type") != b"application/json"
                or not length.isdigit() or not 0 < int(length) <= MAX_FAST_BODY
                or b"authorization" not in found):
            return None
        key = bearer_key([found[b"authorization"].decode("latin-1")])
        principal = None if key is None else self.ports.keys.remembered(key)
        if principal is None:
            return None
        try:
            check_access(principal, "check")
        except ApiError:
            return None
        return principal

    def _answer(self, principal: Principal, raw: bytes) -> Answer | None:
        """The route's answer when the body is valid and the cache holds a fresh answer."""
        try:
            request = CheckRequest.model_validate(json.loads(raw))
        except (ValueError, ValidationError, RecursionError):
            return None
        ports = self.ports
        found = ports.cache.lookup(principal.tenant, request.customer_id, ports.clock())
        if found is None:  # also when the cache is failing or behind: it answers only fresh
            return None
        return Answer(decided(ports, found, request.feature, request.quantity))


async def _read(receive: Receive, messages: list[Message]) -> bytes | None:
    """The whole body (kept in `messages` to replay), or None if the client went away."""
    chunks = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` as if nothing had been read: the messages already taken, then the rest."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
