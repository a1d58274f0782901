"""The `ledger` command: one subcommand per role, all reading the same settings."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
from pydantic import ValidationError

from ledger.logs import configure
from ledger.settings import Settings

# Which module holds each command: imported only when the command runs, so `ledger head`
# does not pay for FastAPI or Kafka clients.
COMMAND_MODULES = {
    "ingest": "core", "replay": "core", "history": "core", "verify": "core",
    "head": "core", "schemas": "core", "catalog": "releases", "policy": "releases",
    "reconcile": "governance", "compliance": "governance",
    "consume": "workers", "relay": "workers", "project": "workers", "projections": "workers",
    "serve": "serve", "up": "serve", "apikey": "serve", "license-file": "serve",
}


class LedgerGroup(click.Group):
    """Loads commands lazily, and turns any unexpected failure into a one-line reason and a
    non-zero exit."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"ledger.cli.{module_name}")
        return next((c for c in module.COMMANDS if c.name == cmd_name), None)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence is a clear reason
            click.echo(f"ledger: {reason(exc)}", err=True)
            sys.exit(1)


# What to do next, by where the failure came from.
HINTS = {
    "kafka": "check LEDGER_KAFKA_BOOTSTRAP and that the broker is up",
    "psycopg": "check LEDGER_DATABASE_URL / LEDGER_READ_DATABASE_URL and that PostgreSQL is up",
    "sqlite3": "check LEDGER_DATABASE_URL and the file's permissions",
    "eventsourcing": "check LEDGER_DATABASE_URL and that the database is up",
}


def reason(exc: BaseException) -> str:
    """One line: what failed (without repeating the exception's name) and what to do next."""
    name, text = type(exc).__name__, " ".join(str(exc).split())
    line = text if text.startswith(name) else f"{name}: {text}" if text else name
    hint = HINTS.get(type(exc).__module__.split(".")[0])
    return f"{line} ({hint})" if hint else line


@click.group(cls=LedgerGroup)
@click.option("--database-url", envvar="LEDGER_DATABASE_URL", default=None,
              help="Event store: sqlite:///PATH or postgresql://... (LEDGER_DATABASE_URL).")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """The entitlement ledger."""
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise click.UsageError(f"bad setting: {exc}") from None
    configure(settings.log_format, settings.log_level)
    ctx.obj = settings


def main() -> None:
    """Exit status 0 on success; otherwise non-zero with a one-line reason on standard error
    (usage errors included: `ledger: --as-of: ...`, status 2)."""
    try:
        cli.main(prog_name="ledger", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        sys.exit(2)
    except click.UsageError as exc:
        hint = f" (see 'ledger {exc.ctx.command_path.partition(' ')[2]} --help')".replace(
            "ledger  ", "ledger ") if exc.ctx else ""
        click.echo(f"ledger: {' '.join(exc.format_message().split())}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"ledger: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("ledger: aborted", err=True)
        sys.exit(130)
