"""Withdrawing a version published for a later effective time, before that time (SQLite and
PostgreSQL): it never takes effect for an answer known after the withdrawal, answers known
before it stay as they were, the read models learn of it and `ledger verify` covers it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.governance.releases import ReleaseError, Releases
from ledger.integrity import verify
from projections.readmodel import ReadModels
from projections.verify import verify_projections
from tests.builders import CATALOG, catalog_envelope, envelope, t
from tests.conftest import unique
from tests.integration import tampering
from tests.unit.test_projections import all_facts

LATER = datetime(2099, 1, 1, tzinfo=UTC)  # an effective time still ahead of the real clock


def _without_sso(version: str) -> dict[str, Any]:
    draft = copy.deepcopy(CATALOG)
    draft["version"] = version
    del draft["plans"]["pro"]["features"]["sso"]
    return draft


def _approved(releases: Releases, tenant: str, version: str, at: datetime) -> None:
    drafted = releases.draft(tenant, "alice", _without_sso(version), at, "drop sso")
    releases.approve(tenant, version, "bob", drafted["digest"])


@pytest.fixture
def scheduled(database_url: str, wiring_factory: Any) -> tuple[Any, str, Releases]:
    wiring = wiring_factory(database_url)
    tenant = unique("acme")
    wiring.ledger.ingest([
        catalog_envelope("2026-01-01"),
        envelope("license.granted", "2026-02-01", "lic-pro", customer_id="c-2", plan="pro"),
    ], tenant)
    releases = Releases(wiring.ledger)
    _approved(releases, tenant, "2099-01", LATER)
    assert releases.publish(tenant, "2099-01", "bob")["status"] == "published"
    return wiring, tenant, releases


def test_a_scheduled_version_withdrawn_before_its_time_never_takes_effect_for_later_answers(
        scheduled: Any, tmp_path: Path) -> None:
    wiring, tenant, releases = scheduled
    published_known = datetime.now(UTC)
    forecast = wiring.ledger.state(tenant, "lic-pro", LATER + timedelta(days=1))
    assert forecast["catalog_version"] == "2099-01" and "sso" not in forecast["features"]

    withdrawn = releases.withdraw(tenant, "2099-01", "carol", "customers asked for more notice")
    assert withdrawn["status"] == "withdrawn"
    assert [s["type"] for s in withdrawn["steps"]][-2:] == ["catalog.released", "catalog.unscheduled"]
    assert withdrawn["steps"][-1]["actor"] == "carol"

    after = wiring.ledger.state(tenant, "lic-pro", LATER + timedelta(days=1))
    assert after["catalog_version"] == CATALOG["version"] and after["features"]["sso"]["enabled"]
    as_known_then = wiring.ledger.state(tenant, "lic-pro", LATER + timedelta(days=1),
                                        known_at=published_known)
    assert as_known_then == forecast
    assert verify(wiring.store, tenant).ok

    models = ReadModels.open(f"sqlite:///{tmp_path / 'read.db'}")
    try:
        facts = all_facts(wiring.store)
        models.apply(facts, tracking=("ledger", wiring.store.max_position()))
        assert models.license_state(tenant, "lic-pro", LATER + timedelta(days=1)) == after
        assert verify_projections(wiring.store, wiring.ledger, models, LATER) == []
    finally:
        models.close()


def test_the_withdrawal_is_final_and_covered_by_verify(scheduled: Any, database_url: str) -> None:
    wiring, tenant, releases = scheduled
    releases.withdraw(tenant, "2099-01", "carol", "not yet")
    for attempt in (lambda: releases.withdraw(tenant, "2099-01", "carol", "again"),
                    lambda: releases.draft(tenant, "alice", _without_sso("2099-01"), LATER)):
        with pytest.raises(ReleaseError) as refused:
            attempt()
        assert refused.value.code in ("release_closed", "catalog_version_exists")
    resent = catalog_envelope("2099-01-01T00:00:00Z", _without_sso("2099-01"))
    assert wiring.ledger.ingest([resent], tenant)[0].status == "duplicate"
    assert wiring.ledger.state(tenant, "lic-pro", LATER)["catalog_version"] == CATALOG["version"]

    row = next(r for r in wiring.store.index_rows() if r.tenant == tenant
               and r.sequence == max(f.sequence for f in wiring.store.catalogs(tenant).withdrawals))
    assert (row.kind, row.subject) == ("catalog", "2099-01")
    tampering.rewrite_index(database_url, tenant, row.sequence, "kind", "governance")
    assert not verify(wiring.store, tenant).ok
    tampering.rewrite_index(database_url, tenant, row.sequence, "kind", "catalog")
    assert verify(wiring.store, tenant).ok


def test_a_version_whose_effective_time_has_come_cannot_be_withdrawn(scheduled: Any) -> None:
    wiring, tenant, releases = scheduled
    _approved(releases, tenant, "2026-04", t("2026-04-01"))
    releases.publish(tenant, "2026-04", "bob")
    with pytest.raises(ReleaseError) as refused:
        releases.withdraw(tenant, "2026-04", "carol", "too late")
    assert refused.value.code == "already_in_force"
    assert wiring.ledger.state(tenant, "lic-pro", t("2026-05-01"))["catalog_version"] == "2026-04"


def test_a_batch_reuses_a_licenses_fold_when_the_tenant_has_a_withdrawal(
        scheduled: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A license's events in time order are judged from the fold kept after the one before
    (not by folding its history again per event); the kept fold's key once left the
    withdrawals out, so in a tenant with one it was never found again."""
    import ledger.judging as judging

    wiring, tenant, releases = scheduled
    releases.withdraw(tenant, "2099-01", "carol", "not yet")
    folds: list[int] = []
    real = judging.fold

    def counted(*args: Any, **kwargs: Any) -> Any:
        folds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(judging, "fold", counted)
    outcomes = wiring.ledger.ingest([
        envelope("license.granted", "2026-03-01", "lic-new", customer_id="c-3", plan="pro",
                 seats=10),
        *(envelope("seat.assigned", f"2026-03-{2 + k:02d}", "lic-new", id=f"seat-{k}",
                   user_id=f"u{k}") for k in range(8)),
    ], tenant)
    assert [o.status for o in outcomes] == ["accepted"] * 9
    assert len(folds) == 1  # the grant's, of no facts; each next event reuses the kept fold
