"""Any language: tree heads, inclusion and consistency proofs and license files verified by a
verifier written in JavaScript for Node (tests/verifiers/verify.mjs), including a catalog whose
feature names sort differently by UTF-16 code units (JavaScript) than by code points (Python)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.api.license_files import customer_license_file
from ledger.bootstrap import Wiring
from ledger.licensefile import KeyRing, SigningKey
from ledger.proofs import VerifiableLog
from tests.builders import catalog_envelope, envelope

VERIFIER = Path(__file__).resolve().parents[1] / "verifiers" / "verify.mjs"
# U+FB00 sorts after U+1F600's surrogates in UTF-16, before U+1F600 by code point.
ODD = {"version": "2026-odd", "plans": {"pro": {"tier": 1, "features": {
    "\U0001F600-emoji": {}, "\uFB00-ligature": {}, "reports": {}}}}}


def node(*args: str | Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed: the cross-language verifier needs Node >= 18")
    return subprocess.run([found, str(VERIFIER), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_a_javascript_verifier_accepts_the_ledgers_heads_proofs_and_license_files(
        tmp_path: Path, sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(sqlite_url)
    key = SigningKey.generate()
    keyring = KeyRing([key], key.key_id)
    public = key.public_key_base64()
    wiring.ledger.ingest([catalog_envelope("2026-01-01", ODD),
                          envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-ü",
                                   plan="pro")], "tënant-\U0001F600")
    log = VerifiableLog(wiring.store, keyring)
    first = log.tree_head("tënant-\U0001F600")
    for n in range(2, 30):
        wiring.ledger.ingest([envelope("license.seats_changed", "2026-03-01", "lic-1", seats=n)],
                             "tënant-\U0001F600")
    second = log.tree_head("tënant-\U0001F600")
    files = {"first": first, "second": second,
             "inclusion": log.inclusion("tënant-\U0001F600", 2),
             "consistency": log.consistency("tënant-\U0001F600", 2)}
    files["license"] = customer_license_file(wiring.ledger, wiring.store, keyring, "tënant-\U0001F600",
                                             "cust-ü", datetime.now(UTC), timedelta(days=30))
    features = list(files["license"]["license"]["licenses"][0]["features"])
    utf16 = sorted(features, key=lambda k: k.encode("utf-16-be"))
    assert sorted(features) != utf16  # the case where a naive JavaScript sort would disagree
    for name, document in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    d = tmp_path
    assert node("tree-head", d / "second.json", public).stdout.strip() == "ok"
    assert node("proof", d / "inclusion.json", public, d / "second.json").stdout.strip() == "ok"
    assert node("proof", d / "consistency.json", public, d / "first.json", d / "second.json"
                ).stdout.strip() == "ok"
    assert node("license-file", d / "license.json", public).stdout.strip() == "ok signature_rfc8785"
    # The contract's json.dumps signature, checked the JavaScript (RFC 8785) way, does not hold
    # for these names; checked the way the contract spells it, it does, for older files.
    document = files["license"]
    swapped = dict(document, signature_rfc8785=document["signature"])
    (d / "swapped.json").write_text(json.dumps(swapped, ensure_ascii=False), encoding="utf-8")
    assert node("license-file", d / "swapped.json", public).stdout.startswith("bad_signature")
    older = {k: v for k, v in document.items() if k != "signature_rfc8785"}
    (d / "older.json").write_text(json.dumps(older, ensure_ascii=False), encoding="utf-8")
    assert node("license-file", d / "older.json", public).stdout.strip() == "ok signature"

    other = SigningKey.generate().public_key_base64()
    assert node("tree-head", d / "second.json", other).stdout.startswith("bad_signature")
    tampered = dict(files["inclusion"], audit_path=["0" * 64, *files["inclusion"]["audit_path"][1:]])
    (d / "tampered.json").write_text(json.dumps(tampered))
    refused = node("proof", d / "tampered.json", public, d / "second.json")
    assert refused.returncode == 1 and refused.stdout.startswith("root_mismatch")
    assert node("proof", d / "consistency.json", public, d / "second.json").stdout.startswith("bad_proof")
    body = files["license"]
    body["license"]["licenses"][0]["plan"] = "enterprise"
    (d / "license-edited.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    assert node("license-file", d / "license-edited.json", public).stdout.startswith("bad_signature")
    del body["signature_rfc8785"]
    (d / "license-edited.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    assert node("license-file", d / "license-edited.json", public).stdout.startswith("bad_signature")

