"""The verifiable log from the `ledger` processes: a head and a proof written to files and
checked offline with the public key only (every other case in process:
tests/integration/test_cli_proofs.py)."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.licensefile import SigningKey
from tests.builders import CATALOG
from tests.e2e.cli import run, run_json


def test_an_auditor_verifies_an_inclusion_proof_offline_with_the_ledger_command(tmp_path: Path) -> None:
    key = SigningKey.generate()
    env = {"LEDGER_SIGNING_KEY": key.private_key_base64()}
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    run(tmp_path, "catalog", "publish", "catalog.json", "--effective-at", "2026-01-01T00:00:00Z", env=env)
    (tmp_path / "head.json").write_text(json.dumps(run_json(tmp_path, "tree-head", env=env)))
    (tmp_path / "proof.json").write_text(json.dumps(run_json(tmp_path, "proof", "inclusion",
                                                             "--sequence", "1", env=env)))
    ok = run(tmp_path, "proof", "verify", "proof.json", "--public-key", key.public_key_base64(),
             "--tree-head", "head.json")
    assert ok.stdout.startswith("ok: event sequence 1")
