"""Waiting out contention: the write is sent again after each ConcurrentAppendError, told to
the caller each time, and given up only after the attempts it was allowed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.contention import waiting_out
from ledger.store.eventstore import ConcurrentAppendError


def busy_for(times: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise ConcurrentAppendError(f"taken ({len(calls)})")
        return "recorded"

    return calls, write


def test_the_write_goes_through_once_the_lock_is_free_and_each_wait_is_told() -> None:
    calls, write = busy_for(2)
    told: list[tuple[int, str]] = []
    assert waiting_out(write, lambda n, e: told.append((n, str(e))), backoff=0.0) == "recorded"
    assert len(calls) == 3 and told == [(1, "taken (1)"), (2, "taken (2)")]


def test_after_its_attempts_the_last_error_is_raised_untold() -> None:
    calls, write = busy_for(5)
    told: list[int] = []
    with pytest.raises(ConcurrentAppendError, match=r"taken \(3\)"):
        waiting_out(write, lambda n, e: told.append(n), backoff=0.0, attempts=3)
    assert len(calls) == 3 and told == [1, 2]
