"""The walk-through of docs/governance.md, driven through the `ledger` command on SQLite and
PostgreSQL: a price change drafted, previewed, approved by a second person and released at a
month start; a failed payment nobody acted on found by reconciliation; compliance findings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.builders import CATALOG, envelope
from tests.e2e.cli import run, run_json


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_url")
    return {"LEDGER_DATABASE_URL": url, "LEDGER_TENANT": "acme", "LEDGER_DATA_DIR": str(tmp_path / "data")}


def test_a_price_change_goes_through_review_and_a_failed_payment_is_found(tmp_path: Path,
                                                                         env: dict[str, str]) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z", env=env)
    events = [envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="basic"),
              envelope("payment.succeeded", "2026-02-01", "lic-1", amount=4900, currency="EUR",
                       period_start="2026-02-01T00:00:00Z", period_end="2026-03-01T00:00:00Z",
                       invoice_id="inv-1"),
              envelope("payment.failed", "2026-03-01", "lic-1", amount=4900, currency="EUR",
                       period_start="2026-03-01T00:00:00Z", period_end="2026-04-01T00:00:00Z",
                       invoice_id="inv-2", reason="card_declined")]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    run(tmp_path, "ingest", "events.jsonl", env=env)

    cheaper = copy.deepcopy(CATALOG)
    cheaper["version"] = "2026-04"
    cheaper["plans"]["basic"]["features"]["api_calls"]["limit"] = 2000
    (tmp_path / "2026-04.json").write_text(json.dumps(cheaper))
    run(tmp_path, "policy", "--approval-required", "--actor", "root", env=env)
    refused = run(tmp_path, "catalog", "publish", "2026-04.json", env=env, check=False)
    assert refused.returncode == 1 and "approval_required" in refused.stderr
    drafted = run_json(tmp_path, "catalog", "draft", "2026-04.json", "--effective-at",
                       "2026-04-01T00:00:00Z", "--actor", "alice", "--reason", "more calls", env=env)
    assert drafted["status"] == "draft"
    preview = run_json(tmp_path, "catalog", "preview", "2026-04", env=env)
    assert preview["counts"]["changed"] == 1
    own = run(tmp_path, "catalog", "approve", "2026-04", "--actor", "alice", env=env, check=False)
    assert own.returncode == 1 and "own_draft" in own.stderr
    run(tmp_path, "catalog", "approve", "2026-04", "--actor", "bob", "--digest", drafted["digest"], env=env)
    run(tmp_path, "catalog", "publish", "2026-04", "--actor", "bob", env=env)
    cheaper["version"] = "2026-05"
    (tmp_path / "2026-05.json").write_text(json.dumps(cheaper))
    run(tmp_path, "catalog", "draft", "2026-05.json", "--effective-at", "2026-05-01T00:00:00Z",
        "--actor", "alice", env=env)
    run(tmp_path, "catalog", "withdraw", "2026-05", "--actor", "alice", "--reason", "not yet", env=env)
    listed = run_json(tmp_path, "catalog", "list", env=env)["releases"]
    assert [(r["version"], r["status"], r["approvals"]) for r in listed] == [
        ("2026-04", "published", ["bob"]), ("2026-05", "withdrawn", [])]
    [state] = run_json(tmp_path, "replay", "--as-of", "2026-04-01T00:00:00Z", "--all", env=env)["licenses"]
    assert state["catalog_version"] == "2026-04" and state["features"]["api_calls"]["limit"] == 2000

    found = run(tmp_path, "reconcile", "--as-of", "2026-03-15T00:00:00Z", "--format", "json",
                env=env, check=False)
    assert found.returncode == 1
    report = json.loads(found.stdout)
    assert report["counts"]["failed_payment_not_suspended"] == 1
    assert report["counts"]["unpaid_usage"] == 1
    [failed] = [f for f in report["findings"] if f["code"] == "failed_payment_not_suspended"]
    assert failed["license_id"] == "lic-1" and failed["payments"][0]["invoice_id"] == "inv-2"
    gauges = run(tmp_path, "reconcile", "--as-of", "2026-03-15T00:00:00Z", "--format", "prometheus",
                 env=env, check=False).stdout
    assert 'ledger_reconciliation_findings{tenant="acme",code="failed_payment_not_suspended"} 1' in gauges
    assert "ok:" in run(tmp_path, "verify", env=env).stdout

    checked = run(tmp_path, "compliance", "--skip-read-models", "--format", "json", env=env, check=False)
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout)["skipped"] == ["read_model_mismatch"]
