"""`consume` splits a poll of several tenants into shares when it shares the topic with other
members (consumers.inbound): every outcome is the one the whole poll would have had."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.inbound import InboundConsumer, group_shares, tenant_shares
from ledger.bootstrap import Wiring
from tests.builders import catalog_envelope, envelope
from tests.unit.test_consumers import FakeProducer, Record

TENANTS = ["t-a", "t-b", "t-c"]


def item(draw: st.DrawFn, made: list[Any]) -> Any:
    kind = draw(st.sampled_from(["catalog", "grant", "usage", "upgrade", "copy", "garbled",
                                 "not json", "no tenant", "a list"]))
    tenant, lic = draw(st.sampled_from(TENANTS)), f"lic-{draw(st.integers(0, 2))}"
    if kind == "catalog":
        return catalog_envelope(tenant=tenant)
    if kind == "grant":
        return envelope("license.granted", "2026-03-01", lic, tenant=tenant, customer_id="c",
                        plan="pro")
    if kind == "usage":
        return envelope("usage.recorded", "2026-03-02", lic, tenant=tenant, feature="api_calls",
                        quantity=1)
    if kind == "upgrade":
        return envelope("license.upgraded", "2026-03-03", lic, tenant=tenant, plan="enterprise")
    earlier = [m for m in made if isinstance(m, dict)]
    if kind == "copy" and earlier:
        return draw(st.sampled_from(earlier))
    if kind == "garbled" and earlier:  # names an earlier event, but is no longer valid
        return {**draw(st.sampled_from(earlier)), "time": "not a time"}
    if kind == "no tenant":
        return envelope("license.granted", "2026-03-01", lic, customer_id="c", plan="pro")
    if kind == "a list":
        return [tenant]
    return b"{not json"


@st.composite
def polls(draw: st.DrawFn) -> list[Any]:
    made: list[Any] = []
    for _ in range(draw(st.integers(1, 25))):
        made.append(item(draw, made))
    return made


def outcomes_of(wiring: Wiring, poll: list[Any], shares: int) -> list[tuple[Any, ...]]:
    producer = FakeProducer()
    worker = InboundConsumer(wiring.ledger, producer, "rejected", shares=lambda: shares)
    worker.take_all({"billing:0": [Record(n, v if isinstance(v, bytes) else json.dumps(v).encode())
                                   for n, v in enumerate(poll)]})
    rejected = [(v["offset"], v["code"], v["message"]) for v in producer.values()]
    kept = [(f.tenant, f.subject, f.type, f.source_event_id) for f in wiring.store.facts_after(0)]
    return [tuple(sorted(rejected)), tuple(sorted(kept)), tuple(sorted(worker.counts.items()))]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(poll=polls(), shares=st.integers(2, 4))
def test_a_poll_taken_in_tenant_shares_has_the_outcomes_of_the_whole_poll(
        wiring_factory: Callable[..., Wiring], tmp_path: Path, poll: list[Any], shares: int) -> None:
    def fresh() -> Wiring:
        return wiring_factory(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db")

    assert outcomes_of(fresh(), poll, shares) == outcomes_of(fresh(), poll, 1)


def test_shares_are_whole_tenants_in_the_records_order() -> None:
    originals = [{"tenantid": "b"}, {"tenantid": "a"}, "text", {"tenantid": "c"}, {"tenantid": "b"},
                 {"tenantid": 7}, {"tenantid": "a"}]
    assert tenant_shares(originals, 1) == [list(range(7))]
    assert tenant_shares(originals, 2) == [[1, 2, 3, 5, 6], [0, 4]]  # a, c | b; no tenant first
    assert tenant_shares(originals, 5) == [[1, 2, 5, 6], [0, 4], [3]]  # never more than tenants
    assert tenant_shares([{"tenantid": "a"}, "text"], 4) == [[0, 1]]  # one tenant: one share


def test_a_member_counts_the_group_from_its_share_of_the_partitions() -> None:
    class Consumer:
        owned: set[int] = set()

        def assignment(self) -> set[int]:
            return self.owned

        def partitions_for_topic(self, topic: str) -> set[int]:
            return {0, 1, 2, 3}

    consumer = Consumer()
    shares = group_shares(consumer, "billing")
    assert shares() == 1  # nothing assigned yet
    for owned, members in (({0, 1, 2, 3}, 1), ({0, 1}, 2), ({0, 1, 2}, 2), ({3}, 4)):
        consumer.owned = owned
        assert shares() == members
