"""Connections bounded in time and number, so slow or idle clients cannot hold the server.

uvicorn closes an idle keep-alive connection (`keepalive_timeout`), but waits for a request's
headers forever: a client that connects and sends nothing, or a header byte now and then, keeps
its socket and its slot. Here a request's headers must be complete within `header_timeout`
seconds of the connection, or of the first byte after the previous response; and beyond
`max_connections` open at once, a new connection is answered 503 `busy` at once, its request
not read."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, cast

from ledger.api.coalesce import HeadJoined
from ledger.api.inline import InlineCheckHttp


@dataclass(frozen=True)
class ConnectionLimits:
    """What `ledger serve` and `ledger up` bound (settings `LEDGER_HTTP_*`, or their flags)."""

    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000


def _busy(limit: int) -> bytes:
    text = json.dumps({"code": "busy", "message": f"the server has {limit} connections open "
                       "(LEDGER_HTTP_MAX_CONNECTIONS); try again shortly"}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            b"connection: close\r\nretry-after: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text))


class _BoundedHttp(InlineCheckHttp):
    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True
        self._refused = False
        self._just_answered = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, HeadJoined(transport, self.loop)))
        self._refused = len(self.connections) > self.limits.max_connections
        if self._refused:
            # Answer at once, then read and drop what the client sends until it closes or
            # the header time is up: closing with its request unread would reset the
            # connection before the client could read why.
            transport.write(_busy(self.limits.max_connections))
            if transport.can_write_eof():
                transport.write_eof()
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._just_answered = False
        super().data_received(data)
        if self._awaiting_headers and self._header_timer is None and not self._just_answered:
            self._arm()  # the first byte of the next request on a kept-alive connection

    def on_message_begin(self) -> None:
        self._just_answered = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle now (uvicorn's keep-alive timer runs) unless a pipelined request was started.
        self._awaiting_headers = self.cycle is None or self.cycle.response_complete
        # A request answered inline (`inline.py`) completes inside `data_received`: no byte
        # of a next request came with it unless a next message began after it.
        self._just_answered = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if (self._awaiting_headers or self._refused) and not self.transport.is_closing():
            self.transport.close()


def bounded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with `limits`, for `uvicorn.Config(http=...)`."""
    return type("BoundedHttp", (_BoundedHttp,), {"limits": limits})


class WorkerBoundedHttp(_BoundedHttp):
    """The bounded protocol of `ledger serve --workers N`: uvicorn hands its configuration to
    each worker process by pickling, so the class must live at module level; each worker sets
    its `limits` from the settings before it serves (`ledger.cli.processes.worker_app`)."""
