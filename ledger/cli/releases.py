"""`ledger catalog draft|list|show|diff|preview|approve|reject|withdraw` and `ledger policy`:
the release workflow for operators with database access. Their steps are recorded under
`--actor` (default: the OS user); `catalog publish VERSION` is in `catalogs.py`, beside FILE."""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ledger.bootstrap import bootstrap
from ledger.cli.catalogs import catalog, read_catalog
from ledger.cli.options import FORMAT, TIME, TimeParam, tenant_option
from ledger.cli.output import echo, emit_json, fail, table
from ledger.governance.releases import ReleaseError, Releases
from ledger.settings import Settings

ACTOR = click.option("--actor", default=None,
                     help="Who takes the step, as recorded (default: the OS user).")
REASON = click.option("--reason", default=None, help="Why, as recorded.")
REQUIRED_REASON = click.option("--reason", required=True, help="Why, as recorded.")
VERSION = click.argument("version")


def _actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise click.UsageError("no OS user name is known here; give --actor NAME") from None


def _run(settings: Settings, take: Any) -> Any:
    wiring = bootstrap(settings)
    try:
        return take(Releases(wiring.ledger))
    except ReleaseError as exc:
        fail(f"{exc.code}: {exc.message}")
    finally:
        wiring.close()


def _print_release(found: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        emit_json(found)
        return
    echo(f"catalog {found['version']}: {found['status']}, drafted by {found['author']}, "
         f"effective {found['effective_at']}, approvals {len(found['approvals'])}/"
         f"{found['approvals_required']}, digest {found['digest']}")
    table([(s["at"], s["type"], s["actor"], s["reason"]) for s in found["steps"]],
          ["at", "step", "actor", "reason"])


def publish_release(settings: Settings, version: str, tenant: str | None, actor: str | None,
                    reason: str | None, effective_at: datetime | None) -> None:
    """`ledger catalog publish VERSION`: the approved draft, at the time it was approved for."""
    if effective_at is not None:
        raise click.UsageError("--effective-at is for a FILE; an approved VERSION takes effect "
                               "at the time it was drafted and approved for")
    who = _actor(actor)
    found = _run(settings, lambda r: _published(r, tenant or settings.tenant, version, who, reason))
    echo(f"catalog {version} published for tenant {tenant or settings.tenant} by {who}, "
         f"in force from {found['effective_at']}")


def _published(releases: Releases, tenant: str, version: str, actor: str,
               reason: str | None) -> dict[str, Any]:
    try:
        return releases.publish(tenant, version, actor, reason)
    except ReleaseError as exc:
        if exc.code == "unknown_release":
            raise ReleaseError(exc.code, f"{version!r} is neither a file nor a drafted catalog "
                               "version; see 'ledger catalog list'") from None
        raise


@catalog.command("draft")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--effective-at", type=TIME, required=True,
              help=f"When it is to take effect; {TimeParam.help}.")
@tenant_option
@ACTOR
@REASON
@FORMAT
@click.pass_obj
def draft(settings: Settings, file: Path, effective_at: datetime, tenant: str | None,
          actor: str | None, reason: str | None, fmt: str) -> None:
    """Propose catalog FILE to take effect at --effective-at; another person must approve it."""
    data = read_catalog(file)
    who = _actor(actor)
    _print_release(_run(settings, lambda r: r.draft(tenant or settings.tenant, who, data,
                                                    effective_at, reason)), fmt)


@catalog.command("list")
@tenant_option
@FORMAT
@click.pass_obj
def list_releases(settings: Settings, tenant: str | None, fmt: str) -> None:
    """Every drafted version and where it stands."""
    found = _run(settings, lambda r: r.all(tenant or settings.tenant))
    if fmt == "json":
        emit_json({"releases": found})
        return
    table([(r["version"], r["status"], r["author"], r["effective_at"],
            f"{len(r['approvals'])}/{r['approvals_required']}", ",".join(r["approvals"]) or "-")
           for r in found], ["version", "status", "author", "effective_at", "approvals", "approved by"])


@catalog.command("show")
@VERSION
@tenant_option
@FORMAT
@click.pass_obj
def show(settings: Settings, version: str, tenant: str | None, fmt: str) -> None:
    """One release: status, digest and every step with who, when and why."""
    _print_release(_run(settings, lambda r: r.show(tenant or settings.tenant, version)), fmt)


