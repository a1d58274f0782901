"""The `ledger` command: one subcommand per role, all reading the same settings."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click
from pydantic import ValidationError

from ledger.cli.environment import warnings
from ledger.logs import configure
from ledger.settings import Settings

DATABASE_HELP = "Event store: sqlite:///PATH or postgresql://... (LEDGER_DATABASE_URL)."

# Which module holds each command: imported only when the command runs, so `ledger head`
# does not pay for FastAPI or Kafka clients.
COMMAND_MODULES = {
    "ingest": "core", "replay": "core", "history": "core", "verify": "core",
    "head": "core", "schemas": "core", "catalog": "releases", "policy": "releases",
    "reconcile": "governance", "compliance": "governance",
    "consume": "workers", "relay": "workers", "project": "workers", "projections": "workers",
    "serve": "serve", "up": "serve", "apikey": "serve", "license-file": "licensefiles",
    "status": "operator",
    "tree-head": "proofs", "proof": "proofs", "explain": "audit", "audit": "audit",
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
        found = next((c for c in module.COMMANDS if c.name == cmd_name), None)
        if found is not None:
            _accept_database_url(found)
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit,
                BrokenPipeError):  # click ends a closed pipe (`ledger ... | head`) quietly
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence is a clear reason
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            if settings is not None and settings.log_level.lower() == "debug":
                traceback.print_exc()
            click.echo(f"ledger: {reason(exc)}", err=True)
            sys.exit(1)


def _database_url_given(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    """`ledger head --database-url URL` means what `ledger --database-url URL head` does."""
    if value and isinstance(ctx.obj, Settings):
        ctx.obj = ctx.obj.model_copy(update={"database_url": value})


def _accept_database_url(command: click.Command) -> None:
    """Give every leaf command the group's `--database-url`, once."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_database_url(sub)
    elif not any(p.name == "database_url_after" for p in command.params):
        command.params.append(click.Option(
            ["--database-url", "database_url_after"], default=None, expose_value=False,
            is_eager=True, callback=_database_url_given, help=DATABASE_HELP))


# What to do next, by where the failure came from.
HINTS = {
    "kafka": "check LEDGER_KAFKA_BOOTSTRAP and that the broker is up",
    "psycopg": "check LEDGER_DATABASE_URL / LEDGER_READ_DATABASE_URL and that PostgreSQL is up",
    "sqlite3": "check LEDGER_DATABASE_URL and the file's permissions",
    "eventsourcing": "check LEDGER_DATABASE_URL and that the database is up",
}


def reason(exc: BaseException) -> str:
    """One line: what failed and what to do next, in words (no Python class names; with
    LEDGER_LOG_LEVEL=debug the traceback comes first)."""
    name, text = type(exc).__name__, " ".join(str(exc).split())
    line = text.removeprefix(f"{name}: ") if text else f"unexpected {_words(name)}"
    hint = HINTS.get(type(exc).__module__.split(".")[0])
    return f"{line} ({hint})" if hint else line


def _words(name: str) -> str:
    """`ConnectionRefusedError` -> "connection refused error"."""
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()


@click.group(cls=LedgerGroup)
@click.option("--database-url", envvar="LEDGER_DATABASE_URL", default=None, help=DATABASE_HELP)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """The entitlement ledger."""
    overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise click.UsageError("bad setting: " + "; ".join(
            f"LEDGER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors(include_url=False))) from None
    configure(settings.log_format, settings.log_level)
    for line in warnings():
        click.echo(f"ledger: {line}", err=True)
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
