"""Payments and release steps are facts like the others: idempotent, chained, relayed with
their subject, and they change no license state, in replay or in the read models. Also the
reconciliation endpoint and its gauges."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from consumers.outbound import decode_fact, encode_fact
from ledger.api.remembered_keys import ApiKeys
from ledger.governance.compliance import compliance
from ledger.governance.releases import Releases
from ledger.integrity import verify
from projections.readmodel import ReadModels
from projections.verify import verify_projections
from tests.builders import CATALOG, catalog_envelope, envelope, t
from tests.conftest import unique
from tests.integration import tampering
from tests.integration.test_api_harness import running_api, sqlite
from tests.unit.test_projections import all_facts


def payment(kind: str, time: str, invoice: str, **extra: Any) -> dict[str, Any]:
    return envelope(kind, time, "lic-1", id=f"{kind}-{invoice}", amount=4900, currency="eur",
                    period_start=f"{time}T00:00:00Z", period_end="2026-04-01T00:00:00Z",
                    invoice_id=invoice, **extra)


def test_payments_are_idempotent_and_change_no_license_state(database_url: str, wiring_factory: Any,
                                                             tmp_path: Path) -> None:
    wiring = wiring_factory(database_url)
    tenant = unique("acme")
    wiring.ledger.ingest([catalog_envelope("2026-01-01"),
                          envelope("license.granted", "2026-02-01", "lic-1", customer_id="c", plan="pro")],
                         tenant)
    before = wiring.ledger.state(tenant, "lic-1", t("2026-03-15"))
    sent = [payment("payment.succeeded", "2026-03-01", "inv-1"),
            payment("payment.failed", "2026-03-02", "inv-2", reason="card_declined"),
            envelope("payment.succeeded", "2026-03-01", "lic-unknown", amount=1, currency="EUR",
                     period_start="2026-03-01T00:00:00Z", period_end="2026-04-01T00:00:00Z",
                     invoice_id="inv-3"),
            envelope("payment.succeeded", "2026-03-01", "lic-1", amount=1, currency="EUR",
                     period_start="2026-04-01T00:00:00Z", period_end="2026-03-01T00:00:00Z",
                     invoice_id="inv-4")]
    outcomes = wiring.ledger.ingest(sent, tenant)
    assert [(o.status, o.code) for o in outcomes] == [
        ("accepted", None), ("accepted", None), ("rejected", "unknown_license"),
        ("rejected", "invalid_event")]
    assert "period_end" in (outcomes[3].message or "")
    assert [o.status for o in wiring.ledger.ingest(sent[:2], tenant)] == ["duplicate"] * 2
    assert wiring.ledger.state(tenant, "lic-1", t("2026-03-15")) == before
    assert [e["type"] for e in wiring.ledger.history(tenant, "lic-1")] == ["license.granted"]

    Releases(wiring.ledger).configure(tenant, "root", approvals_required=2)
    draft = copy.deepcopy(CATALOG)
    draft["version"] = "v2"
    Releases(wiring.ledger).draft(tenant, "alice", draft, t("2026-05-01"))
    assert verify(wiring.store, tenant).ok

    facts = all_facts(wiring.store)
    for fact in facts:  # the relay's wire format keeps what the chain hashed
        assert decode_fact(encode_fact(fact)[1]) == fact
    models = ReadModels.open(f"sqlite:///{tmp_path / 'read.db'}")
    keys = ApiKeys.open(f"sqlite:///{tmp_path / 'read.db'}")
    try:
        models.apply(facts[:-1], tracking=("ledger", facts[-2].position or 0))
        behind = compliance(wiring.ledger, tenant, t("2026-03-15"), models=models, api_keys=[],
                            signing_keys=[], today=t("2026-03-15"))
        assert behind["counts"]["read_model_mismatch"] >= 1
        models.apply(facts, tracking=("ledger", wiring.store.max_position()))
        assert models.licenses(tenant) == ["lic-1"]
        assert verify_projections(wiring.store, wiring.ledger, models, t("2026-03-15")) == []
        keys.create(tenant, "billing", name="stripe")
        report = compliance(wiring.ledger, tenant, t("2026-03-15"), models=models,
                            api_keys=keys.listed(tenant), signing_keys=[], today=t("2026-03-15"))
        assert (report["findings"], report["skipped"]) == ([], [])
        later = compliance(wiring.ledger, tenant, t("2026-03-15"), models=models,
                           api_keys=keys.listed(tenant), signing_keys=[], today=t("2027-06-01"))
        assert [f["code"] for f in later["findings"]] == ["api_key_unused"]
    finally:
        keys.close()
        models.close()


@pytest.fixture
def api(tmp_path: Path) -> Any:
    with running_api(sqlite(tmp_path)) as served:
        served.with_catalog("acme")
        served.record([envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="basic"),
                       payment("payment.failed", "2026-02-01", "inv-1")], "acme")
        yield served


def test_the_reconciliation_endpoint_answers_auditors_and_sets_the_gauges(api: Any) -> None:
    auditor = api.as_role("auditor")
    answer = auditor.get("/v1/reconciliation", params={"as_of": "2026-03-01T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["failed_payment_not_suspended"] == 1
    csv = auditor.get("/v1/reconciliation", params={"as_of": "2026-03-01T00:00:00Z", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("code,license_id,customer_id")
    assert api.as_role("service").get("/v1/reconciliation").status_code == 403
    metrics = api.as_role("admin").get("/metrics").text
    assert 'ledger_reconciliation_findings{code="failed_payment_not_suspended",tenant="acme"} 1.0' in metrics


def test_steps_and_payments_have_index_rows_of_their_own_kinds_that_verify_checks(
        database_url: str, wiring_factory: Any) -> None:
    wiring = wiring_factory(database_url)
    tenant = unique("acme")
    wiring.ledger.ingest([catalog_envelope("2026-01-01"),
                          envelope("license.granted", "2026-02-01", "lic-1", customer_id="c", plan="pro"),
                          payment("payment.succeeded", "2026-03-01", "inv-1")], tenant)
    Releases(wiring.ledger).configure(tenant, "root", failed_payment_days=3)
    rows = {r.sequence: r for r in wiring.store.index_rows() if r.tenant == tenant}
    assert [(r.kind, r.subject) for r in rows.values()] == [
        ("catalog", CATALOG["version"]), ("lifecycle", "lic-1"), ("payment", "lic-1"),
        ("governance", tenant)]
    assert [f.type for f in wiring.store.payment_facts(tenant, "lic-1")] == ["payment.succeeded"]
    assert [f.type for f in wiring.store.governance_facts(tenant)] == ["tenant.configured"]
    assert [e["type"] for e in wiring.ledger.history(tenant, "lic-1")] == ["license.granted"]
    assert verify(wiring.store, tenant).ok
    for sequence, kind in ((3, "lifecycle"), (4, "catalog")):  # a payment made a lifecycle fact
        tampering.rewrite_index(database_url, tenant, sequence, "kind", kind)
        assert not verify(wiring.store, tenant).ok
        tampering.rewrite_index(database_url, tenant, sequence, "kind", rows[sequence].kind)
    assert verify(wiring.store, tenant).ok