@catalog.command("diff")
@VERSION
@tenant_option
@FORMAT
@click.pass_obj
def diff(settings: Settings, version: str, tenant: str | None, fmt: str) -> None:
    """The draft against the catalog that will be in force at its effective time."""
    found = _run(settings, lambda r: r.diff(tenant or settings.tenant, version))
    if fmt == "json":
        emit_json(found)
        return
    echo(f"catalog {version} against {found['against'] or 'no catalog'} at {found['effective_at']}")
    table([(c["change"], c["plan"], c.get("feature"), c.get("field"), c.get("before"),
            c.get("after")) for c in found["changes"]],
          ["change", "plan", "feature", "field", "before", "after"])


@catalog.command("preview")
@VERSION
@click.option("--first", type=click.IntRange(0, 100_000), default=20, show_default=True,
              help="How many changed licenses to list.")
@tenant_option
@FORMAT
@click.pass_obj
def preview(settings: Settings, version: str, first: int, tenant: str | None, fmt: str) -> None:
    """Which licenses the draft would change at its effective time (nothing is written)."""
    found = _run(settings, lambda r: r.preview(tenant or settings.tenant, version, first))
    if fmt == "json":
        emit_json(found)
        return
    echo(f"catalog {version} at {found['effective_at']}: " +
         ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in found["counts"].items()))
    table([(i["license_id"], i["customer_id"], i["plan"], ",".join(i["features_lost"]) or "-",
            ",".join(i["features_gained"]) or "-",
            ",".join(f"{x['feature']} {x['before']}->{x['after']} (used {x['used']})"
                     for x in i["limits_lowered"]) or "-", "yes" if i["plan_removed"] else "-")
           for i in found["licenses"]],
          ["license", "customer", "plan", "lost", "gained", "limits lowered", "plan removed"])


@catalog.command("approve")
@VERSION
@click.option("--digest", default=None,
              help="The digest of the draft reviewed (default: the current draft's).")
@tenant_option
@ACTOR
@REASON
@FORMAT
@click.pass_obj
def approve(settings: Settings, version: str, digest: str | None, tenant: str | None,
            actor: str | None, reason: str | None, fmt: str) -> None:
    """Approve a draft someone else wrote."""
    who = _actor(actor)
    _print_release(_run(settings, lambda r: r.approve(tenant or settings.tenant, version, who,
                                                      digest, reason)), fmt)


def _closing(step: str, doc: str) -> None:
    """`catalog reject` and `catalog withdraw`: a step that closes a release, with its reason."""

    @catalog.command(step, help=doc)
    @VERSION
    @tenant_option
    @ACTOR
    @REQUIRED_REASON
    @FORMAT
    @click.pass_obj
    def close(settings: Settings, version: str, tenant: str | None, actor: str | None,
              reason: str, fmt: str) -> None:
        who = _actor(actor)
        _print_release(_run(settings, lambda r: getattr(r, step)(tenant or settings.tenant,
                                                                 version, who, reason)), fmt)


_closing("reject", "Reject a draft: it can never be published (a new draft may follow).")
_closing("withdraw", "Withdraw a draft or an approved version, or a published one before its "
         "effective time (it then never takes effect).")


@click.command("policy")
@click.option("--approval-required/--no-approval-required", default=None,
              help="Refuse unapproved catalog changes (direct publish, billing's catalog.published).")
@click.option("--approvals", "approvals_required", type=click.IntRange(1, 20), default=None,
              help="How many people other than the author must approve a draft.")
@click.option("--failed-payment-days", type=click.IntRange(0, 3650), default=None,
              help="Reconciliation: days after a failed payment by which a suspension is expected.")
@click.option("--api-key-unused-days", type=click.IntRange(1, 3650), default=None,
              help="Compliance: an API key unused this long is a finding.")
@click.option("--signing-key-max-age-days", type=click.IntRange(1, 36500), default=None,
              help="Compliance: a signing key older than this is a finding.")
@tenant_option
@ACTOR
@REASON
@click.pass_obj
def policy(settings: Settings, tenant: str | None, actor: str | None, reason: str | None,
           **changes: Any) -> None:
    """Show the tenant's governance policy, or change the settings given (recorded in the ledger)."""
    if all(v is None for v in changes.values()):
        emit_json(_run(settings, lambda r: r.policy(tenant or settings.tenant).as_dict()))
        return
    who = _actor(actor)
    emit_json(_run(settings, lambda r: r.configure(tenant or settings.tenant, who, reason,
                                                   **changes).as_dict()))


COMMANDS = [catalog, policy]
