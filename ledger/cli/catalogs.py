"""`ledger catalog publish`: a catalog FILE (JSON or TOML) recorded as a new immutable version,
or an approved draft VERSION at its time (the release workflow's other steps, and the group's
other subcommands, are in `releases.py`)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import click

from ledger.bootstrap import bootstrap
from ledger.cli.options import TIME, TimeParam, tenant_option
from ledger.cli.output import echo, fail
from ledger.domain.chain import canonical
from ledger.settings import Settings
from schemas.times import format_time


@click.group()
def catalog() -> None:
    """Publish the catalog versions that give plans their meaning, directly or through the
    release workflow (draft, preview, approve, publish: see docs/governance.md)."""


def read_catalog(file: Path) -> Any:
    """A catalog file's data, JSON or TOML; a file that is neither is a one-line failure."""
    try:
        text = file.read_text(encoding="utf-8")
        return _from_toml(tomllib.loads(text)) if file.suffix == ".toml" else json.loads(text)
    except _NotJsonError as exc:
        fail(f"{file}: {exc}")
    except ValueError as exc:
        fail(f"{file}: not valid {'TOML' if file.suffix == '.toml' else 'JSON'}: {exc}")


@catalog.command("publish")
@click.argument("file", metavar="FILE|VERSION")
@tenant_option
@click.option("--effective-at", type=TIME, default=None,
              help=f"When it takes effect (default now); {TimeParam.help}.")
@click.option("--actor", default=None, help="Who publishes an approved VERSION (default: the OS user).")
@click.option("--reason", default=None, help="Why (recorded with an approved VERSION's publication).")
@click.pass_obj
def publish(settings: Settings, file: str, tenant: str | None, effective_at: datetime | None,
            actor: str | None, reason: str | None) -> None:
    """Publish catalog FILE (JSON or TOML) as a new immutable version, or the approved draft
    VERSION at its effective time."""
    if not Path(file).is_file():
        from ledger.cli.releases import publish_release

        publish_release(settings, file, tenant, actor, reason, effective_at)
        return
    path = Path(file)
    data = read_catalog(path)
    version = str(data.get("version", "")) if isinstance(data, dict) else ""
    digest = hashlib.sha256(canonical(data)).hexdigest()[:16]
    envelope = {"specversion": "1.0", "id": f"catalog:{version}:{digest}", "source": "ledger/cli",
                "type": "catalog.published", "subject": version or "-",
                "time": format_time(effective_at or datetime.now(UTC)), "data": data}
    wiring = bootstrap(settings)
    outcome = wiring.ledger.ingest([envelope], tenant or settings.tenant)[0]
    if outcome.status == "rejected":
        wiring.close()
        fail(f"catalog {version!r} rejected: {outcome.code}: {outcome.message}")
    if outcome.status == "duplicate":
        published = wiring.store.catalogs(tenant or settings.tenant).version(version)
        since = format_time(published.effective_at) if published else envelope["time"]
        note = "" if since == envelope["time"] or effective_at is None else (
            f" (versions are immutable: --effective-at {envelope['time']} was not applied)")
        echo(f"catalog {version} was already published for tenant {tenant or settings.tenant}, "
             f"in force from {since}{note}")
    else:
        echo(f"catalog {version} accepted for tenant {tenant or settings.tenant}, "
             f"in force from {envelope['time']}")
    wiring.close()


class _NotJsonError(ValueError):
    """A TOML value a catalog (JSON data, as every channel sends it) cannot hold."""


def _from_toml(data: Any, path: str = "") -> Any:
    """TOML has no null: `limit = "unlimited"` stands for JSON's `"limit": null`. TOML's dates
    and times have no JSON counterpart: refused, naming the key (`version = 2026-01-01` wants
    quotes), instead of failing later on encoding with no name."""
    if isinstance(data, dict):
        return {k: None if k == "limit" and v == "unlimited" else
                _from_toml(v, f"{path}.{k}" if path else k) for k, v in data.items()}
    if isinstance(data, list):
        return [_from_toml(v, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, date | time):  # a datetime is a date
        raise _NotJsonError(f"{path}: a TOML date or time ({data.isoformat()}) is not a catalog "
                            f'value; write it as text, in quotes ("{data.isoformat()}")')
    return data
