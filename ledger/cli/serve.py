"""Commands of the HTTP API: `serve`, `up` (everything in one process, with the demo) and
`apikey create|revoke`; `license-file` is in `licensefiles.py`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from fastapi import FastAPI

from ledger import tracing
from ledger.api import ApiKeyError, ApiKeys, create_app
from ledger.api.cache import EntitlementCache
from ledger.api.keys import ROLES
from ledger.api.server import kafka_probe, port_free, serve_forever
from ledger.bootstrap import Wiring, bootstrap
from ledger.cli.licensefiles import keyring_for
from ledger.cli.limits import connection_limits, connection_options
from ledger.cli.options import TENANT
from ledger.cli.output import emit_json, fail, say
from ledger.settings import Settings
from ledger.store.database import SERVE_STORE_WAIT
from ledger.store.sql import SERVE_WAIT
from projections.embedded import Follower
from projections.readmodel import ReadModels

HOST = click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
PORT = click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
                    help="TCP port to listen on (0: any free port).")
# Kafka mode: another process projects, so a check may lag it by this much more (docs/api.md).
WATERMARK_INTERVAL = 0.1


@contextmanager
def _parts(settings: Settings, *,
           embedded: bool) -> Iterator[tuple[Wiring, ApiKeys, FastAPI, Follower | None]]:
    """The ledger, the read models, the key table, the follower when embedded, and the app
    over them; closed in reverse order however serving ends."""
    wiring = bootstrap(settings, store_wait=SERVE_STORE_WAIT)
    traced = tracing.configure("api")
    if traced:  # FastAPI spans every request itself; ingest keeps its context for the relay
        wiring.ledger = tracing.TracedLedger(wiring.ledger, tracing.TraceContexts.open(settings.database_url))
    bound = settings.check_max_stale
    models = ReadModels.open(settings.read_url, wait=SERVE_WAIT)
    keys = ApiKeys.open(settings.read_url, wait=SERVE_WAIT, max_unreadable=bound)
    # The follower writes through read models of its own, with the pool's own wait: a write
    # that waits for a connection is not a request, and failing it would mark answers stale.
    written = ReadModels.open(settings.read_url) if embedded else None
    follower = Follower(wiring.store, written) if written is not None else None
    probe = kafka_probe(settings.kafka_bootstrap) if settings.kafka_bootstrap else None
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
        if written is not None:
            written.close()
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
@click.option("--tenant", type=TENANT, default=None, help="Tenant of the key (default: LEDGER_TENANT).")
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


COMMANDS = [serve, up, apikey]
