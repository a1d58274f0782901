"""`restarts.begun`: a transaction begun again past connections that fail at once, and only
its beginning: what the block does is never done twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from ledger.store import restarts
from ledger.store.restarts import BROKEN_HELD, begun


class Broken(Exception):
    pass


def pool(failing: int, *, slow: float = 0.0
         ) -> tuple[list[str], Callable[[], AbstractContextManager[str]]]:
    """A transaction whose first `failing` beginnings fail (each after `slow` seconds), and
    the log of what happened."""
    seen: list[str] = []

    @contextmanager
    def transaction() -> Iterator[str]:
        if len([s for s in seen if s == "failed"]) < failing:
            time.sleep(slow)
            seen.append("failed")
            raise Broken("server closed the connection unexpectedly")
        seen.append("begun")
        try:
            yield "cursor"
        finally:
            seen.append("ended")

    return seen, transaction


def test_a_beginning_that_fails_at_once_is_tried_on_the_next_connection() -> None:
    seen, transaction = pool(3)
    with begun(transaction, (Broken,)) as cursor:
        assert cursor == "cursor"
        seen.append("block")
    assert seen == ["failed"] * 3 + ["begun", "block", "ended"]


def test_no_more_than_the_pools_connections_are_passed_over() -> None:
    seen, transaction = pool(BROKEN_HELD + 1)
    with pytest.raises(Broken), begun(transaction, (Broken,)):
        pytest.fail("the block ran")
    assert seen == ["failed"] * (BROKEN_HELD + 1)


def test_a_slow_failure_is_a_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restarts, "QUICK_FAILURE", 0.05)
    seen, transaction = pool(1, slow=0.1)
    with pytest.raises(Broken), begun(transaction, (Broken,)):
        pytest.fail("the block ran")
    assert seen == ["failed"]


def test_a_failure_once_begun_is_raised_and_not_tried_again() -> None:
    seen, transaction = pool(0)
    with pytest.raises(Broken), begun(transaction, (Broken,)):
        seen.append("block")
        raise Broken("the connection dropped mid-block")
    assert seen == ["begun", "block", "ended"]


def test_other_errors_are_not_passed_over() -> None:
    @contextmanager
    def transaction() -> Iterator[str]:
        raise ValueError("not a connection's")
        yield "never"

    with pytest.raises(ValueError), begun(transaction, (Broken,)):
        pytest.fail("the block ran")
