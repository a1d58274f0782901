"""The check answered inside the server's protocol (`ledger.api.inline`), on real sockets:
the same bytes as the full stack for every request, in order when pipelined (1,000 deep too),
with the connection's end as uvicorn's (HTTP/1.0, `Connection: close`, bytes after a request
that are not HTTP), a body that comes in pieces waited for, `Expect: 100-continue` and misses
handed on, and the idle-connection timers unchanged."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ledger.api.connections import ConnectionLimits
from ledger.api.fastcheck import FastAnswers
from ledger.api.inline import InlineCheckHttp
from ledger.api.server import server_config
from tests.builders import envelope
from tests.integration.test_api_harness import Api
from tests.integration.test_check_fast_path import fast_and_full

LIMITS = ConnectionLimits(header_timeout=0.6, keepalive_timeout=1.5, max_connections=50)
DATE = re.compile(rb"\r\ndate: [^\r]*")


class Served:
    """One app served by uvicorn with the server's own protocol, on a thread."""

    def __init__(self, app: Any):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", self.port, limits=LIMITS))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def exchange(conn: socket.socket, *pieces: bytes, responses: int = 1, pause: float = 0) -> bytes:
    """Send `pieces` (`pause` s apart), then read until `responses` whole answers came (each
    has a content-length) or the server closed; the bytes with the date header taken out."""
    for i, piece in enumerate(pieces):
        if i and pause:
            time.sleep(pause)
        conn.sendall(piece)
    data = b""
    while _answers(data) < responses:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return DATE.sub(b"", data)


def _answers(data: bytes) -> int:
    count, rest = 0, data
    while (end := rest.find(b"\r\n\r\n")) >= 0:
        if rest.startswith(b"HTTP/1.1 100"):
            rest = rest[end + 4:]
            continue
        length = int(re.search(rb"content-length: (\d+)", rest[:end]).group(1))  # type: ignore[union-attr]
        if len(rest) < end + 4 + length:
            break
        count, rest = count + 1, rest[end + 4 + length:]
    return count


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[Served, Served, Api, dict[str, int]]]:
    """The app served with its fast path and without it (one cache), and how many answers
    the protocol gave inline and how many times a request's caller was asked for (once by
    the protocol or by `FastCheck`, the ASGI way, never both)."""
    counts = {"inline": 0, "asked": 0}
    respond, principal = InlineCheckHttp._respond, FastAnswers.principal

    def counted_respond(self: InlineCheckHttp, *args: Any) -> None:
        counts["inline"] += 1
        respond(self, *args)

    def counted_principal(self: FastAnswers, headers: Any) -> Any:
        counts["asked"] += 1
        return principal(self, headers)

    monkeypatch.setattr(InlineCheckHttp, "_respond", counted_respond)
    monkeypatch.setattr(FastAnswers, "principal", counted_principal)
    with fast_and_full(tmp_path) as (fast_app, slow_app, api):
        fast, slow = Served(fast_app), Served(slow_app)
        try:
            yield fast, slow, api, counts
        finally:
            fast.stop()
            slow.stop()


