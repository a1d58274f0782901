"""The audit pack: exported for a period, verified with the public key only, and refused once
any byte of any of its files is changed."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.audit.pack import export
from ledger.audit.verify import PackError, verify_pack
from ledger.bootstrap import Wiring
from ledger.licensefile import KeyRing, SigningKey
from ledger.proofs import VerifiableLog
from tests import rfc9162
from tests.builders import catalog_envelope, envelope
from tests.integration.test_explain import YEAR


@pytest.fixture
def pack(tmp_path: Path, sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> tuple[Path, str]:
    wiring = wiring_factory(sqlite_url)
    wiring.ledger.ingest([catalog_envelope("2026-01-01"), *YEAR,
                          envelope("license.granted", "2026-03-01", "lic-e", id="e-grant",
                                   customer_id="cust-e", plan="basic")], "acme")
    key = SigningKey.generate()
    keyring = KeyRing([key], key.key_id)
    export(wiring.ledger, VerifiableLog(wiring.store, keyring), keyring, "acme",
           datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC), tmp_path / "pack",
           "cust-b", now=datetime.now(UTC))
    return tmp_path / "pack", key.public_key_base64()


def test_an_exported_pack_verifies_and_holds_the_periods_events_states_and_proofs(
        pack: tuple[Path, str]) -> None:
    directory, public = pack
    manifest = verify_pack(directory, public)
    assert sorted(manifest["files"]) == ["catalogs.json", "events.csv", "events.jsonl", "proofs.jsonl",
                                         "states-from.json", "states-to.json", "tree-head.json"]
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    assert {e["subject"] for e in events} == {"lic-b"}
    assert all("2026-03-01" <= e["effective_at"] < "2026-07-01" for e in events)
    assert [e["source_event_id"] for e in events][:1] == ["b-paid"] and len(events) == 9
    head = json.loads((directory / "tree-head.json").read_text())["tree_head"]
    for line in (directory / "proofs.jsonl").read_text().splitlines():
        proof = json.loads(line)
        assert rfc9162.verify_inclusion(proof["leaf_index"], head["tree_size"],
                                        bytes.fromhex(proof["leaf_hash"]),
                                        [bytes.fromhex(h) for h in proof["audit_path"]],
                                        bytes.fromhex(head["root_hash"]))
    states = json.loads((directory / "states-to.json").read_text())
    assert [(s["license_id"], s["plan"]) for s in states] == [("lic-b", "basic")]
    assert (directory / "events.csv").read_text().count("\n") == len(events) + 1
    assert json.loads((directory / "catalogs.json").read_text())[0]["version"] == "2026-03"


def test_one_byte_changed_in_any_file_of_the_pack_is_refused(pack: tuple[Path, str], tmp_path: Path) -> None:
    directory, public = pack
    rnd = random.Random(11)
    for file in sorted(directory.iterdir()):
        copy = tmp_path / f"copy-{file.name}"
        shutil.copytree(directory, copy)
        data = bytearray((copy / file.name).read_bytes())
        at = rnd.randrange(len(data))
        data[at] = (data[at] + 1) % 256
        (copy / file.name).write_bytes(bytes(data))
        with pytest.raises(PackError) as refused:
            verify_pack(copy, public)
        assert refused.value.reason in ("tampered", "bad_signature"), (file.name, refused.value)
    spaced = tmp_path / "spaced"
    shutil.copytree(directory, spaced)
    text = (spaced / "manifest.json").read_text()
    (spaced / "manifest.json").write_text(text.replace("\n", "\n ", 1))  # same JSON, one more byte
    with pytest.raises(PackError, match="not laid out as written"):
        verify_pack(spaced, public)
    with pytest.raises(PackError) as foreign:
        verify_pack(directory, SigningKey.generate().public_key_base64())
    assert foreign.value.reason == "bad_signature"


def test_a_pack_refused_for_a_tenant_without_events_leaves_no_directory(
        tmp_path: Path, sqlite_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(sqlite_url)
    key = SigningKey.generate()
    keyring = KeyRing([key], key.key_id)
    with pytest.raises(Exception, match="no events"):
        export(wiring.ledger, VerifiableLog(wiring.store, keyring), keyring, "nobody",
               datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC),
               tmp_path / "new" / "pack", now=datetime.now(UTC))
    assert not (tmp_path / "new" / "pack").exists()
