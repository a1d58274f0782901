"""Offline license files end to end: fetched over HTTP, verified by `ledger license-file
verify` as a product would, and refused when tampered, expired, foreign or rolled back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger.cli.main import cli
from ledger.licensefile import (
    KeyRing,
    SigningKey,
    issue_license_file,
    public_keys_from_published,
    verify_license_file,
)
from tests.builders import envelope
from tests.integration.test_api_harness import Api, running_api, sqlite


def ledger(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(sqlite(tmp_path)) as served:
        served.with_catalog().record([
            envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="pro",
                     seats=10, ends_at="2099-01-01T00:00:00Z"),
            envelope("license.granted", "2026-02-01", "lic-2", customer_id="cust-8", plan="basic"),
        ])
        yield served


def fetch(api: Api, customer: str = "cust-7") -> dict[str, Any]:
    answer = api.as_role("customer", customer=customer).get(f"/v1/customers/{customer}/license-file")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def public_key(api: Api) -> str:
    return str(api.client().get("/v1/license-files/keys").json()["keys"][0]["public_key"])


def test_a_license_file_carries_the_customers_licenses_the_head_and_an_expiry(api: Api) -> None:
    document = fetch(api)
    published = api.client().get("/v1/license-files/keys").json()
    verified = verify_license_file(document, public_keys_from_published(published))
    body = verified.license
    head = api.wiring.store.head("acme")
    assert head is not None
    assert (body["tenant"], body["customer_id"]) == ("acme", "cust-7")
    assert body["head"] == head.as_dict()
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert verified.expires_at - issued == timedelta(days=30)
    assert [s["license_id"] for s in body["licenses"]] == ["lic-1"]
    assert body["licenses"][0]["seats"] == 10
    assert (document["algorithm"], document["key_id"]) == ("Ed25519", api.keyring.active.key_id)


def test_a_license_files_licenses_are_the_typed_states_the_ledger_answers_with(api: Api) -> None:
    api.record([envelope("license.granted", "2026-02-01", "lic-3", customer_id="cust-7",
                         plan="basic", region="KP"),
                envelope("usage.recorded", "2026-02-02", "lic-1", feature="api_calls", quantity=4)])
    body = fetch(api)["license"]
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    typed = api.wiring.ledger.license_file_states("acme", "cust-7", issued)
    assert body["licenses"] == [state.as_dict() for state in typed]
    assert body["licenses"] == api.wiring.ledger.replay("acme", issued, customer_id="cust-7")
    assert {s["license_id"] for s in body["licenses"]} == {"lic-1", "lic-3"}


def test_a_customer_without_a_license_gets_no_license(api: Api) -> None:
    answer = api.as_role("admin").get("/v1/customers/nobody/license-file")
    assert answer.status_code == 404 and answer.json()["code"] == "no_license"


def test_the_validity_of_a_license_file_is_configurable(tmp_path: Path) -> None:
    with running_api(sqlite(tmp_path), configure=lambda o: o.update(license_file_days=3)) as api:
        api.with_catalog().record([envelope("license.granted", "2026-02-01", "lic-1",
                                            customer_id="cust-7", plan="pro")])
        verified = verify_license_file(fetch(api), public_key(api))
    issued = datetime.fromisoformat(verified.license["issued_at"].replace("Z", "+00:00"))
    assert verified.expires_at - issued == timedelta(days=3)


def test_the_reference_verifier_prints_the_entitlements_of_a_fresh_file(api: Api,
                                                                        tmp_path: Path) -> None:
    path = tmp_path / "license.json"
    path.write_text(json.dumps(fetch(api)), encoding="utf-8")
    result = ledger("license-file", "verify", str(path), "--public-key", public_key(api))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["customer_id"] == "cust-7" and printed["licenses"][0]["license_id"] == "lic-1"


def test_the_reference_verifier_says_which_signature_it_checked(api: Api, tmp_path: Path) -> None:
    document = fetch(api)
    older = {k: v for k, v in document.items() if k != "signature_rfc8785"}
    for name, file, checked in (("now", document, "signature_rfc8785 (rfc8785 form)"),
                                ("older", older, "signature (json.dumps form)")):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(file), encoding="utf-8")
        result = ledger("license-file", "verify", str(path), "--public-key", public_key(api))
        assert result.exit_code == 0, result.output
        assert f"verified: {checked}" in result.stderr
        assert json.loads(result.stdout) == document["license"]


def test_the_reference_verifier_refuses_a_file_with_one_flipped_byte(api: Api,
                                                                     tmp_path: Path) -> None:
    text = json.dumps(fetch(api))
    flipped = text.replace('"seats": 10', '"seats": 90')
    assert flipped != text
    path = tmp_path / "license.json"
    path.write_text(flipped, encoding="utf-8")
    result = ledger("license-file", "verify", str(path), "--public-key", public_key(api))
    assert result.exit_code != 0 and "bad_signature" in result.stderr


def test_the_reference_verifier_refuses_an_expired_file(api: Api, tmp_path: Path) -> None:
    state = api.as_role("admin").get("/v1/licenses/lic-1").json()
    old = issue_license_file(api.keyring, "acme", "cust-7", [state], {"sequence": 1, "hash": "h"},
                             datetime.now(UTC) - timedelta(days=2), timedelta(days=1))
    path = tmp_path / "license.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    result = ledger("license-file", "verify", str(path), "--public-key", public_key(api))
    assert result.exit_code != 0 and "expired" in result.stderr


def test_the_reference_verifier_refuses_a_file_signed_by_an_unknown_key(api: Api,
                                                                        tmp_path: Path) -> None:
    path = tmp_path / "license.json"
    path.write_text(json.dumps(fetch(api)), encoding="utf-8")
    other = SigningKey.generate()
    named = ledger("license-file", "verify", str(path), "--public-key",
                   f"{other.key_id}:{other.public_key_base64()}")
    assert named.exit_code != 0 and "unknown_key" in named.stderr
    bare = ledger("license-file", "verify", str(path), "--public-key", other.public_key_base64())
    assert bare.exit_code != 0 and "bad_signature" in bare.stderr


def test_the_reference_verifier_refuses_a_file_older_than_one_seen(api: Api, tmp_path: Path) -> None:
    first = fetch(api)
    api.as_role("billing").post("/v1/events", json=envelope(
        "license.seats_changed", "2026-03-01", "lic-1", seats=12))
    second = fetch(api)
    assert second["license"]["head"]["sequence"] > first["license"]["head"]["sequence"]
    path = tmp_path / "license.json"
    path.write_text(json.dumps(first), encoding="utf-8")
    seen = str(second["license"]["head"]["sequence"])
    result = ledger("license-file", "verify", str(path), "--public-key", public_key(api),
                    "--seen", seen)
    assert result.exit_code != 0 and "older_than_seen" in result.stderr
    same = ledger("license-file", "verify", str(path), "--public-key", public_key(api),
                  "--seen", str(first["license"]["head"]["sequence"]))
    assert same.exit_code == 0


def test_the_cli_issues_a_file_the_published_keys_verify(tmp_path: Path) -> None:
    env = {"LEDGER_DATABASE_URL": sqlite(tmp_path), "LEDGER_DATA_DIR": str(tmp_path / "data"),
           "LEDGER_TENANT": "acme"}
    with running_api(env["LEDGER_DATABASE_URL"]) as api:
        api.with_catalog().record([envelope("license.granted", "2026-02-01", "lic-1",
                                            customer_id="cust-7", plan="pro")])
    output = tmp_path / "cust-7.json"
    issued = ledger("license-file", "cust-7", "--output", str(output), env=env)
    assert issued.exit_code == 0, issued.output
    keyring = KeyRing.load_or_create(tmp_path / "data")
    verified = verify_license_file(output.read_text(encoding="utf-8"), keyring.public_key_map())
    assert verified.license["licenses"][0]["license_id"] == "lic-1"
    on_stdout = ledger("license-file", "cust-7", env=env)
    assert json.loads(on_stdout.stdout)["license"]["customer_id"] == "cust-7"
    verify = ledger("license-file", "verify", str(output), "--public-key",
                    keyring.active.public_key_base64())
    assert verify.exit_code == 0
    missing = ledger("license-file", "nobody", env=env)
    assert missing.exit_code != 0 and "no_license" in missing.stderr
