"""The serving process's deadline on a transaction (`ledger.store.watchdog`): a connection
whose transaction outlives it is cut, so a read blocked on a database that hangs returns at
once; one that ends in time is left alone. A socket pair stands in for the driver's socket."""

from __future__ import annotations

import os
import socket
import threading
import time
from types import SimpleNamespace

from ledger.store.watchdog import Watchdog


def connection_of(end: socket.socket) -> SimpleNamespace:
    return SimpleNamespace(pgconn=SimpleNamespace(socket=end.fileno()))


def test_a_read_that_outlives_the_deadline_is_cut_and_returns_at_once() -> None:
    ours, server = socket.socketpair()  # the server never answers
    ours.settimeout(5)  # without the cut: socket.timeout, a failure, not a hang
    watchdog = Watchdog(0.2)
    descriptors = len(os.listdir("/proc/self/fd"))
    began = time.monotonic()
    with watchdog.watching(connection_of(ours)):
        assert ours.recv(1) == b""  # blocked until the watchdog shut the socket down
    took = time.monotonic() - began
    assert len(os.listdir("/proc/self/fd")) == descriptors  # its duplicate closed
    assert 0.15 < took < 2.0, took
    assert ours.fileno() != -1  # shut down, not closed: the driver closes its own descriptor
    ours.close()
    server.close()


def test_transactions_that_end_in_time_are_left_alone_and_later_ones_still_watched() -> None:
    watchdog = Watchdog(1.0)  # long enough that a stalled machine does not reach it mid-block
    pairs = [socket.socketpair() for _ in range(3)]
    for ours, _ in pairs:
        ours.settimeout(5)
    for ours, server in pairs[:2]:
        with watchdog.watching(connection_of(ours)):
            server.sendall(b"x")
            assert ours.recv(1) == b"x"
    time.sleep(1.2)  # past both deadlines: neither was cut
    for ours, server in pairs[:2]:
        server.sendall(b"y")
        assert ours.recv(1) == b"y"
    ours, _ = pairs[2]
    cut = threading.Event()

    def read() -> None:
        with watchdog.watching(connection_of(ours)):
            ours.recv(1)
            cut.set()

    threading.Thread(target=read, daemon=True).start()  # the watchdog slept with nothing to do
    assert cut.wait(3)
    for pair in pairs:
        for end in pair:
            end.close()
