"""The release workflow on the real stores (SQLite and PostgreSQL): four eyes, the tenant's
approval policy, scheduled release and withdrawal, all recorded in the tenant's chain."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ledger.governance.releases import ReleaseError, Releases
from ledger.integrity import verify
from tests.builders import CATALOG, catalog_envelope, envelope, t
from tests.conftest import unique


def _price_change(version: str = "2026-04") -> dict[str, Any]:
    draft = copy.deepcopy(CATALOG)
    draft["version"] = version
    draft["plans"]["basic"]["features"]["api_calls"]["limit"] = 500
    del draft["plans"]["pro"]["features"]["sso"]
    return draft


@pytest.fixture
def tenant_with_licenses(database_url: str, wiring_factory: Any) -> tuple[Any, str]:
    wiring = wiring_factory(database_url)
    tenant = unique("acme")
    outcomes = wiring.ledger.ingest([
        catalog_envelope("2026-01-01"),
        envelope("license.granted", "2026-02-01", "lic-basic", customer_id="c-1", plan="basic"),
        envelope("license.granted", "2026-02-01", "lic-pro", customer_id="c-2", plan="pro"),
        envelope("usage.recorded", "2026-03-10", "lic-basic", feature="api_calls", quantity=800),
    ], tenant)
    assert [o.status for o in outcomes] == ["accepted"] * 4
    return wiring, tenant


def test_a_draft_approved_by_another_person_is_published_at_its_effective_time(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger, clock=lambda: t("2026-03-15"))
    drafted = releases.draft(tenant, "alice", _price_change(), t("2026-04-01"), "new prices")
    assert drafted["status"] == "draft" and drafted["author"] == "alice"
    approved = releases.approve(tenant, "2026-04", "bob", drafted["digest"], "looks right")
    assert approved["status"] == "approved" and approved["approvals"] == ["bob"]
    published = releases.publish(tenant, "2026-04", "bob")
    assert published["status"] == "published"
    assert [s["type"] for s in published["steps"]] == [
        "catalog.drafted", "catalog.approved", "catalog.released"]
    assert [(s["actor"], s["reason"]) for s in published["steps"]][:2] == [
        ("alice", "new prices"), ("bob", "looks right")]
    before = wiring.ledger.state(tenant, "lic-pro", t("2026-03-31T23:59:59Z"))
    after = wiring.ledger.state(tenant, "lic-pro", t("2026-04-01"))
    assert before["features"]["sso"]["enabled"] and "sso" not in after["features"]
    assert after["catalog_version"] == "2026-04"
    assert verify(wiring.store, tenant).ok


def test_the_author_can_never_approve_their_own_draft(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger)
    drafted = releases.draft(tenant, "alice", _price_change(), t("2026-04-01"))
    with pytest.raises(ReleaseError) as refused:
        releases.approve(tenant, "2026-04", "alice", drafted["digest"])
    assert refused.value.code == "own_draft"
    with pytest.raises(ReleaseError) as unpublished:
        releases.publish(tenant, "2026-04", "alice")
    assert unpublished.value.code == "not_approved"


def test_two_approvals_by_one_name_count_once(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger)
    releases.configure(tenant, "root", approvals_required=2)
    drafted = releases.draft(tenant, "alice", _price_change(), t("2026-04-01"))
    releases.approve(tenant, "2026-04", "bob", drafted["digest"])
    with pytest.raises(ReleaseError) as again:
        releases.approve(tenant, "2026-04", "bob", drafted["digest"])
    assert again.value.code == "already_approved"
    assert releases.show(tenant, "2026-04")["status"] == "draft"
    assert releases.approve(tenant, "2026-04", "carol", drafted["digest"])["status"] == "approved"


def test_an_approval_of_another_version_or_an_older_draft_is_refused(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger)
    first = releases.draft(tenant, "alice", _price_change("2026-04"), t("2026-04-01"))
    releases.draft(tenant, "alice", _price_change("2026-05"), t("2026-05-01"))
    with pytest.raises(ReleaseError) as replayed:
        releases.approve(tenant, "2026-05", "bob", first["digest"])
    assert replayed.value.code == "stale_approval"
    releases.withdraw(tenant, "2026-04", "alice", "wrong month")
    changed = _price_change("2026-04")
    changed["plans"]["basic"]["grace_days"] = 3
    releases.draft(tenant, "alice", changed, t("2026-04-01"))
    with pytest.raises(ReleaseError) as stale:
        releases.approve(tenant, "2026-04", "bob", first["digest"])
    assert stale.value.code == "stale_approval"


def test_a_tenant_that_requires_approval_refuses_direct_publication(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger)
    releases.configure(tenant, "root", "SOX", approval_required=True)
    direct = wiring.ledger.ingest([catalog_envelope("2026-04-01", _price_change())], tenant)[0]
    assert (direct.status, direct.code) == ("rejected", "approval_required")
    drafted = releases.draft(tenant, "alice", _price_change(), t("2026-04-01"))
    releases.approve(tenant, "2026-04", "bob", drafted["digest"])
    moved = wiring.ledger.ingest([catalog_envelope("2026-04-02", _price_change())], tenant)[0]
    assert (moved.status, moved.code) == ("rejected", "approval_required")
    named = wiring.ledger.ingest([catalog_envelope("2026-04-01", _price_change())], tenant)[0]
    assert named.status == "accepted"
    assert releases.show(tenant, "2026-04")["status"] == "published"


def test_release_steps_cannot_be_sent_in_as_envelopes(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    forged = envelope("catalog.approved", "2026-03-01", "2026-04", actor="bob", digest="0" * 64)
    policy = envelope("tenant.configured", "2026-03-01", tenant, actor="mallory")
    outcomes = wiring.ledger.ingest([forged, policy], tenant)
    assert [(o.status, o.code) for o in outcomes] == [("rejected", "not_an_inbound_event")] * 2


def test_a_withdrawn_approved_version_is_never_published(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger)
    drafted = releases.draft(tenant, "alice", _price_change(), t("2026-04-01"))
    releases.approve(tenant, "2026-04", "bob", drafted["digest"])
    withdrawn = releases.withdraw(tenant, "2026-04", "carol", "campaign postponed")
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["steps"][-1] == {"type": "catalog.withdrawn", "actor": "carol",
                                      "at": withdrawn["steps"][-1]["at"], "reason": "campaign postponed"}
    with pytest.raises(ReleaseError) as closed:
        releases.publish(tenant, "2026-04", "bob")
    assert closed.value.code == "release_closed"
    assert wiring.store.catalogs(tenant).version("2026-04") is None


def test_the_preview_names_features_lost_and_limits_lowered_below_usage_without_writing(tenant_with_licenses: Any) -> None:
    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger, clock=lambda: t("2026-03-15"))
    releases.draft(tenant, "alice", _price_change(), t("2026-03-20"))
    head = wiring.store.head(tenant)
    diff = releases.diff(tenant, "2026-04")
    assert diff["against"] == "2026-03"
    assert {"change": "removed", "plan": "pro", "feature": "sso"} in diff["changes"]
    assert {"change": "changed", "plan": "basic", "feature": "api_calls", "field": "limit",
            "before": 1000, "after": 500} in diff["changes"]
    preview = releases.preview(tenant, "2026-04")
    assert preview["counts"] == {"licenses": 2, "changed": 2, "losing_features": 1,
                                 "gaining_features": 0, "limits_below_usage": 1, "plans_removed": 0}
    by_license = {i["license_id"]: i for i in preview["licenses"]}
    assert by_license["lic-pro"]["features_lost"] == ["sso"]
    assert by_license["lic-basic"]["limits_lowered"] == [
        {"feature": "api_calls", "before": 1000, "after": 500, "used": 800, "below_usage": True}]
    assert wiring.store.head(tenant) == head
    assert wiring.store.catalogs(tenant).version("2026-04") is None


def test_the_same_draft_recorded_meanwhile_answers_the_one_open_draft(
        tenant_with_licenses: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests alike at once: the open-draft check runs before the tenant's lock, so the
    one that read first and recorded second met `catalog_version_exists` "with other content"
    for the very same content. Played in order: the first check reads before the other's draft."""
    import ledger.governance.releases as module

    wiring, tenant = tenant_with_licenses
    releases = Releases(wiring.ledger)
    first = releases.draft(tenant, "alice", _price_change("race-1"), t("2027-05-01"))
    calls, facts = [], module.governance_facts

    def read(store: Any, tenant: str) -> Any:  # the lost request's first check: no draft yet
        calls.append(tenant)
        return [] if len(calls) == 1 else facts(store, tenant)

    monkeypatch.setattr(module, "governance_facts", read)
    again = releases.draft(tenant, "alice", _price_change("race-1"), t("2027-05-01"))
    assert again["digest"] == first["digest"]
    assert [s["type"] for s in again["steps"]].count("catalog.drafted") == 1


@pytest.mark.parametrize("version", ["v" * 201, "v\x00"])
def test_a_draft_version_that_cannot_be_a_version_is_refused_naming_it(
        tenant_with_licenses: Any, version: str) -> None:
    wiring, tenant = tenant_with_licenses
    with pytest.raises(ReleaseError, match=r"data\.catalog\.version") as refused:
        Releases(wiring.ledger).draft(tenant, "alice", _price_change(version), t("2027-05-01"))
    assert refused.value.code == "invalid_event"


def test_a_draft_version_the_envelope_rule_allows_is_drafted(tenant_with_licenses: Any) -> None:
    """The same rule as a published version's subject: a no-break space is printable text."""
    wiring, tenant = tenant_with_licenses
    drafted = Releases(wiring.ledger).draft(tenant, "alice", _price_change("v\u00a02"), t("2027-05-01"))
    assert drafted["version"] == "v\u00a02"
