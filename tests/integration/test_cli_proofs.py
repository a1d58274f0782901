"""The verifiable log from the `ledger` command, as an auditor uses it: heads and proofs
written to files, checked offline with the public key only, and refused once tampered. In
process (click's runner, in the test's own directory) to keep the suite fast; the same
commands as separate processes: tests/e2e/test_cli_proofs.py."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.cli.main import cli
from ledger.licensefile import SigningKey
from tests.builders import CATALOG, envelope


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> Ran:
    """`ledger ARGS` in `cwd` (the test's directory, made current by the `here` fixture)."""
    assert Path.cwd() == cwd
    result = CliRunner().invoke(cli, list(args), env=env)
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    if check and ran.returncode != 0:
        raise AssertionError(f"ledger {' '.join(args)} exited {ran.returncode}:\n{ran.stderr}")
    return ran


def run_json(cwd: Path, *args: str, **kw: Any) -> Any:
    return json.loads(run(cwd, *args, "--format", "json", **kw).stdout)


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LEDGER_DATABASE_URL", "LEDGER_DATA_DIR", "LEDGER_SIGNING_KEY", "LEDGER_TENANT"):
        monkeypatch.delenv(name, raising=False)


def events_file(path: Path, first: int, count: int) -> Path:
    lines = [envelope("usage.recorded", "2026-03-02", "lic-1", id=f"use-{first + i}",
                      feature="api_calls", quantity=1) for i in range(count)]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return path


def test_an_auditor_checks_inclusion_and_consistency_offline_and_refuses_tampering(tmp_path: Path) -> None:
    key = SigningKey.generate()
    env = {"LEDGER_SIGNING_KEY": key.private_key_base64()}
    public = key.public_key_base64()
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z", env=env)
    grant = envelope("license.granted", "2026-03-01", "lic-1", id="grant-1", source="billing/erp:eu",
                     customer_id="cust-7", plan="pro")
    (tmp_path / "grant.jsonl").write_text(json.dumps(grant) + "\n")
    run(tmp_path, "ingest", "grant.jsonl", env=env)
    run(tmp_path, "ingest", str(events_file(tmp_path / "a.jsonl", 0, 4)), env=env)

    first = run_json(tmp_path, "tree-head", env=env)
    assert first["tree_head"]["tree_size"] == 6 and first["algorithm"] == "Ed25519"
    (tmp_path / "head-6.json").write_text(json.dumps(first))
    proof = run_json(tmp_path, "proof", "inclusion", "--event", "billing/erp:eu:grant-1", env=env)
    assert (proof["sequence"], proof["tree_size"]) == (2, 6)
    (tmp_path / "inclusion.json").write_text(json.dumps(proof))
    ok = run(tmp_path, "proof", "verify", "inclusion.json", "--public-key", public,
             "--tree-head", "head-6.json")
    assert ok.stdout.startswith("ok: event sequence 2")

    run(tmp_path, "ingest", str(events_file(tmp_path / "b.jsonl", 10, 20)), env=env)
    second = run_json(tmp_path, "tree-head", env=env)
    (tmp_path / "head-26.json").write_text(json.dumps(second))
    consistency = run_json(tmp_path, "proof", "consistency", "--from", "6", env=env)
    (tmp_path / "consistency.json").write_text(json.dumps(consistency))
    ok = run(tmp_path, "proof", "verify", "consistency.json", "--public-key", public,
             "--tree-head", "head-6.json", "--tree-head", "head-26.json")
    assert "size 6 is a prefix of its log of size 26" in ok.stdout

    proof["audit_path"][0] = "0" * 64
    (tmp_path / "tampered.json").write_text(json.dumps(proof))
    refused = run(tmp_path, "proof", "verify", "tampered.json", "--public-key", public,
                  "--tree-head", "head-6.json", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("ledger: root_mismatch")
    # (every other reason, in-process: tests/unit/test_proof_verifier.py)

    beyond = run(tmp_path, "proof", "inclusion", "--sequence", "27", check=False, env=env)
    assert beyond.returncode == 1 and len(beyond.stderr.strip().splitlines()) == 1
    assert run(tmp_path, "verify", env=env).stdout.startswith("ok:")

    license_file = json.loads(run(tmp_path, "license-file", "cust-7", env=env).stdout)
    assert license_file["license"]["tree_head"]["tree_head"]["tree_size"] == \
        license_file["license"]["head"]["sequence"] == 26


def test_verify_fails_when_a_signed_head_no_longer_matches_the_stored_tree(tmp_path: Path) -> None:
    key = SigningKey.generate()
    env = {"LEDGER_SIGNING_KEY": key.private_key_base64()}
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z", env=env)
    grant = envelope("license.granted", "2026-03-01", "lic-1", customer_id="cust-7", plan="pro")
    (tmp_path / "grant.jsonl").write_text(json.dumps(grant) + "\n")
    run(tmp_path, "ingest", "grant.jsonl", env=env)
    # 18 events: the tree stores its subtrees of 16 leaves and up, so there is a node to alter
    run(tmp_path, "ingest", str(events_file(tmp_path / "a.jsonl", 0, 16)), env=env)
    run(tmp_path, "tree-head", env=env)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        assert db.execute("SELECT COUNT(*) FROM merkle_nodes").fetchone()[0] == 1
        document = json.loads(db.execute("SELECT document FROM tree_heads").fetchone()[0])
        document["tree_head"]["root_hash"] = "ab" * 32
        db.execute("UPDATE tree_heads SET document = ?", [json.dumps(document)])
    broken = run(tmp_path, "verify", env=env, check=False)
    assert broken.returncode == 1 and "log broken" in broken.stderr and "bad_signature" in broken.stderr
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("UPDATE merkle_nodes SET hash = ?", [b"\x00" * 32])
    broken = run(tmp_path, "verify", env=env, check=False)
    assert broken.returncode == 1 and "stored tree node" in broken.stderr


def test_an_auditor_explains_a_denial_and_takes_a_verified_pack_home(tmp_path: Path) -> None:
    key = SigningKey.generate()
    env = {"LEDGER_SIGNING_KEY": key.private_key_base64()}
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z", env=env)
    events = [envelope("license.granted", "2026-03-01", "lic-1", id="g", customer_id="cust-7", plan="pro"),
              envelope("license.suspended", "2026-04-01", "lic-1", id="a12", source="billing/erp",
                       reason="payment_failed")]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    run(tmp_path, "ingest", "events.jsonl", env=env)
    why = run(tmp_path, "explain", "--customer", "cust-7", "--feature", "sso", "--at",
              "2026-04-02T00:00:00Z", env=env).stdout
    assert why.startswith("denied: suspended: suspended since 2026-04-01T00:00:00Z by a12 from billing/erp")
    assert "license.suspended" in why  # the facts table

    run(tmp_path, "audit", "export", "pack", "--from", "2026-01-01T00:00:00Z", "--to",
        "2027-01-01T00:00:00Z", env=env)
    ok = run(tmp_path, "audit", "verify", "pack", "--public-key", key.public_key_base64())
    assert ok.stdout.startswith("ok: 3 events of tenant 'default'")
    events_file = tmp_path / "pack" / "events.jsonl"
    events_file.write_text(events_file.read_text().replace("payment_failed", "payment_faile!"))
    refused = run(tmp_path, "audit", "verify", "pack", "--public-key", key.public_key_base64(), check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("ledger: tampered: events.jsonl")
