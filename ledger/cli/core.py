"""Commands of the ledger core: ingest, catalog publish, replay, history, verify, head, schemas."""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import structlog

from ledger.bootstrap import bootstrap
from ledger.cli.guards import require_store
from ledger.cli.lines import read_lines
from ledger.cli.output import echo, emit_json, fail, say, table
from ledger.domain.chain import GENESIS, canonical
from ledger.integrity import verify as verify_chains
from ledger.settings import Settings
from schemas.times import ZonelessTimeError, format_time, parse_time

log = structlog.get_logger()
BATCH = 500
FORMAT = click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
                      show_default=True,
                      help="json: one JSON document on standard output, for machines; table: for people.")


def tenant_option(fn: Any) -> Any:
    return click.option("--tenant", default=None,
                        help="Tenant to act for (default: LEDGER_TENANT or 'default').")(fn)


class TimeParam(click.ParamType):
    name = "TIME"
    help = "RFC 3339 with a zone, e.g. 2026-03-01T00:00:00Z"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(value)
        except ZonelessTimeError as exc:
            self.fail(str(exc), param, ctx)
        except OverflowError:
            self.fail(f"{value!r} lies out of range once converted to UTC", param, ctx)
        except ValueError:
            self.fail(f"{value!r} is not an RFC 3339 time like 2026-03-01T00:00:00Z", param, ctx)


TIME = TimeParam()


@click.command()
@click.argument("file", type=click.File("rb"))
@tenant_option
@click.option("--any-tenant", is_flag=True,
              help="With --tenant: also record envelopes whose tenantid names another tenant, "
                   "each in its own (operators loading a multi-tenant file). Without it, those "
                   "are rejected as tenant_mismatch, as over HTTP.")
@FORMAT
@click.option("--max-line-bytes", type=click.IntRange(min=1), default=None,
              help="Reject longer lines, by number (default: LEDGER_INGEST_MAX_LINE_BYTES, 4 MiB).")
@click.pass_obj
def ingest(settings: Settings, file: Any, tenant: str | None, any_tenant: bool, fmt: str,
           max_line_bytes: int | None) -> None:
    """Ingest JSON Lines envelopes from FILE ('-' for standard input)."""
    limit = max_line_bytes or settings.ingest_max_line_bytes
    enforce = tenant is not None and not any_tenant
    wiring = bootstrap(settings)
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    rejections: list[dict[str, Any]] = []
    batch: list[tuple[int, bytes]] = []  # bytes: a line that is not UTF-8 is that line's rejection

    def flush() -> None:
        outcomes = wiring.ledger.ingest([text for _, text in batch], tenant or settings.tenant,
                                        enforce_tenant=enforce)
        for (line, _), outcome in zip(batch, outcomes, strict=True):
            counts[outcome.status] += 1
            if outcome.status == "rejected":
                rejections.append({"line": line, **outcome.as_dict()})
        batch.clear()

    for number, text in read_lines(file, limit):
        if text is None:
            counts["rejected"] += 1
            rejections.append({"line": number, "id": None, "source": None, "status": "rejected",
                               "code": "invalid_event", "message": f"the line is longer than "
                               f"{limit} bytes (--max-line-bytes, LEDGER_INGEST_MAX_LINE_BYTES)"})
        elif text.strip():
            batch.append((number, text))
        if len(batch) >= BATCH:
            flush()
            log.info("ingest.progress", lines=number, **counts)
    if batch:
        flush()
    wiring.close()
    rejections.sort(key=lambda r: r["line"])
    if fmt == "json":
        emit_json({**counts, "rejections": rejections})
    else:
        echo(f"accepted {counts['accepted']}, duplicate {counts['duplicate']}, "
                   f"rejected {counts['rejected']}")
        for r in rejections:
            who = f" {r['id']} ({r['source']})" if r["id"] is not None else ""
            echo(f"line {r['line']}:{who} rejected: {r['code']}: {r['message']}")
    if rejections:
        sys.exit(1)


@click.group()
def catalog() -> None:
    """Publish the catalog versions that give plans their meaning, directly or through the
    release workflow (draft, preview, approve, publish: see docs/governance.md)."""


def read_catalog(file: Path) -> Any:
    """A catalog file's data, JSON or TOML; a file that is neither is a one-line failure."""
    try:
        text = file.read_text(encoding="utf-8")
        return _from_toml(tomllib.loads(text)) if file.suffix == ".toml" else json.loads(text)
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


def _from_toml(data: Any) -> Any:
    """TOML has no null: `limit = "unlimited"` stands for JSON's `"limit": null`."""
    if isinstance(data, dict):
        return {k: None if k == "limit" and v == "unlimited" else _from_toml(v) for k, v in data.items()}
    return data


@click.command()
@click.option("--as-of", type=TIME, required=True,
              help=f"The business moment asked about; {TimeParam.help}.")
@click.option("--known-at", type=TIME, default=None,
              help=f"Only what was recorded by then (default now); {TimeParam.help}.")
