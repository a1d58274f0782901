"""The check's cache over a read database that hangs: nothing fails, the feed's read just
never returns. A check waits for it `HUNG_AFTER` at most, once, then answers from memory
marked stale; a read-ahead that hangs (nothing waits for it) marks the answers stale too."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from ledger.api import cache_feed
from projections.changes import Changes
from tests.builders import a_state
from tests.unit.test_api_cache import NOW, FakeModels, cache_over


class HangingModels(FakeModels):
    def __init__(self) -> None:
        super().__init__()
        self.hanging = threading.Event()  # set: every read of the feed hangs until released
        self.released = threading.Event()

    def changes_since(self, cursor: int) -> Changes:
        if self.hanging.is_set():
            self.released.wait(10)
        return super().changes_since(cursor)


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_feed, "HUNG_AFTER", 0.3)


def test_a_feed_read_that_hangs_is_waited_for_once_then_memory_answers_stale() -> None:
    models, ticks = HangingModels(), [0.0]
    models.states[("acme", "c")] = [a_state()]
    cache = cache_over(models, poll_interval=0.1, monotonic=lambda: ticks[0])
    assert cache.states("acme", "c", NOW).stale_for is None
    models.hanging.set()
    ticks[0] = 0.5  # the feed is due: this check reads it, and it hangs
    began = time.monotonic()
    found = cache.states("acme", "c", NOW)
    assert 0.25 < time.monotonic() - began < 2.0
    assert found.stale_for is not None and found.states == [a_state()]
    assert cache.failing_since is not None and "did not answer" in (cache.last_error or "")
    ticks[0] = 2.0  # due again (once a second while failing): the hung read is not waited for
    began = time.monotonic()
    assert cache.states("acme", "c", NOW).stale_for is not None
    assert time.monotonic() - began < 0.2
    models.hanging.clear()
    models.released.set()  # it answers in the end
    ticks[0] = 3.5
    deadline = time.monotonic() + 5
    while cache.failing_since is not None and time.monotonic() < deadline:
        cache.states("acme", "c", NOW)
        time.sleep(0.05)
    assert cache.failing_since is None
    assert cache.states("acme", "c", NOW).stale_for is None


def test_a_read_ahead_that_hangs_marks_the_answers_stale_once_it_has_taken_too_long() -> None:
    models, ticks = HangingModels(), [0.0]
    spawned: list[Callable[[], None]] = []
    models.states[("acme", "c")] = [a_state()]
    cache = cache_over(models, poll_interval=0.1, monotonic=lambda: ticks[0],
                       spawn=spawned.append)
    cache.states("acme", "c", NOW)
    models.hanging.set()
    ticks[0] = 0.06  # half of the interval gone: the read-ahead is asked for
    assert cache.lookup("acme", "c", NOW) is not None and len(spawned) == 1
    reading = threading.Thread(target=spawned.pop(), daemon=True)
    reading.start()  # and hangs, holding the feed
    deadline = time.monotonic() + 5
    while not cache._polling.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    ticks[0] = 0.2  # under way, not for long: memory answers as fresh
    assert cache.states("acme", "c", NOW).stale_for is None
    ticks[0] = 0.06 + 0.31  # under way for longer than HUNG_AFTER
    assert cache.lookup("acme", "c", NOW) is None  # memory alone may no longer say
    assert cache.states("acme", "c", NOW).stale_for is not None
    models.released.set()
    reading.join(5)
