"""The check's fast path: the common `POST /v1/check` (a well-formed JSON body, a key this
process already vouches for, the customer's states in the cache) answered by a small ASGI
layer in front of FastAPI, without its routing, dependency solving and middleware stack,
which cost about ten times the check itself (docs/benchmarks.md, issue 10).

It answers only what the full stack would answer 200 with the same bytes; it is one more way
to the same answer, never a second set of rules:
- the key is checked by `keys.remembered` (memory only; a first use today, an unknown key or
  revocations due to be counted go the full way, which writes and looks them up);
- the role by `auth.check_access`, the body by the route's own `CheckRequest`, parsed by
  pydantic's JSON parser: it refuses some bodies `json.loads` (FastAPI's reader) takes (a
  byte-order mark, UTF-16, NaN), never parses one differently, and what it refuses goes the
  full way;
- the decision and its counters by `queries.decided`, the bytes by the route's `Answer`.

Anything else goes to the full stack unchanged, the body already read replayed to it: another
path or method, a query string, a Content-Type other than exactly `application/json`, no
declared length, a chunked or larger body (so `LimitBody`'s 413 is the full stack's), repeated
headers, a body that does not validate, or no fresh answer in the cache (`lookup` holds none
while the feed is due, behind or failing: the full route then marks a stale answer). The
slow-client bounds are the server's (`connections.py`) and hold for both ways alike.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
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
HANDED_ON = "ledger.fast_check_handed_on"  # a scope key: the protocol tried and handed it on
_RENDERER = Answer(None)  # `Answer.render` needs an instance, not its state
_CONTENT_TYPE = next(h for h in _RENDERER.raw_headers if h[0] == b"content-type")


class FastAnswers:
    """The fast path's decisions, synchronous and from memory only, so that both ways in use
    them: `FastCheck` (an ASGI layer, for any server) and the server's own protocol
    (`inline.py`), which answers a fast check without an ASGI task at all."""

    def __init__(self, ports: Ports):
        self.ports = ports

    def principal(self, headers: Iterable[tuple[bytes, bytes]]) -> Principal | None:
        """The caller, if the headers are plain (each wanted one at most once, the body JSON
        of a small declared length) and memory vouches for the key and its role may check;
        None (the full way) otherwise, also if a step raised (`_guarded`)."""
        return _guarded(self._principal, headers)

    def answer(self, principal: Principal, raw: bytes) -> Answer | None:
        """The route's answer when the body is valid and the cache holds a fresh answer;
        None (the full way) otherwise, also if a step raised (`_guarded`)."""
        content = _guarded(self._answer, principal, raw)
        return None if content is None else Answer(content)

    def answer_bytes(self, principal: Principal, raw: bytes
                     ) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """`answer` as the headers and body `Answer` would send, without building a Response
        (for the server's protocol, `inline.py`)."""
        content = _guarded(self._answer, principal, raw)
        if content is None:
            return None
        body = _guarded(Answer.render, _RENDERER, content)
        if body is None:
            return None
        return [(b"content-length", b"%d" % len(body)), _CONTENT_TYPE], body

    def answered(self, started: float) -> None:
        """Count a fast answer as the full stack's `MeasureRequests` counts one."""
        self.ports.metrics.answered("POST", PATH, 200, time.perf_counter() - started)

    def _principal(self, headers: Iterable[tuple[bytes, bytes]]) -> Principal | None:
        found: dict[bytes, bytes] = {}
        for name, value in headers:
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

    def _answer(self, principal: Principal, raw: bytes) -> dict[str, Any] | None:
        try:
            request = CheckRequest.model_validate_json(raw)
        except (ValueError, ValidationError, RecursionError):
            return None
        ports = self.ports
        found = ports.cache.lookup(principal.tenant, request.customer_id, ports.clock())
        if found is None:  # also when the cache is failing or behind: it answers only fresh
            return None
        return decided(ports, found, request.feature, request.quantity)


def fast_request(scope: Scope) -> bool:
    """Whether a request may be a fast check at all, by its method, path and query; its
    headers and body decide the rest (`FastAnswers`). A request the server's protocol
    already tried and handed on is not tried again."""
    return (scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST"
            and not scope.get("query_string") and not scope.get("root_path")
            and not scope.get(HANDED_ON))


def _guarded(step: Callable[..., _T | None], *args: Any) -> _T | None:
    """`step`, or None (the full way) if it raised: the fast path runs in front of the
    framework's error middleware, so a failure here is answered, and logged, by the full
    stack, which meets the same failure in the route, exactly as without the fast path."""
    try:
        return step(*args)
    except Exception:  # noqa: BLE001 - the full stack answers and logs it
        return None


class FastCheck:
    """In front of the whole FastAPI application (`app.LedgerApp`), so that a fast answer
    skips its outer layers too: see the module's docstring for what it answers."""

    def __init__(self, app: App, answers: FastAnswers):
        self.app = app
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not fast_request(scope):
            await self.full(scope, receive, send)
            return
        started = time.perf_counter()
        principal = self.answers.principal(scope["headers"])
        if principal is None:
            await self.full(scope, receive, send)
            return
        messages: list[Message] = []
        raw = await _read(receive, messages)
        answer = None if raw is None else self.answers.answer(principal, raw)
        if answer is None:
            await self.full(scope, _replaying(messages, receive), send)
            return
        await answer(scope, receive, send)
        self.answers.answered(started)

    async def full(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The full stack: FastAPI with every middleware, as for any request."""
        await self.app(scope, receive, send)


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
