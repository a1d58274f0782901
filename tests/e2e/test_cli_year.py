"""A year of license events for a few customers, fed to the `ledger` command from files, with
late records, bad lines and redelivery; then an auditor's questions at many moments, and
tampering caught by `ledger verify`."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.times import format_time
from tests.builders import CATALOG, envelope
from tests.e2e.cli import run, run_json

SUMMER = {"version": "2026-07", "plans": {
    **CATALOG["plans"],
    "pro": {"tier": 2, "features": {"reports": {}, "sso": {}, "ai": {},
                                    "api_calls": {"limit": 100000, "period": "month"}}, "grace_days": 14}}}

FIRST_HALF = [
    envelope("license.granted", "2026-01-15", "lic-a", customer_id="cust-a", plan="basic", seats=3,
             ends_at="2027-01-15T00:00:00Z"),
    envelope("license.trial_started", "2026-02-01", "lic-b", customer_id="cust-b", plan="pro",
             ends_at="2026-02-15T00:00:00Z"),
    envelope("license.granted", "2026-02-01", "lic-d", customer_id="cust-d", plan="pro"),
    envelope("license.trial_converted", "2026-02-20", "lic-b", plan="basic"),
    envelope("license.upgraded", "2026-03-01", "lic-a", plan="pro"),
    envelope("seat.assigned", "2026-03-02", "lic-a", user_id="u1"),
    envelope("seat.assigned", "2026-03-02", "lic-a", user_id="u2"),
    envelope("usage.recorded", "2026-03-05", "lic-a", feature="api_calls", quantity=1200),
    envelope("usage.recorded", "2026-03-20", "lic-a", feature="api_calls", quantity=300),
    envelope("usage.recorded", "2026-04-02", "lic-a", feature="api_calls", quantity=50),
    envelope("license.granted", "2026-04-01", "lic-c", customer_id="cust-c", plan="enterprise",
             ends_at="2026-10-01T00:00:00Z", region="DE"),
    envelope("license.suspended", "2026-05-01", "lic-a", reason="payment_failed"),
    envelope("license.reinstated", "2026-05-10", "lic-a"),
    envelope("license.upgraded", "2026-06-01", "lic-d", plan="enterprise"),
    envelope("license.seats_changed", "2026-06-01", "lic-b", seats=5),
]
BAD = [
    envelope("license.downgraded", "2026-06-02", "lic-d", plan="enterprise"),
    {**envelope("license.suspended", "2026-06-03", "lic-c", reason="x"), "time": "2026-06-03T00:00:00"},
    envelope("license.revoked", "2026-06-03", "lic-zzz", reason="x"),
]
LATE = [
    envelope("license.revoked", "2026-05-01", "lic-d", reason="chargeback"),
    envelope("license.renewed", "2027-01-10", "lic-a", ends_at="2028-01-15T00:00:00Z"),
]


def lines(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps({**e, "tenantid": "acme"}) + "\n" for e in events)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("year")
    (cwd / "catalog.json").write_text(json.dumps(CATALOG))
    (cwd / "summer.toml").write_text(toml(SUMMER))
    run(cwd, "catalog", "publish", "catalog.json", "--tenant", "acme", "--effective-at", "2026-01-01T00:00:00Z")
    run(cwd, "catalog", "publish", "summer.toml", "--tenant", "acme", "--effective-at", "2026-07-01T00:00:00Z")
    (cwd / "first.jsonl").write_text(lines(FIRST_HALF + BAD))
    first = run(cwd, "ingest", "first.jsonl", check=False)
    time.sleep(0.05)
    believed_at = format_time(datetime.now(UTC))
    time.sleep(0.05)
    late = run(cwd, "ingest", "-", stdin=lines(LATE))
    again = run(cwd, "ingest", "first.jsonl", check=False)
    return {"cwd": cwd, "first": first, "late": late, "again": again, "believed_at": believed_at}


def toml(catalog: dict[str, Any]) -> str:
    out = [f'version = "{catalog["version"]}"']
    for name, plan in catalog["plans"].items():
        out.append(f"[plans.{name}]\ntier = {plan['tier']}\ngrace_days = {plan.get('grace_days', 0)}")
        for feature, spec in plan["features"].items():
            out.append(f"[plans.{name}.features.{feature}]")
            out += [f"{k} = {json.dumps(v)}" for k, v in spec.items() if v is not None]
    return "\n".join(out) + "\n"


def replay(year: dict[str, Any], as_of: str, known_at: str | None = None) -> dict[str, dict[str, Any]]:
    args = ["replay", "--as-of", as_of if "T" in as_of else f"{as_of}T00:00:00Z", "--all", "--tenant", "acme"]
    if known_at:
        args += ["--known-at", known_at]
    answer = run_json(year["cwd"], *args)
    return {s["license_id"]: s for s in answer["licenses"]}


def test_ingest_reports_counts_and_each_rejection_and_exits_non_zero(year: dict[str, Any]) -> None:
    first = year["first"]
    assert first.returncode == 1
    assert "accepted 15, duplicate 0, rejected 3" in first.stdout
    assert "not_a_downgrade" in first.stdout and "unknown_license" in first.stdout
    assert "field 'time'" in first.stdout and "zone" in first.stdout
    assert "accepted 2, duplicate 0, rejected 0" in year["late"].stdout


def test_delivering_the_same_file_again_is_all_duplicates(year: dict[str, Any]) -> None:
    assert "accepted 0, duplicate 15, rejected 3" in year["again"].stdout


@pytest.mark.parametrize(("as_of", "license_id", "status", "plan"), [
    ("2026-01-20", "lic-a", "active", "basic"),
    ("2026-02-10", "lic-b", "trial", "pro"),
    ("2026-02-17", "lic-b", "expired", "pro"),
    ("2026-02-21", "lic-b", "active", "basic"),
    ("2026-03-15", "lic-a", "active", "pro"),
    ("2026-05-05", "lic-a", "suspended", "pro"),
    ("2026-05-15", "lic-a", "active", "pro"),
    ("2026-06-15", "lic-d", "revoked", "pro"),
    ("2026-09-30T23:59:59Z", "lic-c", "active", "enterprise"),
    ("2026-10-01", "lic-c", "expired", "enterprise"),
    ("2027-01-20", "lic-a", "active", "pro"),
    ("2028-01-20", "lic-a", "grace", "pro"),
    ("2028-02-01", "lic-a", "expired", "pro"),
])
def test_replay_answers_status_and_plan_at_each_moment(year: dict[str, Any], as_of: str, license_id: str,
                                                       status: str, plan: str) -> None:
    state = replay(year, as_of)[license_id]
    assert (state["status"], state["plan"]) == (status, plan)


def test_a_license_is_listed_only_once_it_was_granted(year: dict[str, Any]) -> None:
    assert set(replay(year, "2026-01-20")) == {"lic-a"}
    assert set(replay(year, "2026-04-01")) == {"lic-a", "lic-b", "lic-c", "lic-d"}


def test_usage_is_counted_for_the_month_asked_about(year: dict[str, Any]) -> None:
    assert replay(year, "2026-03-31")["lic-a"]["features"]["api_calls"]["used"] == 1500
    assert replay(year, "2026-04-15")["lic-a"]["features"]["api_calls"]["used"] == 50


def test_the_catalog_in_force_at_the_moment_gives_the_features(year: dict[str, Any]) -> None:
    assert "ai" not in replay(year, "2026-06-30")["lic-a"]["features"]
    july = replay(year, "2026-07-02")["lic-a"]
    assert july["features"]["ai"] == {"enabled": True} and july["catalog_version"] == "2026-07"


def test_an_auditor_sees_what_was_believed_before_the_late_revocation(year: dict[str, Any]) -> None:
    believed = replay(year, "2026-06-15", year["believed_at"])["lic-d"]
    assert (believed["status"], believed["plan"]) == ("active", "enterprise")
    renewed_later = replay(year, "2027-01-20", year["believed_at"])["lic-a"]
    assert renewed_later["status"] == "grace"


def test_history_shows_the_upgrade_superseded_by_the_late_revocation(year: dict[str, Any]) -> None:
    answer = run_json(year["cwd"], "history", "lic-d", "--tenant", "acme")
    assert answer["license_id"] == "lic-d"
    assert [(e["type"], e["status"]) for e in answer["events"]] == [
        ("license.granted", "applied"), ("license.revoked", "applied"), ("license.upgraded", "superseded")]
    assert set(answer["events"][0]) >= {"id", "source", "type", "effective_at", "recorded_at", "position",
                                        "data", "status"}


def test_replay_of_one_customer_and_one_license(year: dict[str, Any]) -> None:
    by_customer = run_json(year["cwd"], "replay", "--as-of", "2026-03-15T00:00:00Z", "--customer", "cust-b",
                           "--tenant", "acme")
    assert [s["license_id"] for s in by_customer["licenses"]] == ["lic-b"]
    assert by_customer["as_of"] == "2026-03-15T00:00:00Z" and "known_at" in by_customer
    one = run_json(year["cwd"], "replay", "--as-of", "2026-04-15T00:00:00Z", "--license", "lic-c",
                   "--tenant", "acme")
    assert one["licenses"][0]["region"] == "DE"


def test_verify_passes_then_names_the_row_altered_in_the_database(tmp_path: Path, year: dict[str, Any]) -> None:
    cwd = year["cwd"]
    assert "ok: 19 events verified" in run(cwd, "verify").stdout
    head = run_json_plain(cwd, "head", "--tenant", "acme")
    copy = tmp_path / "ledger.db"
    copy.write_bytes((cwd / "ledger.db").read_bytes())
    with sqlite3.connect(copy) as db:
        rowid, state = db.execute("SELECT rowid, state FROM stored_events WHERE topic = "
                                  "'fact:license.seats_changed'").fetchone()
        record = json.loads(state)
        record["data"]["seats"] = 500
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (json.dumps(record).encode(), rowid))
    broken = run(tmp_path, "verify", check=False, env={"LEDGER_DATABASE_URL": f"sqlite:///{copy}"})
    assert broken.returncode != 0
    assert record["source_event_id"] in broken.stderr and "altered" in broken.stderr
    ok_head = run(cwd, "verify", "--tenant", "acme", "--head", f"{head['sequence']}:{head['hash']}")
    assert ok_head.returncode == 0


def run_json_plain(cwd: Path, *args: str) -> Any:
    return json.loads(run(cwd, *args).stdout)
