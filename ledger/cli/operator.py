"""Commands for operators: `ledger license-file keys` (the public keys offline, as
`GET /v1/license-files/keys` publishes them) and `ledger status` (the whole system at a glance)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from ledger.cli.guards import require_store
from ledger.cli.output import emit_json, fail
from ledger.settings import Settings


@click.command("keys")
@click.pass_obj
def license_file_keys(settings: Settings) -> None:
    """Print the public keys license files are signed with: the same JSON document as
    GET /v1/license-files/keys, for products that verify offline (`--keys FILE` of verify)."""
    from ledger.cli.licensefiles import keyring_for

    if not settings.signing_key and not (settings.data_dir / "license-keys.json").is_file():
        fail(f"no license-file signing keys in {settings.data_dir.resolve()} (LEDGER_DATA_DIR): "
             "run this where 'ledger up' or 'ledger serve' keeps its data, or set LEDGER_SIGNING_KEY")
    emit_json({"keys": keyring_for(settings).public_keys()})


@click.command()
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
              show_default=True, help="json: one JSON document on standard output, for machines.")
@click.pass_obj
def status(settings: Settings, fmt: str) -> None:
    """The whole system at a glance: the ledger's head per tenant, the relay's position, each
    consumer group's lag, the read models' position, and the last error and rejection."""
    from ledger.bootstrap import bootstrap
    from projections.readmodel import ReadModels

    require_store(settings)
    wiring = bootstrap(settings)
    models = ReadModels.open(settings.read_url)
    try:
        report = system_status(settings, wiring.store, models)
    finally:
        models.close()
        wiring.close()
    if fmt == "json":
        emit_json(report)
    else:
        for line in _lines(report):
            click.echo(line)


def system_status(settings: Settings, store: Any, models: Any) -> dict[str, Any]:
    """What `ledger status` reports; Kafka's parts only when LEDGER_KAFKA_BOOTSTRAP is set."""
    from ledger.api.health import LAG_PROBE, STALE_AFTER

    position = store.max_position()
    newest = models.newest_applied()
    pending = store.facts_after(newest, LAG_PROBE)
    tenants = sorted(set(models.tenants()) | {f.tenant for f in pending})
    report: dict[str, Any] = {
        "mode": "kafka" if settings.kafka_bootstrap else "embedded",
        "ledger": {"position": position,
                   "tenants": {t: h.as_dict() for t in tenants if (h := store.head(t)) is not None}},
        "read_models": {"position": newest, "behind": len(pending),
                        "behind_at_least": len(pending) == LAG_PROBE},
        "last_error": None,
    }
    if pending and datetime.now(UTC) - pending[0].recorded_at > STALE_AFTER:
        worker = "ledger project" if settings.kafka_bootstrap else "ledger up / ledger serve"
        report["last_error"] = (f"{len(pending)} ledger events are not in the read models, the oldest "
                                f"recorded {pending[0].recorded_at:%Y-%m-%dT%H:%M:%SZ}: is {worker} running?")
    if settings.kafka_bootstrap:
        report.update(_kafka_status(settings, store))
    return report


def _kafka_status(settings: Settings, store: Any) -> dict[str, Any]:
    from consumers.lag import group_lag, newest_record
    from consumers.relay import Relay
    from ledger.api.health import LAG_PROBE

    assert settings.kafka_bootstrap is not None
    relayed = Relay(store, None, settings.outbound_topic).position()
    rejected = newest_record(settings.kafka_bootstrap, settings.rejected_topic)
    last = None
    if rejected is not None:
        body = json.loads(rejected.value)
        last = {k: body.get(k) for k in ("code", "message", "id", "source", "topic", "partition", "offset")}
        last["at"] = datetime.fromtimestamp(rejected.timestamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "relay": {"topic": settings.outbound_topic, "position": relayed,
                  "behind": len(store.facts_after(relayed, LAG_PROBE))},
        "consumer_groups": group_lag(settings.kafka_bootstrap, {
            settings.consumer_group: settings.inbound_topic,
            settings.projection_group: settings.outbound_topic}),
        "last_rejection": last,
    }


def _lines(report: dict[str, Any]) -> list[str]:
    ledger, models = report["ledger"], report["read_models"]
    lines = [f"mode           {report['mode']}", f"ledger         position {ledger['position']}"]
    lines += [f"  tenant {t:<12} head {h['sequence']}:{h['hash'][:16]}…"
              for t, h in ledger["tenants"].items()]
    if "relay" in report:
        relay = report["relay"]
        lines.append(f"relay          position {relay['position']} on {relay['topic']} "
                     f"({relay['behind']} behind the ledger)")
        for group, lag in report["consumer_groups"].items():
            lines.append(f"group {group:<16} lag {lag['lag']} on {lag['topic']}")
    more = "+" if models["behind_at_least"] else ""
    lines.append(f"read models    position {models['position']} ({models['behind']}{more} ledger events "
                 "not projected yet)")
    lines.append(f"last error     {report['last_error'] or '-'}")
    if report.get("last_rejection"):
        r = report["last_rejection"]
        lines.append(f"last rejection {r['at']} {r['id']} ({r['source']}): {r['code']}: {r['message']}")
    return lines


COMMANDS = [status]
