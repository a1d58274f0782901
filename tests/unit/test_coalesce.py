"""A response's head and body leave in one write (`ledger.api.coalesce`), never reordered,
never held past the loop's next turn; through the server's own protocol, too."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from ledger.api.coalesce import HeadJoined
from ledger.api.connections import ConnectionLimits, bounded_protocol

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Wire:
    """A transport that records each write it is given."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def test_a_head_and_the_body_after_it_in_the_same_turn_are_one_write() -> None:
    async def scenario() -> list[bytes]:
        wire = Wire()
        joined = HeadJoined(wire, asyncio.get_running_loop())  # type: ignore[arg-type]
        joined.write(HEAD)
        joined.write(b"{}")
        await asyncio.sleep(0)
        return wire.writes

    assert asyncio.run(scenario()) == [HEAD + b"{}"]


def test_a_lone_head_goes_out_at_the_next_turn_and_other_writes_at_once() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        wire = Wire()
        joined = HeadJoined(wire, asyncio.get_running_loop())  # type: ignore[arg-type]
        joined.write(b"data: a chunk\r\n\r\n")  # not a head: sent as it comes
        sent_at_once = list(wire.writes)
        joined.write(HEAD)
        held = list(wire.writes)
        await asyncio.sleep(0)
        return sent_at_once, held, wire.writes

    at_once, held, after = asyncio.run(scenario())
    assert at_once == held == [b"data: a chunk\r\n\r\n"]
    assert after == [b"data: a chunk\r\n\r\n", HEAD]


def test_closing_or_ending_the_stream_sends_a_held_head_first() -> None:
    async def scenario() -> tuple[Wire, Wire]:
        loop = asyncio.get_running_loop()
        closed, ended = Wire(), Wire()
        for wire, finish in ((closed, "close"), (ended, "write_eof")):
            joined = HeadJoined(wire, loop)  # type: ignore[arg-type]
            joined.write(HEAD)
            getattr(joined, finish)()
        await asyncio.sleep(0)
        return closed, ended

    closed, ended = asyncio.run(scenario())
    assert closed.writes == ended.writes == [HEAD] and closed.closed and ended.eof


def test_the_server_protocol_answers_a_request_in_one_write() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def scenario() -> list[bytes]:
        config = uvicorn.Config(app, log_config=None, server_header=False, date_header=False)
        config.load()
        protocol = bounded_protocol(ConnectionLimits())(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={})
        wire = Wire()
        protocol.connection_made(wire)  # type: ignore[arg-type]
        protocol.data_received(b"POST /v1/check HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        for _ in range(5):
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        return wire.writes

    writes = asyncio.run(scenario())
    assert len(writes) == 1, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n{}")
