"""The auditor's commands beyond proofs: `explain` (why the check answered so), and `audit
export` / `audit verify` (the audit pack, see `ledger.audit.pack`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import structlog

from ledger.audit.explain import explain as explain_check
from ledger.bootstrap import bootstrap
from ledger.cli.options import FORMAT, TIME, TimeParam, tenant_option
from ledger.cli.output import echo, emit_json, fail, say, table
from ledger.settings import Settings

log = structlog.get_logger()


@click.command()
@click.option("--customer", required=True, help="The customer asked about.")
@click.option("--feature", required=True, help="The feature asked about.")
@click.option("--at", type=TIME, default=None, help="The business moment (default now).")
@click.option("--known-at", type=TIME, default=None,
              help=f"Only what was recorded by then (default now); {TimeParam.help}.")
@click.option("--quantity", type=click.IntRange(min=1), default=1, show_default=True,
              help="Units the check is asked about.")
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


@click.group()
def audit() -> None:
    """Audit packs: everything about a period, signed, for an auditor to check offline."""


@audit.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--from", "start", type=TIME, required=True, help="Start of the period (effective time).")
@click.option("--to", "end", type=TIME, required=True, help="End of the period, exclusive.")
@click.option("--customer", default=None, help="Only this customer's licenses' events.")
@tenant_option
@click.pass_obj
def audit_export(settings: Settings, directory: Path, start: datetime, end: datetime,
                 customer: str | None, tenant: str | None) -> None:
    """Write the audit pack of the period to DIRECTORY (a new or empty directory)."""
    from ledger.audit.pack import export
    from ledger.cli.licensefiles import keyring_for
    from ledger.proofs import NoSuchEventError, VerifiableLog

    chosen = tenant or settings.tenant
    keyring = keyring_for(settings)
    wiring = bootstrap(settings)
    try:
        manifest = export(wiring.ledger, VerifiableLog(wiring.store, keyring), keyring, chosen,
                          start, end, directory, customer, now=datetime.now(UTC),
                          progress=lambda done, total: log.info("audit.progress", done=done, of=total))
    except (ValueError, NoSuchEventError) as exc:
        fail(str(exc))
    finally:
        wiring.close()
    body = manifest["manifest"]
    say(f"wrote {directory}: {body['events']} events of tenant {chosen!r} effective "
        f"{body['from']} to {body['to']}, proven against its log of size {body['tree_size']}")


@audit.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--public-key", "public_keys", multiple=True, metavar="[KEY_ID:]BASE64",
              help="The vendor's Ed25519 public key, base64 (repeatable, each KEY_ID:BASE64).")
@click.option("--keys", "keys_file", type=click.File("r"), default=None,
              help="The JSON of GET /v1/license-files/keys instead of --public-key.")
def audit_verify(directory: Path, public_keys: tuple[str, ...], keys_file: Any) -> None:
    """Check an audit pack offline: exit 0, or the reason (tampered, bad_signature, unknown_key,
    bad_proof, root_mismatch) and a non-zero exit."""
    from ledger.audit.verify import PackError, verify_pack
    from ledger.cli.licensefiles import _trusted_keys

    try:
        body = verify_pack(directory, _trusted_keys(public_keys, keys_file))
    except PackError as exc:
        fail(f"{exc.reason}: {exc}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None
    who = f"customer {body['customer_id']!r} of " if body.get("customer_id") else ""
    echo(f"ok: {body['events']} events of {who}tenant {body['tenant']!r}, effective {body['from']} "
         f"to {body['to']}, each proven in its log of size {body['tree_size']}; "
         f"{len(body['files'])} files match the signed manifest")


COMMANDS = [explain, audit]
