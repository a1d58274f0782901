"""Waiting out write contention: what `ledger consume` and `ledger ingest` do when a tenant's
write lock stays taken past the lock timeout (`ConcurrentAppendError`: nothing of the write was
recorded, so sending it again is safe). The HTTP API does not wait: it answers 503 `busy` and
the client sends again."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TypeVar

from ledger.store.eventstore import ConcurrentAppendError

T = TypeVar("T")


def waiting_out(write: Callable[[], T], busy: Callable[[int, ConcurrentAppendError], None], *,
                backoff: float, attempts: int | None = None) -> T:
    """`write()`, again after each ConcurrentAppendError (`busy(attempt, error)` is told, then a
    pause of `backoff` seconds times the attempt, at most 5), at most `attempts` times in all
    (None: until it goes through); the last error is raised if none did."""
    for attempt in itertools.count(1):
        try:
            return write()
        except ConcurrentAppendError as exc:
            if attempts is not None and attempt >= attempts:
                raise
            busy(attempt, exc)
            time.sleep(min(backoff * attempt, 5.0))
    raise AssertionError("unreachable")
