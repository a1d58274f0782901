"""One write per response where uvicorn makes two: its protocol writes a response's head
(status line and headers) as soon as the app starts the response, and the body as a second
write, so every small answer costs two `send` calls, two TCP segments and, often, two
wake-ups of the client. Profiled under wrk at 16 connections, those two writes were ~40 % of
the serving thread's time (the head's ~3/4 of it: it is the one that wakes the client);
docs/benchmarks.md, "The check, round 3".

`HeadJoined` wraps the connection's transport: a write that is a whole response head is held
and sent together with the next write (the body, which every plain response sends in the
same step of the event loop); if none comes in that step (a streamed response whose first
chunk is not ready), the head goes out by itself at the next turn of the loop. Bytes are
never reordered, dropped or delayed past that turn; closing or ending the stream sends a held
head first.
"""

from __future__ import annotations

import asyncio
from typing import Any

_HEAD_START = b"HTTP/1."
_HEAD_END = b"\r\n\r\n"


class HeadJoined:
    """The transport of one connection, with a response head held for the write after it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport, self._loop = transport, loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        elif data[:7] == _HEAD_START and data[-4:] == _HEAD_END:
            self._head = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now (the next turn of the loop, or before the stream ends)."""
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():  # else the peer went away: nothing to send
                self._transport.write(head)

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._head = None  # an abort discards what is unsent anyway
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)  # reading, flow control, extra info: as is