def check(key: str, body: bytes = b'{"customer_id":"c1","feature":"sso"}', *,
          version: bytes = b"1.1", extra: bytes = b"") -> bytes:
    return (b"POST /v1/check HTTP/" + version + b"\r\nHost: x\r\nAuthorization: Bearer "
            + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def both(fast: Served, slow: Served, *pieces: bytes, **options: Any) -> bytes:
    """The exchange on a new connection to each server; their bytes are identical."""
    with fast.connect() as a, slow.connect() as b:
        got = exchange(a, *pieces, **options)
        assert got == exchange(b, *pieces, **options)
    return got


def test_hits_are_answered_inline_with_the_full_stacks_bytes(served: Any) -> None:
    fast, slow, api, counts = served
    key = api.key("service")
    first = both(fast, slow, check(key))  # the key's first use today: the full way
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b'"allowed":true' in first
    counts.update(inline=0, asked=0)
    for body in (b'{"customer_id":"c1","feature":"sso"}',
                 b'{"customer_id":"c1","feature":"nope","quantity":2}',
                 b'{"customer_id":"nobody","feature":"sso"}'):
        both(fast, slow, check(key, body))
        both(fast, slow, check(key, body))  # the second a cache hit if the first was not
    assert counts["inline"] >= 3 and counts["asked"] == 6


def test_pipelined_requests_are_answered_in_order(served: Any) -> None:
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    counts.update(inline=0, asked=0)
    health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    got = both(fast, slow, health + check(key) + check(key, b'{"customer_id":"c1","feature":"x"}')
               + health, responses=4)
    assert got.count(b"HTTP/1.1 200 OK") == 4
    assert counts["inline"] == 2  # the two checks, each in its turn


def test_the_connection_ends_as_uvicorn_ends_it(served: Any) -> None:
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    counts.update(inline=0, asked=0)
    for request in (check(key, version=b"1.0"), check(key, extra=b"Connection: close\r\n")):
        got = both(fast, slow, request)
        assert b"\r\nconnection: close\r\n" in got
        with fast.connect() as conn:
            exchange(conn, request)
            assert conn.recv(100) == b""  # closed after the answer
    assert counts["inline"] == 4


def test_a_body_in_pieces_is_waited_for_and_100_continue_goes_the_full_way(served: Any) -> None:
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    counts.update(inline=0, asked=0)
    request = check(key)
    both(fast, slow, request[:-10], request[-10:], pause=0.1)
    assert counts == {"inline": 1, "asked": 1}
    head, body = check(key, extra=b"Expect: 100-continue\r\n").split(b"\r\n\r\n")
    with fast.connect() as a, slow.connect() as b:
        for conn in (a, b):
            conn.sendall(head + b"\r\n\r\n")
            assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert exchange(a, body) == exchange(b, body)
    assert counts == {"inline": 1, "asked": 2}  # the second by FastCheck: not inline


def test_a_miss_is_handed_on_once_and_answered_by_the_full_stack(served: Any) -> None:
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    api.record([envelope("license.granted", "2026-02-02", "lic-3", customer_id="c3", plan="pro")])
    counts.update(inline=0, asked=0)
    got = both(fast, slow, check(key, b'{"customer_id":"c3","feature":"sso"}'))
    assert b'"allowed":true' in got
    # handed on to the ASGI app marked as tried: FastCheck does not ask a second time
    assert counts == {"inline": 0, "asked": 1}


def test_an_idle_connection_after_an_inline_answer_is_kept_alive_then_closed(served: Any) -> None:
    """After an inline answer the connection is idle, not in a request's headers: the
    keep-alive time (1.5 s) applies, not the header time (0.6 s)."""
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    counts.update(inline=0, asked=0)
    with fast.connect() as conn:
        exchange(conn, check(key))
        time.sleep(1.0)  # past the header time
        assert exchange(conn, check(key)).startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        conn.settimeout(5)
        assert conn.recv(100) == b""
        assert 1.0 < time.monotonic() - started < 3.0
        conn.close()
    with fast.connect() as conn:  # a next request's headers begun: the header time applies
        exchange(conn, check(key))
        conn.sendall(b"POST /v1/check HTTP/1.1\r\n")
        started = time.monotonic()
        assert conn.recv(100) == b""
        assert time.monotonic() - started < 1.2
    assert counts["inline"] == 3


def read_all(conn: socket.socket, data: bytes, seconds: float = 10) -> bytes:
    """Send `data`, read until the server closes or `seconds` pass with nothing more."""
    conn.sendall(data)
    conn.settimeout(seconds)
    got = b""
    try:
        while chunk := conn.recv(1 << 20):
            got += chunk
    except TimeoutError:
        pass
    return DATE.sub(b"", got)


def test_a_long_pipeline_of_hits_is_answered_whole_and_in_order(served: Any) -> None:
    """A review found answers of a pipeline, each given inside the end of the one before,
    cut off by a RecursionError after ~380; now each pipelined one is answered from the
    loop. 1,000 checks behind a request that goes the ASGI way, ended by `Connection:
    close` so that the read ends: the same bytes as the full stack's, every check inline."""
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    counts.update(inline=0, asked=0)
    data = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + check(key) * 1000
            + check(key, extra=b"Connection: close\r\n"))
    # each connection opened just before its turn: one left idle while the other's 1,002
    # answers are read (seconds on a busy machine) is closed by the keep-alive timer first
    with fast.connect() as a:
        got = read_all(a, data)
    with slow.connect() as b:
        assert got == read_all(b, data)
    assert got.count(b"HTTP/1.1 200 OK") == 1002
    assert counts["inline"] == 1001


def test_bytes_after_a_check_that_are_not_http_get_the_400_alone(served: Any) -> None:
    fast, slow, api, counts = served
    key = api.key("service")
    both(fast, slow, check(key))
    data = check(key) + b"\x00\x01garbage\r\n\r\n"
    with fast.connect() as a, slow.connect() as b:
        got = read_all(a, data, 5)
        assert got == read_all(b, data, 5)
    assert got.startswith(b"HTTP/1.1 400") and got.count(b"HTTP/1.1") == 1

