"""`ledger reconcile` and GET /v1/reconciliation: every license of a tenant against its
payments (rules in `ledger.domain.reconcile`), as JSON, CSV, a table or Prometheus gauges."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from ledger.domain.reconcile import CODES, reconcile
from ledger.domain.releases import policy_of
from ledger.service import Ledger
from ledger.store.governance import governance_facts, payment_facts
from schemas.times import format_time

CSV_COLUMNS = ("code", "license_id", "customer_id", "from", "to", "feature", "month", "limit",
               "used", "overage", "status", "due", "seats_assigned", "seats_paid", "facts",
               "payments")


def reconciliation(ledger: Ledger, tenant: str, as_of: datetime) -> dict[str, Any]:
    """Findings for every license of `tenant` as of `as_of`, with counts by code."""
    store = ledger.store
    days = policy_of(governance_facts(store, tenant)).failed_payment_days
    catalogs = store.catalogs(tenant)
    findings: list[dict[str, Any]] = []
    for license_id in store.licenses_of_tenant(tenant):
        findings += reconcile(store.license_facts(tenant, license_id),
                              store.usage_facts(tenant, license_id),
                              payment_facts(store, tenant, license_id), catalogs, as_of, days)
    return {"tenant": tenant, "as_of": format_time(as_of), "failed_payment_days": days,
            "counts": {code: sum(f["code"] == code for f in findings) for code in CODES},
            "findings": findings}


def as_csv(report: dict[str, Any]) -> str:
    """One row per finding; facts and payments as `;`-separated ids (payments by invoice)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for finding in report["findings"]:
        writer.writerow({**finding, "facts": ";".join(finding["facts"]),
                         "payments": ";".join(p["invoice_id"] for p in finding["payments"])})
    return out.getvalue()


def as_prometheus(report: dict[str, Any]) -> str:
    """The counts as gauges, in the text format (for a textfile collector or a push)."""
    tenant = json.dumps(report["tenant"])
    lines = ["# HELP ledger_reconciliation_findings Reconciliation findings by code, as of the last run.",
             "# TYPE ledger_reconciliation_findings gauge"]
    lines += [f'ledger_reconciliation_findings{{tenant={tenant},code="{code}"}} {count}'
              for code, count in report["counts"].items()]
    return "\n".join(lines) + "\n"
