"""What a newcomer meets in the first hour, driven as they would: no command misleads."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.builders import CATALOG, envelope
from tests.e2e.cli import LEDGER, run, run_json

UNREACHABLE_POSTGRES = {"LEDGER_DATABASE_URL": "postgresql://ledger:x@127.0.0.1:1/ledger"}


def write_events(directory: Path, *envelopes: dict) -> Path:
    path = directory / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in envelopes), encoding="utf-8")
    return path


def published(directory: Path, tenant: str) -> None:
    (directory / "catalog.json").write_text(json.dumps(CATALOG), encoding="utf-8")
    run(directory, "catalog", "publish", "catalog.json", "--tenant", tenant,
        "--effective-at", "2026-01-01T00:00:00Z")


def test_ingest_for_one_tenant_refuses_an_envelope_of_another_as_http_does(tmp_path: Path) -> None:
    published(tmp_path, "other")
    write_events(tmp_path, envelope("license.granted", "2026-03-01", "lic-1", tenant="other",
                                    customer_id="c", plan="pro"))
    result = run(tmp_path, "ingest", "events.jsonl", "--tenant", "acme", "--format", "json", check=False)
    assert result.returncode == 1
    [rejection] = json.loads(result.stdout)["rejections"]
    assert rejection["code"] == "tenant_mismatch"
    assert json.loads(run(tmp_path, "head", "--tenant", "other").stdout)["sequence"] == 1  # the catalog only

    allowed = run_json(tmp_path, "ingest", "events.jsonl", "--tenant", "acme", "--any-tenant")
    assert allowed["accepted"] == 1
    assert json.loads(run(tmp_path, "head", "--tenant", "other").stdout)["sequence"] == 2


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_ingest_for_the_tenant_of_ledger_tenant_refuses_another_as_with_the_flag(
        tmp_path: Path, where: str) -> None:
    """LEDGER_TENANT is the same setting as --tenant (flags override the environment); with
    neither, each envelope names its own tenant."""
    published(tmp_path, "other")
    write_events(tmp_path, envelope("license.granted", "2026-03-01", "lic-1", tenant="other",
                                    customer_id="c", plan="pro"))
    env = {"LEDGER_TENANT": "acme"} if where == "environment" else {}
    if where == ".env":
        (tmp_path / ".env").write_text("LEDGER_TENANT=acme\n", encoding="utf-8")
    result = run(tmp_path, "ingest", "events.jsonl", "--format", "json", env=env, check=False)
    assert result.returncode == 1
    assert [r["code"] for r in json.loads(result.stdout)["rejections"]] == ["tenant_mismatch"]
    assert json.loads(run(tmp_path, "head", "--tenant", "other").stdout)["sequence"] == 1

    (tmp_path / ".env").unlink(missing_ok=True)
    assert run_json(tmp_path, "ingest", "events.jsonl")["accepted"] == 1  # no caller's tenant
    assert json.loads(run(tmp_path, "head", "--tenant", "other").stdout)["sequence"] == 2


@pytest.mark.parametrize("command", [
    ["verify"], ["head", "--tenant", "acme"], ["history", "lic-1"], ["license-file", "cust-1"],
    ["replay", "--as-of", "2026-03-01T00:00:00Z", "--all"], ["status"],
])
def test_a_reading_command_on_a_mistyped_store_path_fails_naming_it_and_creates_nothing(
        tmp_path: Path, command: list[str]) -> None:
    result = run(tmp_path, *command, env={"LEDGER_DATABASE_URL": "sqlite:///data/ledgr.db"}, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert "no event store at" in result.stderr and "data/ledgr.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_verify_with_a_head_for_a_tenant_without_events_says_so_instead_of_a_tamper_alarm(
        tmp_path: Path) -> None:
    published(tmp_path, "acme")
    noted = json.loads(run(tmp_path, "head", "--tenant", "acme").stdout)
    result = run(tmp_path, "verify", "--head", f"{noted['sequence']}:{noted['hash']}", check=False)
    assert result.returncode == 1
    assert "tenant 'default' has no events" in result.stderr and "broken" not in result.stderr
    assert run(tmp_path, "verify", "--tenant", "acme", "--head",
               f"{noted['sequence']}:{noted['hash']}").returncode == 0


def test_license_file_keys_prints_the_published_keys_that_verify_an_issued_file(tmp_path: Path) -> None:
    assert "no license-file signing keys" in run(tmp_path, "license-file", "keys", check=False).stderr
    published(tmp_path, "acme")
    write_events(tmp_path, envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro"))
    run(tmp_path, "ingest", "events.jsonl", "--tenant", "acme")
    run(tmp_path, "license-file", "c-1", "--tenant", "acme", "--output", "c-1.json")
    keys = json.loads(run(tmp_path, "license-file", "keys").stdout)
    assert [set(k) for k in keys["keys"]] == [{"key_id", "algorithm", "public_key"}]
    (tmp_path / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    assert run(tmp_path, "license-file", "verify", "c-1.json", "--keys", "keys.json").returncode == 0


def test_the_database_url_may_follow_the_subcommand(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG), encoding="utf-8")
    run(tmp_path, "catalog", "publish", "catalog.json", "--tenant", "acme",
        "--database-url", "sqlite:///elsewhere.db")
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "ledger.db").exists()
    head = json.loads(run(tmp_path, "head", "--tenant", "acme", "--database-url", "sqlite:///elsewhere.db").stdout)
    assert head["sequence"] == 1


def test_an_unexpected_failure_is_one_line_in_words_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    quiet = run(tmp_path, "head", env=UNREACHABLE_POSTGRES, check=False)
    assert quiet.returncode == 1
    [line] = quiet.stderr.strip().splitlines()
    assert line.startswith("ledger: ") and "OperationalError" not in line and "Traceback" not in line
    assert "PostgreSQL is up" in line
    loud = run(tmp_path, "head", env={**UNREACHABLE_POSTGRES, "LEDGER_LOG_LEVEL": "debug"}, check=False)
    assert "Traceback (most recent call last)" in loud.stderr and loud.stderr.rstrip().endswith(line)


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    published(tmp_path, "acme")
    write_events(tmp_path, envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro"))
    run(tmp_path, "ingest", "events.jsonl", "--tenant", "acme")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    process = subprocess.Popen([LEDGER, "history", "lic-1", "--tenant", "acme", "--format", "json"],
                               cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written, as with `| head -0`
    stderr = process.stderr.read()
    assert process.wait(60) == 1
    assert "Traceback" not in stderr and "Broken pipe" not in stderr and "BrokenPipe" not in stderr


def test_a_misspelt_setting_in_the_environment_or_dotenv_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LEDGER_TENNANT=acme\n", encoding="utf-8")
    result = run(tmp_path, "verify", env={"LEDGER_DATABSE_URL": "sqlite:///x.db"}, check=False)
    assert "LEDGER_DATABSE_URL in the environment is not a ledger setting" in result.stderr
    assert "did you mean LEDGER_DATABASE_URL?" in result.stderr
    assert "LEDGER_TENNANT in .env is not a ledger setting" in result.stderr
    assert "did you mean LEDGER_TENANT?" in result.stderr


def test_a_bad_setting_names_the_variable_and_the_rule_without_python_names(tmp_path: Path) -> None:
    result = run(tmp_path, "head", env={"LEDGER_LICENSE_FILE_DAYS": "0"}, check=False)
    assert result.returncode == 2
    assert "LEDGER_LICENSE_FILE_DAYS: Input should be greater than or equal to 1 (got '0')" in result.stderr
    assert "Settings" not in result.stderr and "pydantic" not in result.stderr


@pytest.mark.parametrize(("tenant", "rule"), [
    ("", "1 to 200 characters (this one has 0)"), ("a\tb", "without control characters"),
    ("t" * 201, "1 to 200 characters (this one has 201)")])
@pytest.mark.parametrize("command", [["apikey", "create", "--role", "admin"], ["ingest", "-"],
                                     ["head"]])
def test_a_tenant_no_envelope_could_name_is_refused_naming_the_rule(
        tmp_path: Path, tenant: str, rule: str, command: list[str]) -> None:
    """A key's tenant, `--tenant` and LEDGER_TENANT name a tenant as `tenantid` does: envelopes
    without one were recorded under a tenant with a tab in its name, and `--tenant ""` meant
    the default tenant."""
    by_flag = run(tmp_path, *command, "--tenant", tenant, stdin="", check=False)
    assert by_flag.returncode == 2 and "--tenant" in by_flag.stderr and rule in by_flag.stderr
    by_setting = run(tmp_path, *command, env={"LEDGER_TENANT": tenant}, stdin="", check=False)
    assert by_setting.returncode == 2, by_setting.stderr
    assert "LEDGER_TENANT" in by_setting.stderr and rule in by_setting.stderr
    assert list(tmp_path.iterdir()) == []  # no store, no key table


def test_a_key_of_a_tenant_no_envelope_could_name_cannot_be_made(tmp_path: Path) -> None:
    from ledger.api import ApiKeyError, ApiKeys

    keys = ApiKeys.open(f"sqlite:///{tmp_path / 'keys.db'}")
    try:
        with pytest.raises(ApiKeyError, match="without control characters"):
            keys.create("acme\n", "admin")
    finally:
        keys.close()
