"""The `ledger` command at its edges: one-line reasons, bad bytes, repeated catalogs, TOML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.domain.chain import GENESIS
from tests.builders import CATALOG, envelope
from tests.e2e.cli import LEDGER, run, run_json


def test_a_usage_error_is_one_line_on_standard_error(tmp_path: Path) -> None:
    result = run(tmp_path, "replay", "--as-of", "2026-03-01T00:00:00", "--all", check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--as-of" in result.stderr and "zone" in result.stderr


def test_a_line_that_is_not_utf8_is_rejected_and_the_good_lines_are_applied(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z")
    good = json.dumps(envelope("license.granted", "2026-03-01", "lic-1", customer_id="c", plan="pro"))
    (tmp_path / "events.jsonl").write_bytes(good.encode() + b"\n\xff\xfe\n")
    result = run(tmp_path, "ingest", "events.jsonl", check=False)
    assert result.returncode == 1
    assert "accepted 1, duplicate 0, rejected 1" in result.stdout
    assert "line 2: rejected: invalid_event: not UTF-8" in result.stdout
    states = run_json(tmp_path, "replay", "--as-of", "2026-03-02T00:00:00Z", "--all")["licenses"]
    assert [s["license_id"] for s in states] == ["lic-1"]


def test_republishing_a_catalog_says_when_the_version_really_is_in_force(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z")
    again = run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2025-01-01T00:00:00Z")
    assert "already published" in again.stdout and "in force from 2026-01-01T00:00:00Z" in again.stdout
    assert "was not applied" in again.stdout


def test_a_catalog_that_means_the_same_with_defaults_spelled_out_is_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json")
    spelled = json.loads(json.dumps(CATALOG))
    spelled["plans"]["basic"]["features"]["api_calls"]["blocked_regions"] = []
    spelled["plans"]["basic"]["grace_days"] = 0
    (tmp_path / "spelled.json").write_text(json.dumps(spelled))
    assert "already published" in run(tmp_path, "catalog", "publish", "spelled.json").stdout


def test_a_toml_catalog_can_say_unlimited(tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_text(
        'version = "t1"\n[plans.pro]\ntier = 1\n[plans.pro.features.api_calls]\nlimit = "unlimited"\n')
    run(tmp_path, "catalog", "publish", "catalog.toml", "--effective-at", "2026-01-01T00:00:00Z")
    (tmp_path / "e.jsonl").write_text(json.dumps(
        envelope("license.granted", "2026-03-01", "lic-1", customer_id="c", plan="pro")) + "\n")
    run(tmp_path, "ingest", "e.jsonl")
    state = run_json(tmp_path, "replay", "--as-of", "2026-03-02T00:00:00Z", "--license", "lic-1")["licenses"][0]
    assert state["features"]["api_calls"] == {"enabled": True, "limit": None, "period": "month", "used": 0}


@pytest.mark.parametrize(("line", "key"), [
    ("version = 2026-01-01", "version"),
    ('version = "t1"\n[plans.pro]\ntier = 1\ngrace_days = 1979-05-27T07:32:00Z', "plans.pro.grace_days"),
    ('version = "t1"\n[plans.pro]\ntier = 1\n[plans.pro.features.sso]\nblocked_regions = [07:32:00]',
     "plans.pro.features.sso.blocked_regions[0]"),
])
def test_a_toml_date_or_time_in_a_catalog_is_refused_naming_its_key(
        tmp_path: Path, line: str, key: str) -> None:
    (tmp_path / "catalog.toml").write_text(line + "\n")
    result = run(tmp_path, "catalog", "publish", "catalog.toml", check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert f"catalog.toml: {key}: a TOML date or time" in result.stderr
    assert "in quotes" in result.stderr and "Traceback" not in result.stderr


def test_the_head_of_an_empty_tenant_verifies(tmp_path: Path) -> None:
    run(tmp_path, "ingest", "-", stdin="")  # a store, without events (reading never makes one)
    head = json.loads(run(tmp_path, "head", "--tenant", "nobody").stdout)
    assert head == {"sequence": 0, "hash": GENESIS}
    assert run(tmp_path, "verify", "--tenant", "nobody", "--head", f"0:{GENESIS}").returncode == 0


def test_a_head_copied_in_upper_case_verifies_and_one_that_is_not_hex_is_a_usage_error(
        tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z")
    head = json.loads(run(tmp_path, "head").stdout)
    upper = run(tmp_path, "verify", "--head", f"{head['sequence']}:{head['hash'].upper()}", check=False)
    assert upper.returncode == 0, upper.stderr
    not_hex = run(tmp_path, "verify", "--head", f"{head['sequence']}:{'g' * 64}", check=False)
    assert not_hex.returncode == 2 and "SEQUENCE:HASH" in not_hex.stderr


def test_license_file_days_past_a_hundred_years_is_a_bad_setting(tmp_path: Path) -> None:
    result = run(tmp_path, "head", env={"LEDGER_LICENSE_FILE_DAYS": "3000000"}, check=False)
    assert result.returncode == 2 and "LEDGER_LICENSE_FILE_DAYS" in result.stderr


def test_a_line_over_the_cap_is_rejected_by_number_and_the_others_are_applied(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z")
    good = [json.dumps(envelope("license.granted", "2026-03-01", f"lic-{n}", customer_id="c",
                                plan="pro")) for n in (1, 2)]
    (tmp_path / "events.jsonl").write_text(f'{good[0]}\n{{"x": "{"a" * 5000}"}}\n{good[1]}\n')
    result = run(tmp_path, "ingest", "events.jsonl", "--max-line-bytes", "2000", "--format", "json",
                 check=False)
    answer = json.loads(result.stdout)
    assert result.returncode == 1 and (answer["accepted"], answer["rejected"]) == (2, 1)
    [rejection] = answer["rejections"]
    assert rejection["line"] == 2 and rejection["code"] == "invalid_event"
    assert "longer than 2000 bytes" in rejection["message"]


def test_a_quarter_gigabyte_line_is_refused_without_being_held_in_memory(tmp_path: Path) -> None:
    line = b"a" * (256 * 2**20)
    (tmp_path / "events.jsonl").write_bytes(b'{"x": "' + line + b'"}\n')
    del line
    measure = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True);"
               " print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", measure, LEDGER, "ingest", "events.jsonl"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120).stdout.split()
    status, peak_kib = int(out[0]), int(out[1])
    assert status == 1  # the line is rejected
    assert peak_kib < 200 * 1024, f"ingest peaked at {peak_kib // 1024} MiB for a 256 MiB line"
