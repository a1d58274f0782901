"""`ledger reconcile` and `ledger compliance`: findings that exit non-zero, so a schedule can
run them and page someone. Each prints JSON, CSV (reconcile), Prometheus gauges (reconcile)
or a table."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from ledger.bootstrap import bootstrap
from ledger.cli.options import TIME, TimeParam, tenant_option
from ledger.cli.output import echo, emit_json, table
from ledger.settings import Settings


def _summary(report: dict[str, Any]) -> str:
    counts = ", ".join(f"{code} {n}" for code, n in report["counts"].items())
    return f"tenant {report['tenant']} as of {report['as_of']}: {counts}"


def _detail(finding: dict[str, Any]) -> str:
    skip = {"code", "license_id", "customer_id", "facts", "payments"}
    parts = [f"{k}={v}" for k, v in finding.items() if k not in skip]
    if finding.get("payments"):
        parts.append("invoices=" + ";".join(p["invoice_id"] for p in finding["payments"]))
    return " ".join(parts)


@click.command()
@tenant_option
@click.option("--as-of", type=TIME, default=None,
              help=f"The moment reconciled up to (default now); {TimeParam.help}.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "table", "prometheus"]),
              default="table", show_default=True,
              help="json, csv or table of the findings; prometheus: their counts as gauges.")
@click.pass_obj
def reconcile(settings: Settings, tenant: str | None, as_of: datetime | None, fmt: str) -> None:
    """Entitlements against payments: leakage, harm, unsuspended failures, overage, seats.
    Exits 1 when there is any finding."""
    from ledger.governance.reconciliation import as_csv, as_prometheus, reconciliation

    wiring = bootstrap(settings)
    try:
        report = reconciliation(wiring.ledger, tenant or settings.tenant, as_of or datetime.now(UTC))
    finally:
        wiring.close()
    if fmt == "json":
        emit_json(report)
    elif fmt == "csv":
        click.echo(as_csv(report), nl=False)
    elif fmt == "prometheus":
        click.echo(as_prometheus(report), nl=False)
    else:
        echo(_summary(report))
        table([(f["code"], f["license_id"], f["customer_id"], _detail(f)) for f in report["findings"]],
              ["code", "license", "customer", "detail"])
    if report["findings"]:
        sys.exit(1)


@click.command()
@tenant_option
@click.option("--as-of", type=TIME, default=None,
              help=f"The moment checked up to (default now); {TimeParam.help}.")
@click.option("--skip-read-models", is_flag=True,
              help="Do not compare the read models with replay (e.g. no read database here).")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
              show_default=True, help="json: the findings as one JSON document on standard output.")
@click.pass_obj
def compliance(settings: Settings, tenant: str | None, as_of: datetime | None,
               skip_read_models: bool, fmt: str) -> None:
    """Automated compliance checks, each a stable code; exits 1 when there is any finding."""
    from ledger.api.remembered_keys import ApiKeys
    from ledger.governance.compliance import compliance as check
    from ledger.licensefile.keys import key_ages
    from projections.readmodel import ReadModels

    who = tenant or settings.tenant
    now = datetime.now(UTC)
    wiring = bootstrap(settings)
    keys = ApiKeys.open(settings.read_url)
    models = None if skip_read_models else ReadModels.open(settings.read_url)
    try:
        report = check(wiring.ledger, who, as_of or now, models=models, api_keys=keys.listed(who),
                       signing_keys=[] if settings.signing_key else key_ages(settings.data_dir),
                       today=now)
    finally:
        keys.close()
        if models is not None:
            models.close()
        wiring.close()
    if fmt == "json":
        emit_json(report)
    else:
        echo(_summary(report))
        table([(f["code"], f.get("license_id") or f.get("key_id"), _detail(f))
               for f in report["findings"]], ["code", "concerns", "detail"])
    if report["findings"]:
        sys.exit(1)


COMMANDS = [reconcile, compliance]
