"""Commands of the verifiable log (contract section 7): `tree-head`, `proof inclusion`,
`proof consistency`, and `proof verify`, which needs nothing but the files and a public key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ledger.bootstrap import bootstrap
from ledger.cli.licensefiles import _trusted_keys, keyring_for
from ledger.cli.options import FORMAT, tenant_option
from ledger.cli.output import echo, emit_json, fail
from ledger.licensefile.proofs import ProofError, verify_proof
from ledger.proofs import NoSuchEventError, ProofRequestError, VerifiableLog
from ledger.settings import Settings
from ledger.store.eventstore import LedgerStore

POSITIVE = click.IntRange(min=1)


def _answer(settings: Settings, fmt: str, compute: Callable[[VerifiableLog], dict[str, Any]]) -> None:
    wiring = bootstrap(settings)
    try:
        document = compute(VerifiableLog(wiring.store, keyring_for(settings)))
    except (ProofRequestError, NoSuchEventError) as exc:
        fail(str(exc))
    finally:
        wiring.close()
    if fmt == "json":
        emit_json(document)
        return
    flat = document.get("tree_head", {}) | {k: v for k, v in document.items() if k != "tree_head"}
    for name, value in flat.items():
        if isinstance(value, list):
            echo(f"{name}:")
            for item in value:
                echo(f"  {item}")
        else:
            echo(f"{name}: {value}")


@click.command("tree-head")
@tenant_option
@click.option("--tree-size", type=POSITIVE, default=None, help="A past size (default: the current one).")
@FORMAT
@click.pass_obj
def tree_head(settings: Settings, tenant: str | None, tree_size: int | None, fmt: str) -> None:
    """The tenant's signed tree head: its log's size and root, signed with the license key."""
    _answer(settings, fmt, lambda log: log.tree_head(tenant or settings.tenant, tree_size))


@click.group()
def proof() -> None:
    """Inclusion and consistency proofs of the tenant's log, and their offline verifier."""


@proof.command("inclusion")
@tenant_option
@click.option("--sequence", type=POSITIVE, default=None, help="The event's sequence.")
@click.option("--event", default=None, metavar="SOURCE:ID", help="The event's source and id.")
@click.option("--tree-size", type=POSITIVE, default=None, help="Default: the current size.")
@FORMAT
@click.pass_obj
def inclusion(settings: Settings, tenant: str | None, sequence: int | None, event: str | None,
              tree_size: int | None, fmt: str) -> None:
    """That an event is leaf sequence - 1 of the tenant's tree."""
    if (sequence is None) == (event is None):
        raise click.UsageError("give exactly one of --sequence or --event SOURCE:ID")
    chosen = tenant or settings.tenant
    if event is not None and ":" not in event.strip(":"):
        raise click.BadParameter("expected SOURCE:ID", param_hint="--event")

    def compute(log: VerifiableLog) -> dict[str, Any]:
        found = sequence if sequence is not None else _event_sequence(log, chosen, event or "")
        return log.inclusion(chosen, found, tree_size)

    _answer(settings, fmt, compute)


def _event_sequence(log: VerifiableLog, tenant: str, event: str) -> int:
    """Sources and ids may both hold ":" (`ledger catalog publish` ids do): every split is
    tried, and exactly one must name an accepted event."""
    found = {log.store.sequence_of(tenant, event[:i], event[i + 1:])
             for i, c in enumerate(event) if c == ":" and 0 < i < len(event) - 1} - {None}
    if len(found) > 1:
        fail(f"--event {event!r} names several events; give --sequence (see `ledger history`)")
    if not found:
        raise NoSuchEventError(f"no accepted event {event!r} (SOURCE:ID) in tenant {tenant!r}")
    return int(found.pop())  # type: ignore[arg-type]


@proof.command("consistency")
@tenant_option
@click.option("--from", "first", type=POSITIVE, required=True, help="The earlier tree size.")
@click.option("--to", "second", type=POSITIVE, default=None, help="Default: the current size.")
@FORMAT
@click.pass_obj
def consistency(settings: Settings, tenant: str | None, first: int, second: int | None, fmt: str) -> None:
    """That the tree of size --from is a prefix of the tree of size --to."""
    _answer(settings, fmt, lambda log: log.consistency(tenant or settings.tenant, first, second))


@proof.command("verify")
@click.argument("file", type=click.File("rb"))
@click.option("--public-key", "public_keys", multiple=True, metavar="[KEY_ID:]BASE64",
              help="The vendor's Ed25519 public key, base64 (repeatable, each KEY_ID:BASE64).")
@click.option("--keys", "keys_file", type=click.File("r"), default=None,
              help="The JSON of GET /v1/license-files/keys instead of --public-key.")
@click.option("--tree-head", "heads", type=click.File("rb"), multiple=True, required=True,
              help="A signed tree head file; a consistency proof needs the heads of both sizes.")
def verify(file: Any, public_keys: tuple[str, ...], keys_file: Any, heads: tuple[Any, ...]) -> None:
    """Verify a proof FILE offline against signed tree heads: exit 0, or the reason
    (bad_signature, unknown_key, bad_proof, root_mismatch) and a non-zero exit."""
    trusted = _trusted_keys(public_keys, keys_file)
    try:
        checked = verify_proof(file.read(), [h.read() for h in heads], trusted)
    except ProofError as exc:
        fail(f"{exc.reason}: {exc}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None
    if "audit_path" in checked:
        echo(f"ok: event sequence {checked['sequence']} (hash {checked['event_hash']}) is in "
             f"tenant {checked['tenant']!r}'s log of size {checked['tree_size']}")
    else:
        echo(f"ok: tenant {checked['tenant']!r}'s log of size {checked['first']} is a prefix of "
             f"its log of size {checked['second']}")


def audit_logs(settings: Settings, store: LedgerStore, tenant: str | None,
               chained: list[str]) -> str | None:
    """For `ledger verify`: recompute the tree of `tenant` (or of every tenant with a chain or
    a signed head) from its verified chain, and check every tree head ever signed, by
    signature and root; the first problem, or None."""
    keyring = None
    if settings.signing_key or (settings.data_dir / "license-keys.json").exists():
        keyring = keyring_for(settings)
    log = VerifiableLog(store, keyring)
    every = [tenant] if tenant is not None else sorted(set(chained) | set(log.tables.tenants()))
    if keyring is None and any(log.tables.heads(t) for t in every):
        return ("signed tree heads were issued, but no signing key is configured to check them "
                "(LEDGER_SIGNING_KEY or LEDGER_DATA_DIR)")
    for tenant in every:
        problem = log.audit(tenant)
        if problem:
            return problem
    return None


COMMANDS = [tree_head, proof]
