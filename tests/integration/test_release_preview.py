"""The impact preview predicts what publishing does: property tests over arbitrary catalog
changes and licenses, on a real store, comparing the preview with the states observed after
the approved version is published."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.impact import enabled
from ledger.governance.releases import Releases
from tests.builders import CATALOG, catalog_envelope, envelope, t
from tests.conftest import unique

EFFECTIVE = "2027-01-01"
PLANS = sorted(CATALOG["plans"])
FEATURES = ["reports", "sso", "api_calls", "audit_export", "exports"]
PREVIEW = settings(max_examples=20, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

licenses = st.lists(st.tuples(st.sampled_from(PLANS), st.sampled_from([None, "DE", "KP", "US"]),
                              st.integers(0, 3000)), min_size=1, max_size=6)
edits = st.lists(st.one_of(
    st.tuples(st.just("drop_plan"), st.sampled_from(PLANS), st.none()),
    st.tuples(st.just("drop_feature"), st.sampled_from(PLANS), st.sampled_from(FEATURES)),
    st.tuples(st.just("add_feature"), st.sampled_from(PLANS), st.sampled_from(FEATURES)),
    st.tuples(st.just("limit"), st.sampled_from(PLANS), st.integers(0, 5000)),
    st.tuples(st.just("unmeter"), st.sampled_from(PLANS), st.none()),
    st.tuples(st.just("block"), st.sampled_from(PLANS), st.sampled_from(["DE", "KP", "US"])),
), max_size=6)


def _edited(edits: list[tuple[str, str, Any]]) -> dict[str, Any]:
    draft = copy.deepcopy(CATALOG)
    draft["version"] = "next"
    for kind, plan, arg in edits:
        plans = draft["plans"]
        if plan not in plans or (kind == "drop_plan" and len(plans) == 1):
            continue
        features = plans[plan]["features"]
        if kind == "drop_plan":
            del plans[plan]
        elif kind == "drop_feature":
            features.pop(arg, None)
        elif kind == "add_feature":
            features.setdefault(arg, {})
        elif kind == "limit":
            features["api_calls"] = {"limit": arg, "period": "month"}
        elif kind == "unmeter":
            features["api_calls"] = {}
        else:
            for feature in features.values():
                feature["blocked_regions"] = sorted({*feature.get("blocked_regions", []), arg})
    return draft


def _limits(state: dict[str, Any]) -> dict[str, Any]:
    return {n: f.get("limit") for n, f in state["features"].items() if f["enabled"]}


@PREVIEW
@given(licenses=licenses, edits=edits)
def test_a_preview_predicts_the_states_observed_after_publishing(
        sqlite_url: str, wiring_factory: Any, licenses: list[tuple[str, str | None, int]],
        edits: list[tuple[str, str, Any]]) -> None:
    wiring = wiring_factory(sqlite_url)  # one store per test, a fresh tenant per example
    tenant = unique("acme")
    sent = [catalog_envelope("2026-01-01")]
    for n, (plan, region, used) in enumerate(licenses):
        sent.append(envelope("license.granted", "2026-02-01", f"lic-{n}", customer_id=f"c-{n}",
                             plan=plan, **({"region": region} if region else {})))
        if used:
            sent.append(envelope("usage.recorded", "2026-12-01T00:00:01Z", f"lic-{n}",
                                 feature="api_calls", quantity=used))
    wiring.ledger.ingest(sent, tenant)
    releases = Releases(wiring.ledger)
    draft = releases.draft(tenant, "alice", _edited(edits), t(EFFECTIVE))
    before = {s["license_id"]: s for s in wiring.ledger.replay(tenant, t(EFFECTIVE))}
    preview = releases.preview(tenant, "next", first=100)

    releases.approve(tenant, "next", "bob", draft["digest"])
    releases.publish(tenant, "next", "bob")
    observed = {s["license_id"]: s for s in wiring.ledger.replay(tenant, t(EFFECTIVE))}

    predicted = {i["license_id"]: i for i in preview["licenses"]}
    assert preview["counts"]["licenses"] == len(observed) == len(licenses)
    assert preview["counts"]["changed"] == len(predicted)
    for license_id, state in observed.items():
        if license_id not in predicted:
            assert enabled(state) == enabled(before[license_id])
            assert _limits(state) == _limits(before[license_id])
            continue
        change = predicted[license_id]
        assert sorted(enabled(state)) == change["features_after"]
        assert enabled(state) == enabled(before[license_id]) - set(change["features_lost"]) \
            | set(change["features_gained"])
        assert change["plan_removed"] == (state["features"] == {} and state["plan"] not in
                                          draft["catalog"]["plans"])
        for limit in change["limits_lowered"] + change["limits_raised"]:
            assert state["features"][limit["feature"]].get("limit") == limit["after"]