@click.option("--customer", default=None, help="The licenses of this customer id.")
@click.option("--license", "license_id", default=None, help="This one license id.")
@click.option("--all", "everything", is_flag=True, help="Every license of the tenant.")
@tenant_option
@FORMAT
@click.pass_obj
def replay(settings: Settings, as_of: datetime, known_at: datetime | None, customer: str | None,
           license_id: str | None, everything: bool, tenant: str | None, fmt: str) -> None:
    """State of licenses at --as-of, as known at --known-at."""
    if sum(x is not None and x is not False for x in (customer, license_id, everything or None)) != 1:
        raise click.UsageError("give exactly one of --customer, --license or --all")
    known = known_at or datetime.now(UTC)
    require_store(settings)
    wiring = bootstrap(settings)
    states = wiring.ledger.replay(
        tenant or settings.tenant, as_of, known, customer_id=customer, license_id=license_id,
        progress=lambda done, total: log.info("replay.progress", licenses=done, of=total))
    wiring.close()
    if fmt == "json":
        emit_json({"as_of": format_time(as_of), "known_at": format_time(known), "licenses": states})
        return
    click.echo(f"as of {format_time(as_of)}, as known at {format_time(known)}")
    table([(s["license_id"], s["customer_id"], s["plan"], s["status"],
            f"{len(s['seats_assigned'])}/{s['seats']}", s["ends_at"],
            ",".join(k for k, v in s["features"].items() if v["enabled"]) or "-") for s in states],
          ["license", "customer", "plan", "status", "seats", "ends_at", "features on"])


@click.command()
@click.argument("license_id")
@tenant_option
@FORMAT
@click.pass_obj
def history(settings: Settings, license_id: str, tenant: str | None, fmt: str) -> None:
    """Every accepted event of a license, in effective order, applied or superseded."""
    require_store(settings)
    wiring = bootstrap(settings)
    events = wiring.ledger.history(tenant or settings.tenant, license_id)
    wiring.close()
    if not events:
        fail(f"unknown license {license_id!r} in tenant {tenant or settings.tenant!r}")
    if fmt == "json":
        emit_json({"license_id": license_id, "events": events})
        return
    table([(e["effective_at"], e["type"], e["status"], e["id"], e["source"], e["recorded_at"],
            e["position"]) for e in events],
          ["effective_at", "type", "status", "id", "source", "recorded_at", "position"])


@click.command()
@tenant_option
@click.option("--head", "head", default=None, metavar="SEQUENCE:HASH",
              help="Fail if this earlier head is no longer in the tenant's chain.")
@click.pass_obj
def verify(settings: Settings, tenant: str | None, head: str | None) -> None:
    """Recompute the hash chains and Merkle trees, check every signed tree head; name the
    first altered, removed or reordered event."""
    expected = None
    if head is not None:
        sequence, _, digest = head.partition(":")
        if not sequence.isdigit() or len(digest) != 64:
            raise click.BadParameter("expected SEQUENCE:HASH as printed by 'ledger head'",
                                     param_hint="--head")
        expected = (int(sequence), digest)
        tenant = tenant or settings.tenant
    require_store(settings)
    wiring = bootstrap(settings)
    if expected is not None and expected[0] > 0 and tenant is not None \
            and wiring.store.head(tenant) is None:
        wiring.close()
        fail(f"tenant {tenant!r} has no events, so it has no head to check: give the --tenant "
             "whose head you noted (LEDGER_TENANT is the default)")
    verdict = verify_chains(wiring.store, tenant, expected,
                            progress=lambda n: log.info("verify.progress", events=n))
    if verdict.ok:  # the trees and signed heads of contract section 7 (ledger.cli.proofs)
        from ledger.cli.proofs import audit_logs

        problem = audit_logs(settings, wiring.store, tenant, list(verdict.tenants))
        if problem:
            wiring.close()
            fail(f"log broken: {problem}")
    wiring.close()
    if not verdict.ok:
        fail(f"chain broken: {verdict.problem}")
    chains = ", ".join(f"{t}: {n}" for t, n in sorted(verdict.tenants.items())) or "none"
    click.echo(f"ok: {verdict.checked} events verified ({chains})")


@click.command()
@tenant_option
@click.pass_obj
def head(settings: Settings, tenant: str | None) -> None:
    """The head of the tenant's chain: {"sequence": n, "hash": h}."""
    require_store(settings)
    wiring = bootstrap(settings)
    found = wiring.store.head(tenant or settings.tenant)
    wiring.close()
    if found is None:
        say(f"tenant {tenant or settings.tenant!r} has no events yet (a typo in --tenant?)")
    emit_json(found.as_dict() if found else {"sequence": 0, "hash": GENESIS})


@click.group()
def schemas() -> None:
    """JSON Schema of the envelope, every event's data and the catalog."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write the JSON Schemas to DIRECTORY."""
    from schemas.export import documents

    for name, document in documents().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        say(f"wrote {path}")


COMMANDS = [ingest, catalog, replay, history, verify, head, schemas]
