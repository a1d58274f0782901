"""The auditor's commands beyond proofs: `explain` (why the check answered so), and `audit
export` / `audit verify` (the audit pack, see `ledger.audit.pack`)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ledger.audit.explain import explain as explain_check
from ledger.bootstrap import bootstrap
from ledger.cli.core import FORMAT, TIME, tenant_option
from ledger.cli.output import echo, emit_json, table
from ledger.settings import Settings


@click.command()
@click.option("--customer", required=True, help="The customer asked about.")
@click.option("--feature", required=True, help="The feature asked about.")
@click.option("--at", type=TIME, default=None, help="The business moment (default now).")
@click.option("--known-at", type=TIME, default=None, help="Only what was recorded by then (default now).")
@click.option("--quantity", type=click.IntRange(min=1), default=1, show_default=True)
@tenant_option
@FORMAT
@click.pass_obj
def explain(settings: Settings, customer: str, feature: str, at: datetime | None,
            known_at: datetime | None, quantity: int, tenant: str | None, fmt: str) -> None:
    """The check's answer at --at as known at --known-at, and the facts that decided it."""
    now = datetime.now(UTC)
    wiring = bootstrap(settings)
    try:
        answer = explain_check(wiring.ledger, wiring.store, tenant or settings.tenant, customer,
                               feature, at or now, known_at or now, quantity)
    finally:
        wiring.close()
    if fmt == "json":
        emit_json(answer)
        return
    echo(answer["explanation"])
    table([(f["why"], f["type"], f["id"], f["source"], f["effective_at"], f["recorded_at"],
            f["position"]) for f in answer["facts"]],
          ["why", "type", "id", "source", "effective_at", "recorded_at", "position"])


COMMANDS = [explain]
