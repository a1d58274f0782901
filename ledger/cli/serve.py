"""Commands of the HTTP API: `serve`, `up` (everything in one process, with the demo),
`apikey create|revoke` and `license-file` (issue, and `verify`: the reference verifier)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from fastapi import FastAPI

from ledger import tracing
from ledger.api import ApiKeyError, ApiKeys, create_app
from ledger.api.cache import EntitlementCache
from ledger.api.keys import ROLES
from ledger.api.license_files import customer_license_file
from ledger.api.server import kafka_probe, port_free, serve_forever
from ledger.bootstrap import Wiring, bootstrap
from ledger.cli.core import tenant_option
from ledger.cli.guards import require_store
from ledger.cli.limits import connection_limits, connection_options
from ledger.cli.operator import license_file_keys
from ledger.cli.output import emit_json, fail, say
from ledger.licensefile import (
    KeyRing,
    LicenseFileError,
    public_keys_from_published,
    verify_license_file,
)
from ledger.settings import Settings
from projections.embedded import Follower
from projections.readmodel import ReadModels

HOST = click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
PORT = click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
                    help="TCP port to listen on (0: any free port).")
# Kafka mode: another process projects, so a check may lag it by this much more (docs/api.md).
WATERMARK_INTERVAL = 0.1


def keyring_for(settings: Settings) -> KeyRing:
    """The signing key from settings, else the keys kept in the data directory."""
    if settings.signing_key:
        return KeyRing.from_private_key(settings.signing_key.get_secret_value())
    if not (settings.data_dir / "license-keys.json").exists():
        say(f"no license-file signing key in {settings.data_dir.resolve()} (LEDGER_DATA_DIR): "
            "making one; products verify with the public keys of GET /v1/license-files/keys")
    return KeyRing.load_or_create(settings.data_dir)


@contextmanager
def _parts(settings: Settings, *,
           embedded: bool) -> Iterator[tuple[Wiring, ApiKeys, FastAPI, Follower | None]]:
    """The ledger, the read models, the key table, the follower when embedded, and the app
    over them; closed in reverse order however serving ends."""
    wiring = bootstrap(settings)
    traced = tracing.configure("api")
    if traced:  # FastAPI spans every request itself; ingest keeps its context for the relay
        wiring.ledger = tracing.TracedLedger(wiring.ledger, tracing.TraceContexts.open(settings.database_url))
    models = ReadModels.open(settings.read_url)
    keys = ApiKeys.open(settings.read_url)
    follower = Follower(wiring.store, models) if embedded else None
    probe = kafka_probe(settings.kafka_bootstrap) if settings.kafka_bootstrap else None
    bound = settings.check_max_stale
    cache = (EntitlementCache(models, hint=follower.reached, behind=follower.behind,
                              max_stale=bound) if follower is not None
             else EntitlementCache(models, poll_interval=WATERMARK_INTERVAL, max_stale=bound))
    app = create_app(wiring, models, keyring_for(settings), keys=keys, follower=follower,
                     kafka_probe=probe, license_file_days=settings.license_file_days, cache=cache)
    try:
        yield wiring, keys, app, follower
    finally:
        if follower is not None:
            follower.stop()
        keys.close()
        models.close()
        wiring.close()


@click.command()
@HOST
@PORT
@connection_options
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="API processes on the one port, each with its own check cache.")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, workers: int, **bounds: Any) -> None:
    """The HTTP API: reads the read models, writes through the ledger. Without Kafka it also
    keeps the read models up to date itself (in-process fan-out)."""
    limits = connection_limits(settings, **bounds)
    _refuse_busy(host, port)
    if workers > 1:
        from ledger.cli.processes import serve_processes

        say(f"ledger API on http://{host}:{port} ({workers} processes)")
        serve_processes(settings.model_copy(update={
            "http_header_timeout": limits.header_timeout,
            "http_keepalive_timeout": limits.keepalive_timeout,
            "http_max_connections": limits.max_connections}), host, port, workers)
        return
    with _parts(settings, embedded=not settings.kafka_bootstrap) as (_, _, app, follower):
        if follower is not None:
            follower.start()
        serve_forever(app, host, port, log_level=settings.log_level, limits=limits,
                      ready=lambda bound: say(f"ledger API on http://{host}:{bound}"))


@click.command()
@HOST
@PORT
@connection_options
@click.pass_obj
def up(settings: Settings, host: str, port: int, **bounds: Any) -> None:
    """Everything in one process on the embedded default, with a demo tenant on first start."""
    from ledger import demo

    limits = connection_limits(settings, **bounds)

    if settings.kafka_bootstrap:
        say("ledger up runs embedded; LEDGER_KAFKA_BOOTSTRAP is ignored (use serve + consume)")
        settings = settings.model_copy(update={"kafka_bootstrap": None})
    _refuse_busy(host, port)
    with _parts(settings, embedded=True) as (wiring, keys, app, follower):
        assert follower is not None
        if wiring.store.max_position() == 0:
            accepted = demo.seed(wiring.ledger, datetime.now(UTC))
            say(f"loaded the demo: tenant {demo.TENANT!r}, {accepted} events")
        follower.catch_up()
        follower.start()
        key = _demo_admin_key(keys, settings.data_dir / "demo-admin.key")
        serve_forever(app, host, port, log_level=settings.log_level, limits=limits,
                      ready=lambda bound: click.echo(demo.banner(f"http://{host}:{bound}", key)))


def _refuse_busy(host: str, port: int) -> None:
    if not port_free(host, port):
        fail(f"{host}:{port} is already in use: stop what listens there, or pass --port")


def _demo_admin_key(keys: ApiKeys, path: Path) -> str:
    """The demo admin key, kept (mode 0600) in the data directory so a restart keeps it."""
    from ledger import demo

    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if keys.authenticate(key) is not None:
            return key
    issued = keys.create(demo.TENANT, "admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(issued.key + "\n")
    return issued.key


@click.group()
def apikey() -> None:
    """Make and revoke API keys (stored only as a hash)."""


@apikey.command("create")
@click.option("--tenant", default=None, help="Tenant of the key (default: LEDGER_TENANT).")
@click.option("--role", required=True,
              type=click.Choice(list(ROLES)),
              help="What the key may do (docs/api.md, roles).")
@click.option("--customer", default=None, help="The customer a `customer` key speaks for.")
@click.option("--name", default=None,
              help="Who holds the key (a person or system): recorded as the actor of its release steps.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text",
              show_default=True, help="json: the key as one JSON document on standard output.")
@click.pass_obj
def apikey_create(settings: Settings, tenant: str | None, role: str, customer: str | None,
                  name: str | None, fmt: str) -> None:
    """Make a key and print it once: it is not stored, only its hash."""
    keys = ApiKeys.open(settings.read_url)
    try:
        issued = keys.create(tenant or settings.tenant, role, customer, name)
    except ApiKeyError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        keys.close()
    if fmt == "json":
        emit_json(issued.as_dict())
        return
    for name, value in issued.as_dict().items():
        click.echo(f"{name:<12}{value if value is not None else '-'}")
    say("keep the key now: it cannot be shown again")


@apikey.command("revoke")
@click.argument("key_id")
@click.pass_obj
def apikey_revoke(settings: Settings, key_id: str) -> None:
    """Stop KEY_ID at once, in every process."""
    keys = ApiKeys.open(settings.read_url)
    try:
        found = keys.revoke(key_id)
    finally:
        keys.close()
    if not found:
        fail(f"unknown key id {key_id!r}")
    say(f"revoked {key_id}")


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
        except (ValueError, KeyError, TypeError):
            raise click.BadParameter("not the JSON of GET /v1/license-files/keys",
                                     param_hint="--keys") from None
    if not public_keys:
        raise click.UsageError("give --public-key (or --keys)")
    if len(public_keys) == 1 and ":" not in public_keys[0]:
        return public_keys[0]
    named = [key.partition(":") for key in public_keys]
    if any(not key_id or not value for key_id, _, value in named):
        raise click.BadParameter("with several keys, name each: KEY_ID:BASE64",
                                 param_hint="--public-key")
    return {key_id: value for key_id, _, value in named}


license_file.add_command(license_file_keys)
COMMANDS = [serve, up, apikey, license_file]
