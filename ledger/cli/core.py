"""Commands of the ledger core: ingest, replay, history, verify, head, schemas (`catalog publish`
is in `catalogs.py`, the shared options in `options.py`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import structlog

from ledger.bootstrap import bootstrap
from ledger.cli.guards import require_store
from ledger.cli.lines import read_lines
from ledger.cli.options import FORMAT, TIME, TimeParam, tenant_option
from ledger.cli.output import echo, emit_json, fail, say, table
from ledger.contention import waiting_out
from ledger.domain.chain import GENESIS
from ledger.integrity import verify as verify_chains
from ledger.settings import Settings
from ledger.store.eventstore import ConcurrentAppendError
from schemas.times import format_time

log = structlog.get_logger()
BATCH = 500
BUSY_ATTEMPTS = 6  # a lock that stays taken through 6 timeouts (a minute on PostgreSQL): give up
BUSY_BACKOFF = 0.5  # seconds, times the attempt
EXIT_BUSY = 75  # sysexits' EX_TEMPFAIL: nothing wrong with the input, try again later


@click.command()
@click.argument("file", type=click.File("rb"))
@tenant_option
@click.option("--any-tenant", is_flag=True,
              help="With --tenant (or LEDGER_TENANT set): also record envelopes whose tenantid "
                   "names another tenant, each in its own (operators loading a multi-tenant "
                   "file). Without it, those are rejected as tenant_mismatch, as over HTTP.")
@FORMAT
@click.option("--max-line-bytes", type=click.IntRange(min=1), default=None,
              help="Reject longer lines, by number (default: LEDGER_INGEST_MAX_LINE_BYTES, 4 MiB).")
@click.pass_obj
def ingest(settings: Settings, file: Any, tenant: str | None, any_tenant: bool, fmt: str,
           max_line_bytes: int | None) -> None:
    """Ingest JSON Lines envelopes from FILE ('-' for standard input)."""
    limit = max_line_bytes or settings.ingest_max_line_bytes
    # The caller's tenant, by the flag or by LEDGER_TENANT (the environment or .env), is held
    # to as over HTTP; with neither, each envelope names its own (the default 'default' else).
    enforce = (tenant is not None or "tenant" in settings.model_fields_set) and not any_tenant
    wiring = bootstrap(settings)
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    rejections: list[dict[str, Any]] = []
    batch: list[tuple[int, bytes]] = []  # bytes: a line that is not UTF-8 is that line's rejection

    def flush() -> None:
        first, last = batch[0][0], batch[-1][0]

        def busy(attempt: int, exc: Exception) -> None:
            log.warning("ingest.busy", lines=[first, last], attempt=attempt, reason=str(exc),
                        next_step="waiting for the tenant's write lock, then sending these lines again")

        try:
            outcomes = waiting_out(lambda: wiring.ledger.ingest(
                [text for _, text in batch], tenant or settings.tenant, enforce_tenant=enforce),
                busy, backoff=BUSY_BACKOFF, attempts=BUSY_ATTEMPTS)
        except ConcurrentAppendError as exc:
            wiring.close()
            fail(f"the ledger stayed busy for lines {first}-{last} ({str(exc).splitlines()[0]}); "
                 f"nothing of them was recorded and no later line was read, the lines before "
                 f"were (accepted {counts['accepted']}, duplicate {counts['duplicate']}, rejected "
                 f"{counts['rejected']}). Run the same command again: what was recorded comes "
                 "back as duplicates", code=EXIT_BUSY)
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
        digest = digest.lower()  # hex, in whatever case it was copied
        if not sequence.isdigit() or len(digest) != 64 or digest.strip("0123456789abcdef"):
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


COMMANDS = [ingest, replay, history, verify, head, schemas]
