"""The check's fast path inside the server's protocol: a fast check (`fastcheck.py`) answered
in the parser's callback, from memory, with no ASGI task, scope messages or `send` calls.

Under a flood on two cores the constant-JSON FastAPI answer costs ~250 us of server CPU a
request, most of it uvicorn's per-request machinery (a task, the ASGI messages, the head
built header by header), so the framework's own ceiling sat above the 5 ms p99 that issue 10
asks of the check at 16 connections (docs/benchmarks.md, "The check, round 4").

What it answers and how is exactly the ASGI fast path's (`FastAnswers`): the same key,
role, body and cache rules, the same `Answer` bytes, behind the same head uvicorn would write
(its status line, its default headers, `connection: close` when the connection ends). It
takes only what it can answer whole and at once; everything else is started as uvicorn
starts any request, unchanged:
- a request that is not a plain POST /v1/check with a small JSON body (`fast_request`,
  `FastAnswers.principal`), or that waits for `100 Continue`, or behind uvicorn's own
  concurrency limit, starts its task at once, as before;
- a candidate waits for its body (at most `MAX_FAST_BODY`) in the parser, then is answered,
  or, if the body does not validate, the cache holds no fresh answer, the client is not
  reading (write paused) or a step failed, started as an ASGI task with its body in place,
  marked so that `FastCheck` does not try it a second time;
- a whole candidate is answered once the parser has taken all the bytes that came with it:
  if what followed was not HTTP, the client gets uvicorn's 400 alone, as when a task would
  have answered after it;
- a pipelined candidate is answered when its turn comes, in order, from the event loop as
  uvicorn's task would be (answering it inside the end of the one before would deepen the
  stack with each answer of a long pipeline: a review found a `RecursionError` at ~380).

Two things differ, neither an answer: uvicorn's `limit_concurrency` (not set by `ledger
serve`) would count fewer tasks, and the access log (debug level only) shows the peer's
address, not one a proxy's `X-Forwarded-For` names (uvicorn's proxy-headers layer is an ASGI
layer, which an inline answer does not pass through).
"""

from __future__ import annotations

import time
from typing import Any, cast

import structlog
from uvicorn._types import HTTPScope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from ledger.api.fastcheck import HANDED_ON, PATH, FastAnswers, Scope, fast_request
from ledger.api.keys import Principal

log = structlog.get_logger()

_Deferred = tuple[RequestResponseCycle, Any, Principal, float]


def _answers_of(app: Any) -> FastAnswers | None:
    """The `FastAnswers` of the app being served (`create_app` puts it in `app.state`),
    through the wrappers uvicorn puts around it (proxy headers, message logging)."""
    for _ in range(8):
        found = getattr(getattr(app, "state", None), "fast_answers", None)
        if isinstance(found, FastAnswers):
            return found
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class InlineCheckHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering fast checks itself (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers = _answers_of(self.app)
        self._deferred: _Deferred | None = None  # a candidate whose body is still to come
        self._ready: _Deferred | None = None  # a whole one, answered when the parser is done

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Answered once the parser has taken all of `data`: if it refused what followed the
        # request (a 400, the connection closed), that is all the client gets, as when the
        # request's task would have answered after it.
        ready, self._ready = self._ready, None
        if ready is not None and not self.transport.is_closing():
            self._answer_or_start(*ready)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        candidate = self._candidate(cycle, app)
        if candidate is None:
            super()._start_asgi_task(cycle, app)
        elif cycle.more_body:  # its body is still to come: answered once it is whole
            self._deferred = (cycle, app, *candidate)
        else:
            # A pipelined request, whole already, started as the one before it ended: answered
            # from the loop, as uvicorn's task would be, so that a long pipeline of answers
            # never answers inside the one before (the stack would deepen with each).
            self.loop.call_soon(self._answer_queued, (cycle, app, *candidate))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        deferred, self._deferred = self._deferred, None
        if deferred is not None and deferred[0] is self.cycle:
            self._ready = deferred

    def _answer_queued(self, queued: _Deferred) -> None:
        if not self.transport.is_closing():  # else nobody is there to read it
            self._answer_or_start(*queued)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deferred = None  # its body will not come: nothing to answer
        super().connection_lost(exc)

    def _candidate(self, cycle: RequestResponseCycle, app: Any) -> tuple[Principal, float] | None:
        """The caller and the start time, if the request may be answered inline."""
        if (self._answers is None or app is not self.app or cycle.waiting_for_100_continue
                or not fast_request(cast(Scope, cycle.scope))):
            return None
        started = time.perf_counter()
        principal = self._answers.principal(cycle.scope["headers"])
        return None if principal is None else (principal, started)

    def _answer_or_start(self, cycle: RequestResponseCycle, app: Any, principal: Principal,
                         started: float) -> None:
        answers = self._answers
        assert answers is not None  # a candidate has them
        if cycle.disconnected:
            return
        answer = None if cycle.flow.write_paused else answers.answer_bytes(principal, bytes(cycle.body))
        if answer is None:
            cycle.scope[HANDED_ON] = True  # type: ignore[literal-required]
            super()._start_asgi_task(cycle, app)
            return
        try:
            self._respond(cycle, *answer)
            answers.answered(started)
        except Exception:  # a bug of ours: ended as uvicorn ends a response its app failed in
            log.exception("api.unexpected_error", path=PATH, next_step="report this bug")
            self.transport.close()

    def _respond(self, cycle: RequestResponseCycle, headers: list[tuple[bytes, bytes]],
                 body: bytes) -> None:
        """A 200 with `body`, byte for byte as `RequestResponseCycle.send` writes it, then
        the end of the response as there: close if the connection ends, next request."""
        content = [STATUS_LINE[200]]
        for name, value in cycle.default_headers + headers:
            content.extend((name, b": ", value, b"\r\n"))
        if not cycle.keep_alive:
            content.append(b"connection: close\r\n")
        content.extend((b"\r\n", body))
        cycle.response_started = cycle.response_complete = True
        cycle.waiting_for_100_continue = False
        cycle.body = bytearray()
        if cycle.access_log:
            scope = cast(HTTPScope, cycle.scope)
            cycle.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), "POST",
                                     get_path_with_query_string(scope), scope["http_version"], 200)
        self.transport.write(b"".join(content))
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

