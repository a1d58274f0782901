"""The check's cache: served until a change to that customer is projected, or the clock
reaches the moment time alone changes an answer; degraded, it answers stale from memory."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.api.cache import EntitlementCache, ReadModelsUnavailableError
from ledger.domain.state import LicenseState
from projections.changes import Changes
from tests.builders import a_state, t

NOW = t("2026-03-10T12:00:00Z")


class FakeModels:
    def __init__(self) -> None:
        self.states: dict[tuple[str, str], list[LicenseState]] = {}
        self.scheduled: dict[tuple[str, str], datetime] = {}
        self.feed: list[tuple[str, str | None]] = []
        self.asked = 0
        self.polls = 0
        self.failing: Exception | None = None
        self.during_read: Any = None  # called inside a read, to race it

    def customer_states_and_next_change(self, tenant: str, customer_id: str, as_of: datetime
                                        ) -> tuple[list[LicenseState], datetime | None]:
        self.asked += 1
        if self.failing is not None:
            raise self.failing
        if self.during_read is not None:
            self.during_read()
        return self.states.get((tenant, customer_id), []), self.scheduled.get((tenant, customer_id))

    def changes_since(self, cursor: int) -> Changes:
        self.polls += 1
        if self.failing is not None:
            raise self.failing
        return Changes(len(self.feed), tuple(self.feed[cursor:]), lost=cursor > len(self.feed))

    def changes_end(self) -> int:
        return len(self.feed)


def cache_over(models: FakeModels, **options: Any) -> EntitlementCache:
    return EntitlementCache(models, **options)


def test_a_second_ask_is_served_from_memory() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state()]
    cache = cache_over(models, poll_interval=1.0, monotonic=lambda: 0.0)
    assert (cache.states("acme", "c", NOW).cached, cache.states("acme", "c", NOW).cached) == (False, True)
    assert models.asked == 1
    assert cache.lookup("acme", "c", NOW) == cache.states("acme", "c", NOW)  # memory alone answers


def test_a_change_to_the_customer_drops_its_entry_and_only_its() -> None:
    models = FakeModels()
    cache = cache_over(models)
    for customer in ("c", "d"):
        cache.states("acme", customer, NOW)
    models.feed.append(("acme", "c"))
    assert cache.states("acme", "c", NOW).cached is False
    assert cache.states("acme", "d", NOW).cached is True


def test_another_customers_usage_never_drops_an_entry() -> None:
    models = FakeModels()
    cache = cache_over(models)
    cache.states("acme", "c", NOW)
    for n in range(500):
        models.feed.append(("acme", f"other-{n}"))
        assert cache.states("acme", "c", NOW).cached is True
    assert models.asked == 1


def test_a_catalog_change_drops_every_entry_of_its_tenant_and_no_other() -> None:
    models = FakeModels()
    cache = cache_over(models)
    for tenant, customer in (("acme", "c"), ("acme", "d"), ("globex", "c")):
        cache.states(tenant, customer, NOW)
    models.feed.append(("acme", None))
    assert [cache.states(tn, c, NOW).cached for tn, c in (("acme", "c"), ("acme", "d"),
                                                          ("globex", "c"))] == [False, False, True]


def test_tenants_do_not_share_entries() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state()]
    cache = cache_over(models)
    cache.states("acme", "c", NOW)
    assert (cache.states("globex", "c", NOW).states, cache.states("globex", "c", NOW).cached) == ([], True)


def test_an_entry_ends_at_the_states_changes_at_and_when_the_clock_goes_back() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state(changes_at=NOW + timedelta(seconds=5)),
                                    a_state("lic-2", changes_at=None)]
    cache = cache_over(models)
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=4)).cached is True
    assert cache.states("acme", "c", NOW + timedelta(seconds=5)).cached is False
    assert cache.states("acme", "c", NOW).cached is False  # the clock went back


def test_a_fact_scheduled_ahead_ends_the_entry_when_its_time_comes() -> None:
    models = FakeModels()
    models.scheduled[("acme", "c")] = NOW + timedelta(seconds=3)
    cache = cache_over(models)
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=2)).cached is True
    assert cache.states("acme", "c", NOW + timedelta(seconds=3)).cached is False


def test_an_entry_lives_max_age_at_most() -> None:
    cache = cache_over(FakeModels(), max_age=timedelta(seconds=60))
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=59)).cached is True
    assert cache.states("acme", "c", NOW + timedelta(seconds=60)).cached is False


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = cache_over(FakeModels(), max_entries=2)
    for customer in ("a", "b", "a", "c"):
        cache.states("acme", customer, NOW)
    assert len(cache) == 2
    assert cache.states("acme", "a", NOW).cached is True
    assert cache.states("acme", "b", NOW).cached is False


def test_the_feed_is_read_once_per_interval_and_at_once_after_a_refresh() -> None:
    models, ticks = FakeModels(), [0.0]
    cache = cache_over(models, poll_interval=0.1, monotonic=lambda: ticks[0])
    cache.states("acme", "c", NOW)
    models.feed.append(("acme", "c"))
    assert cache.states("acme", "c", NOW).cached is True  # within the interval: not seen yet
    assert cache.lookup("acme", "c", NOW) is not None
    ticks[0] = 0.1
    assert cache.lookup("acme", "c", NOW) is None  # the feed is due: memory alone may not say
    assert cache.states("acme", "c", NOW).cached is False
    models.feed.append(("acme", "c"))
    cache.refresh()
    assert cache.states("acme", "c", NOW).cached is False


def test_on_the_timer_checks_from_memory_read_the_feed_in_the_background_before_it_is_due() -> None:
    models, ticks, spawned = FakeModels(), [0.0], []
    cache = cache_over(models, poll_interval=0.1, monotonic=lambda: ticks[0], spawn=spawned.append)
    cache.states("acme", "c", NOW)
    ticks[0] = 0.04
    assert cache.lookup("acme", "c", NOW) is not None and spawned == []
    ticks[0] = 0.06  # half of the interval gone: memory answers, the read is asked for once
    models.feed.append(("acme", "c"))
    assert cache.lookup("acme", "c", NOW) is not None and cache.lookup("acme", "c", NOW) is not None
    assert len(spawned) == 1
    spawned.pop()()
    assert cache.lookup("acme", "c", NOW) is None  # the change read in the background dropped it
    assert cache.states("acme", "c", NOW).cached is False
    ticks[0] = 0.15  # 0.09 s after the background read: not due, so memory still answers
    assert cache.lookup("acme", "c", NOW) is not None
    ticks[0] = 0.16  # and never 0.1 s after the last read began
    assert cache.lookup("acme", "c", NOW) is None


def test_with_a_hint_the_feed_is_read_only_when_the_hint_moves() -> None:
    models, position = FakeModels(), [7]
    cache = cache_over(models, hint=lambda: position[0])
    cache.states("acme", "c", NOW)
    polls = models.polls
    for _ in range(100):
        cache.states("acme", "c", NOW)
    assert models.polls == polls
    models.feed.append(("acme", "c"))
    position[0] = 8
    assert cache.states("acme", "c", NOW).cached is False


def test_a_feed_that_lost_rows_makes_the_cache_forget_everything() -> None:
    models = FakeModels()
    models.feed += [("acme", "x")] * 3
    cache = cache_over(models)
    cache.states("acme", "c", NOW)
    models.feed.clear()  # the read models were cleared: the feed starts again
    assert cache.states("acme", "c", NOW).cached is False


def test_a_change_projected_while_the_states_are_read_is_not_missed() -> None:
    models = FakeModels()
    cache = cache_over(models)
    cache.states("acme", "warm", NOW)

    def change_then_follow() -> None:
        models.during_read = None
        models.feed.append(("acme", "c"))
        cache.refresh()  # another thread follows the feed while this read is under way

    models.during_read = change_then_follow
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW).cached is False


def test_concurrent_misses_for_one_customer_read_once() -> None:
    models, release = FakeModels(), threading.Event()
    cache = cache_over(models)
    cache.states("acme", "warm", NOW)
    models.during_read = lambda: release.wait(5)
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.states("acme", "c", NOW).cached))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    while models.asked < 2:
        pass
    release.set()
    for thread in threads:
        thread.join()
    assert models.asked == 2 and sorted(answers) == [False] + [True] * 7


def test_unreachable_read_models_give_stale_answers_then_a_refusal_past_the_bound() -> None:
    models, ticks = FakeModels(), [0.0]
    models.states[("acme", "c")] = [a_state()]
    cache = cache_over(models, max_stale=30.0, monotonic=lambda: ticks[0])
    cache.states("acme", "c", NOW)
    models.failing = OSError("disk I/O error")
    ticks[0] = 10.0
    found = cache.states("acme", "c", NOW)
    assert (found.states, found.stale_for) == ([a_state()], 10.0)
    assert cache.stale_for() == 10.0 and "disk I/O error" in (cache.last_error or "")
    with pytest.raises(ReadModelsUnavailableError):
        cache.states("acme", "never-seen", NOW)
    ticks[0] = 31.0
    with pytest.raises(ReadModelsUnavailableError, match="31 s"):
        cache.states("acme", "c", NOW)
    models.failing = None
    ticks[0] = 32.0
    assert cache.states("acme", "c", NOW).stale_for is None and cache.stale_for() is None


def test_an_error_about_one_request_is_raised_and_degrades_nothing() -> None:
    models = FakeModels()
    cache = cache_over(models)
    cache.states("acme", "c", NOW)
    models.failing = ValueError("a bug, or an id the driver cannot take")
    models.feed.append(("acme", "c"))
    models.changes_since = lambda cursor: Changes(1, (("acme", "c"),))  # type: ignore[method-assign]
    with pytest.raises(ValueError):
        cache.states("acme", "c", NOW)
    assert cache.stale_for() is None


def test_read_models_behind_the_ledger_give_stale_answers_then_a_refusal_past_the_bound() -> None:
    models, lag = FakeModels(), [None]
    models.states[("acme", "c")] = [a_state()]
    cache = cache_over(models, max_stale=30.0, behind=lambda: lag[0])
    assert cache.states("acme", "c", NOW).stale_for is None
    lag[0] = 4.0  # the embedded follower's rounds have failed for 4 s
    assert cache.lookup("acme", "c", NOW) is None  # memory alone may not vouch for it
    assert (cache.states("acme", "c", NOW).stale_for, cache.stale_for()) == (4.0, 4.0)
    assert cache.states("acme", "d", NOW).stale_for == 4.0  # readable, if behind: read it
    lag[0] = 31.0
    with pytest.raises(ReadModelsUnavailableError, match="followed the ledger"):
        cache.states("acme", "c", NOW)
    lag[0] = None
    assert cache.states("acme", "c", NOW).stale_for is None
