"""Slow and idle clients cannot hold `ledger serve`: a connection that sends nothing, or its
headers a byte at a time, is closed once the header time is up; an idle kept-alive one after
the keep-alive time; beyond the connection cap a newcomer is told 503 `busy` (issue 7 item 6).
Bounded: every wait here ends within a few seconds."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from ledger.api.connections import ConnectionLimits
from ledger.cli.limits import connection_limits
from ledger.settings import Settings
from tests.integration.test_api_serve import Serve, environment, serve  # noqa: F401

MAX_CONNECTIONS = 6


@pytest.fixture
def served(serve: Serve, tmp_path: Path) -> str:  # noqa: F811 - the fixture, imported
    env = environment(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path,
                      LEDGER_HTTP_HEADER_TIMEOUT="0.5", LEDGER_HTTP_KEEPALIVE_TIMEOUT="0.5",
                      LEDGER_HTTP_MAX_CONNECTIONS=str(MAX_CONNECTIONS))
    return serve(env).removeprefix("http://")


def connect(address: str) -> socket.socket:
    host, port = address.split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def closed_within(conn: socket.socket, seconds: float) -> float:
    """How long until the server closed `conn`, reading what it sends; fails past `seconds`."""
    started = time.monotonic()
    conn.settimeout(seconds)
    try:
        while conn.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {seconds} s")
    return time.monotonic() - started


GET = b"GET /v1/license-files/keys HTTP/1.1\r\nHost: x\r\n\r\n"


def test_a_connection_that_sends_nothing_is_closed(served: str) -> None:
    with connect(served) as conn:
        assert closed_within(conn, 4) < 3


def test_headers_sent_a_byte_at_a_time_do_not_keep_the_connection(served: str) -> None:
    with connect(served) as conn:
        started = time.monotonic()
        for byte in GET[:-4]:
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break  # closed by the server, as it should be
            time.sleep(0.1)
            if time.monotonic() - started > 4:
                pytest.fail("the server still reads headers sent a byte at a time after 4 s")
        closed_within(conn, 4)
        assert time.monotonic() - started < 3.5


def test_an_idle_kept_alive_connection_is_closed_after_its_answer(served: str) -> None:
    with connect(served) as conn:
        conn.sendall(GET)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_within(conn, 4) < 3


def test_beyond_the_connection_cap_a_newcomer_is_told_busy(served: str) -> None:
    held: list[socket.socket] = []
    try:
        # The cap counts every open connection, the serve fixture's own included, if still open.
        for _ in range(MAX_CONNECTIONS + 2):
            held.append(connect(served))
        answer = b""
        with connect(served) as extra:
            extra.sendall(GET)
            extra.settimeout(4)
            while chunk := extra.recv(65536):
                answer += chunk
        head, _, text = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and json.loads(text)["code"] == "busy"
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:  # the slots come back once those connections are gone
        with connect(served) as conn:
            conn.sendall(GET)
            if conn.recv(65536).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.1)
    pytest.fail("the server did not take connections again")


def test_flags_override_the_settings_for_connection_limits() -> None:
    settings = Settings(_env_file=None, http_header_timeout=3, http_max_connections=9)  # type: ignore[call-arg]
    assert connection_limits(settings, None, 2.5, None) == ConnectionLimits(3, 2.5, 9)
    assert connection_limits(settings, 1, None, 4) == ConnectionLimits(1, 5, 4)

