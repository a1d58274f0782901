"""The workers' Prometheus counters count every envelope, whatever the way they are added up."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

outcomes = st.lists(st.tuples(
    st.sampled_from(["accepted", "duplicate", "rejected"]),
    st.sampled_from([None, "unknown_license", "invalid_event"]),
    st.one_of(st.none(), st.sampled_from(["usage.recorded", "license.granted"]), st.just(7))),
    max_size=40)


@given(batch=outcomes)
def test_a_batchs_outcomes_are_counted_as_one_increment_each_would_count_them(
        batch: list[tuple[str, str | None, Any]]) -> None:
    """`observe_outcomes` tallies a batch before it increments: the same counter values as one
    increment per envelope."""
    from consumers.metrics import WorkerMetrics
    from ledger.judging import Outcome

    raws = [{"type": kind} if kind != 7 else "not an object" for _, _, kind in batch]
    judged = [Outcome("id", "src", status, code) for status, code, _ in batch]
    metrics = WorkerMetrics("consume")
    metrics.observe_outcomes(raws, judged)
    metrics.observe_outcomes(raws, judged)
    expected_events: dict[tuple[str, str], float] = {}
    expected_types: dict[str, float] = {}
    for raw, outcome in zip(raws, judged, strict=True):
        key = (outcome.status, outcome.code or "")
        expected_events[key] = expected_events.get(key, 0) + 2
        if outcome.status == "accepted":
            kind = str((raw.get("type") if isinstance(raw, dict) else None) or "unknown")
            expected_types[kind] = expected_types.get(kind, 0) + 2
    registry = metrics.registry
    for (status, code), count in expected_events.items():
        assert registry.get_sample_value("ledger_worker_events_total", {
            "worker": "consume", "status": status, "code": code}) == count
    for kind, count in expected_types.items():
        assert registry.get_sample_value("ledger_state_transitions_total", {
            "worker": "consume", "type": kind}) == count
