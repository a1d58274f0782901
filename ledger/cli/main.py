"""The `ledger` command: one subcommand per role, all reading the same settings."""

from __future__ import annotations

import sys
from typing import Any

import click
from pydantic import ValidationError

from ledger.logs import configure
from ledger.settings import Settings


class LedgerGroup(click.Group):
    """Turns any unexpected failure into a one-line reason and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence is a clear reason
            click.echo(f"ledger: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)


@click.group(cls=LedgerGroup)
@click.option("--database-url", envvar="LEDGER_DATABASE_URL", default=None,
              help="Event store: sqlite:///PATH or postgresql://... (LEDGER_DATABASE_URL).")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """The entitlement ledger."""
    overrides = {"database_url": database_url} if database_url else {}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise click.UsageError(f"bad setting: {exc}") from None
    configure(settings.log_format, settings.log_level)
    ctx.obj = settings


def _register() -> None:
    from ledger.cli import core, serve

    for module in (core, serve):
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    _register()
    cli(prog_name="ledger")
