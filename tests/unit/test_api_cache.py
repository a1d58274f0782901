"""The check's cache: served while the read models stand still and the clock has not reached
the next moment time alone changes an answer; recomputed otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ledger.api.cache import EntitlementCache, next_boundary
from tests.builders import t


class FakeModels:
    def __init__(self) -> None:
        self.mark = 0
        self.states: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.scheduled: dict[tuple[str, str], list[datetime]] = {}  # facts' effective times ahead
        self.asked = 0
        self.marks_read = 0

    def customer_states_and_next_change(self, tenant: str, customer_id: str, as_of: datetime
                                        ) -> tuple[list[dict[str, Any]], datetime | None]:
        self.asked += 1
        ahead = [m for m in self.scheduled.get((tenant, customer_id), []) if m > as_of]
        return self.states.get((tenant, customer_id), []), min(ahead, default=None)

    def watermark(self) -> int:
        self.marks_read += 1
        return self.mark


def a_state(**changes: Any) -> dict[str, Any]:
    return {"license_id": "lic-1", "status": "active", "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": None, "features": {"sso": {"enabled": True}}, **changes}


NOW = t("2026-03-10T12:00:00Z")


def test_a_second_ask_is_served_from_memory() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state()]
    cache = EntitlementCache(models)
    assert cache.states("acme", "c", NOW) == ([a_state()], False)
    assert cache.states("acme", "c", NOW + timedelta(seconds=1)) == ([a_state()], True)
    assert models.asked == 1


def test_any_change_to_the_read_models_drops_the_entry() -> None:
    models = FakeModels()
    cache = EntitlementCache(models)
    cache.states("acme", "c", NOW)
    models.mark += 1
    models.states[("acme", "c")] = [a_state()]
    assert cache.states("acme", "c", NOW) == ([a_state()], False)


def test_tenants_never_share_an_entry() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state()]
    cache = EntitlementCache(models)
    cache.states("acme", "c", NOW)
    assert cache.states("globex", "c", NOW) == ([], False)


def test_the_entry_ends_when_a_license_ends_starts_or_the_month_turns() -> None:
    recheck = timedelta(seconds=1)
    ending = a_state(ends_at="2026-03-10T12:00:05Z", features={})
    assert next_boundary([ending], NOW, recheck) == t("2026-03-10T12:00:05Z")
    pending = a_state(starts_at="2026-03-11T00:00:00Z", features={})
    assert next_boundary([pending], NOW, recheck) == t("2026-03-11T00:00:00Z")
    metered = a_state(features={"api": {"enabled": True, "limit": 5, "period": "month", "used": 1}})
    assert next_boundary([metered], NOW, recheck) == t("2026-04-01T00:00:00Z")
    december = t("2026-12-31T23:00:00Z")
    assert next_boundary([metered], december, recheck) == t("2027-01-01T00:00:00Z")
    assert next_boundary([a_state(status="grace")], NOW, recheck) == NOW + recheck
    assert next_boundary([a_state(features={})], NOW, recheck) is None


def test_an_entry_is_not_served_past_its_boundary_or_before_it_was_computed() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state(ends_at="2026-03-10T12:00:05Z")]
    cache = EntitlementCache(models)
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=4))[1] is True
    assert cache.states("acme", "c", NOW + timedelta(seconds=5))[1] is False
    assert cache.states("acme", "c", NOW)[1] is False  # the clock went back


def test_an_entry_ends_when_a_fact_scheduled_ahead_takes_effect() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state()]
    models.scheduled[("acme", "c")] = [NOW - timedelta(days=1), NOW + timedelta(seconds=4)]
    cache = EntitlementCache(models)
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=3))[1] is True
    assert cache.states("acme", "c", NOW + timedelta(seconds=4))[1] is False
    assert models.asked == 2


def test_the_earlier_of_a_scheduled_fact_and_a_term_end_ends_the_entry() -> None:
    models = FakeModels()
    models.states[("acme", "c")] = [a_state(ends_at="2026-03-10T12:00:05Z")]
    models.scheduled[("acme", "c")] = [NOW + timedelta(seconds=30)]
    cache = EntitlementCache(models)
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=5))[1] is False


def test_no_entry_outlives_its_maximum_age() -> None:
    models = FakeModels()
    cache = EntitlementCache(models, max_age=timedelta(seconds=60))
    cache.states("acme", "c", NOW)
    assert cache.states("acme", "c", NOW + timedelta(seconds=59))[1] is True
    assert cache.states("acme", "c", NOW + timedelta(seconds=60))[1] is False


def test_the_least_recently_used_entry_goes_first() -> None:
    models = FakeModels()
    cache = EntitlementCache(models, max_entries=2)
    for customer in ("a", "b"):
        cache.states("acme", customer, NOW)
    cache.states("acme", "a", NOW)
    cache.states("acme", "c", NOW)
    assert len(cache) == 2
    assert cache.states("acme", "a", NOW)[1] is True
    assert cache.states("acme", "b", NOW)[1] is False


def test_the_watermark_is_read_at_most_once_per_interval_unless_refreshed() -> None:
    models = FakeModels()
    ticks = [100.0]
    cache = EntitlementCache(models, watermark_interval=0.1, monotonic=lambda: ticks[0])
    cache.states("acme", "c", NOW)
    models.mark += 1
    assert cache.states("acme", "c", NOW)[1] is True  # within the interval: not seen yet
    ticks[0] += 0.2
    assert cache.states("acme", "c", NOW)[1] is False
    models.mark += 1
    cache.refresh()
    assert cache.states("acme", "c", NOW)[1] is False
    assert models.marks_read == 3
