"""Commands for operators: `ledger license-file keys` (the public keys offline, as
`GET /v1/license-files/keys` publishes them) and `ledger status` (the whole system at a glance)."""

from __future__ import annotations

import click

from ledger.cli.output import emit_json, fail
from ledger.settings import Settings


@click.command("keys")
@click.pass_obj
def license_file_keys(settings: Settings) -> None:
    """Print the public keys license files are signed with: the same JSON document as
    GET /v1/license-files/keys, for products that verify offline (`--keys FILE` of verify)."""
    from ledger.cli.serve import keyring_for

    if not settings.signing_key and not (settings.data_dir / "license-keys.json").is_file():
        fail(f"no license-file signing keys in {settings.data_dir.resolve()} (LEDGER_DATA_DIR): "
             "run this where 'ledger up' or 'ledger serve' keeps its data, or set LEDGER_SIGNING_KEY")
    emit_json({"keys": keyring_for(settings).public_keys()})


COMMANDS: list[click.Command] = []
