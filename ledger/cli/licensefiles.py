"""`ledger license-file`: issue a customer's signed offline license file, rotate the signing
key, list the published keys, and `verify` a file as a product would (the reference verifier).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ledger.api.license_files import customer_license_file
from ledger.bootstrap import bootstrap
from ledger.cli.guards import require_store
from ledger.cli.operator import license_file_keys
from ledger.cli.options import tenant_option
from ledger.cli.output import emit_json, fail, say
from ledger.licensefile import (
    KeyRing,
    LicenseFileError,
    public_keys_from_published,
    verify_license_file,
)
from ledger.settings import Settings


def keyring_for(settings: Settings) -> KeyRing:
    """The signing key from settings, else the keys kept in the data directory."""
    if settings.signing_key:
        return KeyRing.from_private_key(settings.signing_key.get_secret_value())
    if not (settings.data_dir / "license-keys.json").exists():
        say(f"no license-file signing key in {settings.data_dir.resolve()} (LEDGER_DATA_DIR): "
            "making one; products verify with the public keys of GET /v1/license-files/keys")
    return KeyRing.load_or_create(settings.data_dir)


class _IssueByDefault(click.Group):
    """`license-file CUSTOMER_ID` issues; `license-file verify FILE` verifies."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["issue", *args]
        return super().parse_args(ctx, args)


@click.group("license-file", cls=_IssueByDefault)
def license_file() -> None:
    """Offline license files: `license-file CUSTOMER_ID` issues one, `license-file verify FILE`
    checks one as a product would."""


@license_file.command("issue")
@click.argument("customer_id")
@tenant_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the file here instead of standard output.")
@click.pass_obj
def license_file_issue(settings: Settings, customer_id: str, tenant: str | None,
                       output: Path | None) -> None:
    """Issue CUSTOMER_ID's signed license file."""
    tenant = tenant or settings.tenant
    require_store(settings)
    wiring = bootstrap(settings)
    try:
        document = customer_license_file(
            wiring.ledger, wiring.store, keyring_for(settings), tenant, customer_id,
            datetime.now(UTC), timedelta(days=settings.license_file_days))
    finally:
        wiring.close()
    if document is None:
        fail(f"no_license: customer {customer_id!r} has no license in tenant {tenant!r}")
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        say(f"wrote {output}")


@license_file.command("rotate-key")
@click.pass_obj
def license_file_rotate_key(settings: Settings) -> None:
    """Make a new signing key active in the data directory; earlier keys stay published, so
    files they signed keep verifying. Servers sign with it from their next start."""
    if settings.signing_key:
        fail("the signing key comes from LEDGER_SIGNING_KEY: rotate it there")
    new = KeyRing.load_or_create(settings.data_dir).rotate()
    echo_json = json.dumps({"key_id": new.key_id, "algorithm": "Ed25519",
                            "public_key": new.public_key_base64()})
    click.echo(echo_json)


@license_file.command("verify")
@click.argument("file", type=click.File("rb"))
@click.option("--public-key", "public_keys", multiple=True, metavar="[KEY_ID:]BASE64",
              help="The vendor's Ed25519 public key, base64; with KEY_ID: only for files that "
                   "name that key (so another key reads unknown_key). Repeatable.")
@click.option("--keys", "keys_file", type=click.File("r"), default=None,
              help="The JSON of GET /v1/license-files/keys instead of --public-key.")
@click.option("--seen", type=click.IntRange(min=0), default=None, metavar="SEQUENCE",
              help="The highest head sequence already seen: refuse an older file.")
def license_file_verify(file: Any, public_keys: tuple[str, ...], keys_file: Any,
                        seen: int | None) -> None:
    """Verify FILE offline ('-' for standard input): print its entitlements, or the reason
    (bad_signature, unknown_key, expired, older_than_seen, malformed) and exit non-zero.
    Standard error names the signature checked: signature_rfc8785 when the file has one."""
    trusted = _trusted_keys(public_keys, keys_file)
    try:
        verified = verify_license_file(file.read(), trusted, seen_sequence=seen)
    except LicenseFileError as exc:
        fail(f"{exc.reason}: {exc}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None
    # Standard error, so standard output stays the verified body alone (contract section 6).
    field = "signature_rfc8785" if verified.checked_by == "rfc8785" else "signature"
    click.echo(f"verified: {field} ({verified.checked_by} form) by key {verified.key_id}",
               err=True)
    emit_json(verified.license)


def _trusted_keys(public_keys: tuple[str, ...], keys_file: Any) -> dict[str, str] | str:
    if keys_file is not None:
        try:
            return public_keys_from_published(json.load(keys_file))
        except (ValueError, KeyError, TypeError, LicenseFileError) as exc:
            raise click.BadParameter(f"not the JSON of GET /v1/license-files/keys: {exc}",
                                     param_hint="--keys") from None
    if not public_keys:
        raise click.UsageError("give --public-key (or --keys)")
    if len(public_keys) == 1 and ":" not in public_keys[0]:
        return public_keys[0]
    named = [key.partition(":") for key in public_keys]
    if any(not key_id or not value for key_id, _, value in named):
        raise click.BadParameter("a named key is KEY_ID:BASE64, both parts given (and with "
                                 "several keys, name each)", param_hint="--public-key")
    return {key_id: value for key_id, _, value in named}


license_file.add_command(license_file_keys)
COMMANDS = [license_file]
