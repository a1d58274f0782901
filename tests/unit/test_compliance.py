"""Compliance rules over one license's facts and the key tables, pure."""

from __future__ import annotations

from datetime import timedelta

from ledger.domain.compliance import license_findings, old_signing_keys, unused_keys
from tests.builders import Facts, t


def test_usage_during_a_suspension_or_after_expiry_is_found() -> None:
    f = Facts()
    facts = [f.make("license.granted", "2026-02-01", customer_id="c", plan="basic", ends_at=t("2026-04-01")),
             f.make("license.suspended", "2026-02-10", reason="payment_failed"),
             f.make("license.reinstated", "2026-02-20")]
    usage = [f.make("usage.recorded", "2026-02-05", feature="api_calls", quantity=1),
             f.make("usage.recorded", "2026-02-12", feature="api_calls", quantity=1),
             f.make("usage.recorded", "2026-04-02", feature="api_calls", quantity=1)]
    found = license_findings(facts, usage, f.catalogs(), t("2026-05-01"))
    assert [(x["code"], x["status"], x["facts"]) for x in found] == [
        ("usage_while_not_usable", "suspended", [usage[1].source_event_id]),
        ("usage_while_not_usable", "expired", [usage[2].source_event_id])]


def test_usage_of_a_feature_blocked_for_the_licenses_region_is_found() -> None:
    f = Facts()
    facts = [f.make("license.granted", "2026-02-01", customer_id="c", plan="enterprise", region="KP")]
    usage = [f.make("usage.recorded", "2026-02-05", feature="audit_export", quantity=1),
             f.make("usage.recorded", "2026-02-05", feature="api_calls", quantity=1)]
    found = license_findings(facts, usage, f.catalogs(), t("2026-03-01"))
    assert [(x["code"], x["feature"], x["region"]) for x in found] == [
        ("blocked_feature_used", "audit_export", "KP")]


def test_a_license_without_region_on_a_plan_that_blocks_regions_is_found() -> None:
    f = Facts()
    without = [f.make("license.granted", "2026-02-01", "lic-1", customer_id="c", plan="enterprise")]
    located = [f.make("license.granted", "2026-02-01", "lic-2", customer_id="c", plan="enterprise",
                      region="DE")]
    [missing] = license_findings(without, [], f.catalogs(), t("2026-03-01"))
    assert (missing["code"], missing["features"]) == ("region_missing", ["audit_export"])
    assert license_findings(located, [], f.catalogs(), t("2026-03-01")) == []


def test_keys_unused_for_too_long_and_old_signing_keys_are_found() -> None:
    today = t("2026-12-01")
    keys = [{"key_id": "k1", "name": "ci", "role": "billing", "created_at": "2026-01-01T00:00:00+00:00",
             "last_used_on": "2026-11-30", "revoked_at": None},
            {"key_id": "k2", "name": None, "role": "admin", "created_at": "2026-01-01T00:00:00+00:00",
             "last_used_on": None, "revoked_at": None},
            {"key_id": "k3", "name": None, "role": "admin", "created_at": "2026-01-01T00:00:00+00:00",
             "last_used_on": None, "revoked_at": "2026-02-01T00:00:00+00:00"}]
    assert [k["key_id"] for k in unused_keys(keys, today, 90)] == ["k2"]
    signing = [("k-old", today - timedelta(days=400)), ("k-new", today - timedelta(days=10))]
    assert [k["key_id"] for k in old_signing_keys(signing, today, 365)] == ["k-old"]
