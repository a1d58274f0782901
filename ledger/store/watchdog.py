"""A deadline for each transaction of a serving process on PostgreSQL (`pgpool`, `pgrecorder`).

A database that hangs (a frozen server, a storage stall, a partition its host still
acknowledges) fails nothing: a read just never returns, and PostgreSQL's own timeouts cannot
help, since the server is not running them. psycopg has no client-side deadline, so a request
then hung with the database, holding a worker thread and a pooled connection. The watchdog
cuts the connection of a transaction that outlives its deadline (shutting its socket down,
which the blocked read sees at once): the transaction fails with the driver's "server closed
the connection", which the API answers as for a stopped database (from memory, stale, or
503), and the pool drops the connection.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

log = structlog.get_logger()


class Watchdog:
    """Cuts the connections of transactions under way for longer than `seconds`: one daemon
    thread, asleep until the soonest deadline (all are `seconds` after their start, so a new
    one never comes before those already watched)."""

    def __init__(self, seconds: float, database: str = "the read database (LEDGER_READ_DATABASE_URL)",
                 name: str = "read-database-watchdog"):
        """`database`: which one, as the log names it when a transaction is cut; `name`: the
        thread's."""
        self.seconds, self.database, self.name = seconds, database, name
        self._watched: dict[int, tuple[float, int]] = {}  # token -> (deadline, descriptor)
        self._tokens = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, connection: Any) -> Iterator[None]:
        """The block, with `connection` (a psycopg connection) cut if it outlives the deadline.
        The watchdog holds a duplicate of its socket's descriptor until the block ends, so
        that what it shuts down is that socket, even if the driver has closed its own
        descriptor meanwhile and the number gone to another socket."""
        try:
            held: int | None = os.dup(connection.pgconn.socket)
        except Exception:  # noqa: BLE001 - a connection already lost: nothing to watch
            held = None
        if held is None:
            yield
            return
        token = next(self._tokens)
        with self._changed:
            self._watched[token] = (time.monotonic() + self.seconds, held)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
                self._thread.start()
            elif len(self._watched) == 1:  # it sleeps with nothing to watch: wake it
                self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._watched.pop(token, None)
            os.close(held)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for token, (deadline, held) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[token]
                        _cut(held, self.seconds, self.database)
                soonest = min((deadline for deadline, _ in self._watched.values()), default=None)
                self._changed.wait(None if soonest is None else max(0.0, soonest - now))


def _cut(held: int, seconds: float, database: str) -> None:
    """Shut the socket down through the watchdog's duplicate descriptor (closed by `watching`)."""
    try:
        cut = socket.socket(fileno=held)
    except OSError:  # not a socket after all: nothing to cut, and the watchdog goes on
        return
    try:
        cut.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        cut.detach()
    log.warning("database.transaction_cut", database=database, seconds=seconds,
                hint=f"{database} did not answer within the deadline: check it; the request "
                     "was answered 503 or from memory, marked stale")
