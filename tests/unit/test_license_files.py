"""Offline license files: signed by the ledger, verified by products with only a public key."""

import ast
import base64
import importlib.util
import json
import shutil
import stat
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.licensefile import (
    KeyRing,
    KeyRingError,
    LicenseFileError,
    SigningKey,
    canonical_json,
    issue_license_file,
    public_keys_from_published,
    verify_license_file,
)
from ledger.licensefile import verify as verify_module

ISSUED_AT = datetime(2026, 3, 1, tzinfo=UTC)
SOON = ISSUED_AT + timedelta(days=1)
HEAD = {"sequence": 1234, "hash": "9f2c" * 16}


def a_license(**changes: Any) -> dict[str, Any]:
    state = {
        "license_id": "lic-42", "tenant": "acme", "customer_id": "cust-7", "plan": "pro",
        "status": "active", "seats": 10, "seats_assigned": ["u-1", "u-2"],
        "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z", "region": "DE",
        "features": {"reports": {"enabled": True},
                     "api_calls": {"enabled": True, "limit": 100000, "period": "month",
                                   "used": 1200}},
        "catalog_version": "2026-03", "last_event_id": "stripe-evt-000123",
    }  # fmt: skip
    return {**state, **changes}


def a_keyring() -> KeyRing:
    key = SigningKey.generate()
    return KeyRing([key], key.key_id)


def a_file(keyring: KeyRing, **changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "tenant": "acme", "customer_id": "cust-7", "licenses": [a_license()], "head": HEAD,
        "issued_at": ISSUED_AT,
    }  # fmt: skip
    return issue_license_file(keyring, **{**arguments, **changes})


def reason_of(document: Any, keys: dict[str, str] | str, **options: Any) -> str:
    with pytest.raises(LicenseFileError) as refused:
        verify_license_file(document, keys, **options)
    return refused.value.reason


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    return a_keyring()


def test_a_fresh_file_verifies_with_the_public_key(keyring: KeyRing) -> None:
    document = a_file(keyring)
    public_key = keyring.public_keys()[0]["public_key"]

    verified = verify_license_file(json.dumps(document), public_key, now=SOON)

    assert verified.license == document["license"]
    assert verified.licenses == [a_license()]
    assert verified.key_id == keyring.active.key_id
    assert verified.head_sequence == 1234


def test_the_file_has_the_contract_shape(keyring: KeyRing) -> None:
    document = a_file(keyring)

    assert set(document) == {"license", "key_id", "algorithm", "signature", "signature_rfc8785"}
    assert document["algorithm"] == "Ed25519"
    assert document["license"] == {
        "tenant": "acme", "customer_id": "cust-7", "issued_at": "2026-03-01T00:00:00Z",
        "expires_at": "2026-03-31T00:00:00Z", "head": HEAD, "licenses": [a_license()],
    }  # fmt: skip


def test_times_are_whole_seconds_in_utc_with_z(keyring: KeyRing) -> None:
    berlin = timezone(timedelta(hours=1))
    issued_in_berlin = datetime(2026, 3, 1, 2, 0, 0, 999_999, tzinfo=berlin)
    document = a_file(keyring, issued_at=issued_in_berlin, valid_for=timedelta(hours=2))

    assert document["license"]["issued_at"] == "2026-03-01T01:00:00Z"
    assert document["license"]["expires_at"] == "2026-03-01T03:00:00Z"


def test_a_file_with_one_flipped_byte_in_the_signed_content_is_a_bad_signature(
    keyring: KeyRing,
) -> None:
    raw = canonical_json(a_file(keyring))
    at = raw.index(b'"plan":"pro"') + len(b'"plan":"pr')
    tampered = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]

    assert b'"plan":"prn"' in tampered
    assert reason_of(tampered, keyring.public_key_map(), now=SOON) == "bad_signature"


def test_a_file_with_one_flipped_byte_in_the_signature_is_a_bad_signature(
    keyring: KeyRing,
) -> None:
    for field in ("signature", "signature_rfc8785"):  # a file as issued before RFC 8785, as now
        document = a_file(keyring)
        if field == "signature":
            del document["signature_rfc8785"]
        signature = bytearray(base64.b64decode(document[field]))
        signature[0] ^= 0x01
        document[field] = base64.b64encode(bytes(signature)).decode()

        assert reason_of(document, keyring.public_key_map(), now=SOON) == "bad_signature"


def test_a_signature_that_is_not_base64_is_a_bad_signature(keyring: KeyRing) -> None:
    document = {**a_file(keyring), "signature": "not base64!", "signature_rfc8785": "not base64!"}

    assert reason_of(document, keyring.public_key_map(), now=SOON) == "bad_signature"


def test_an_expired_file_is_refused(keyring: KeyRing) -> None:
    document = a_file(keyring)
    keys = keyring.public_key_map()

    assert reason_of(document, keys, now=ISSUED_AT + timedelta(days=30)) == "expired"
    verify_license_file(document, keys, now=ISSUED_AT + timedelta(days=30, seconds=-1))


def test_a_file_signed_by_an_unknown_key_is_refused(keyring: KeyRing) -> None:
    document = a_file(keyring)
    other = a_keyring()

    assert reason_of(document, other.public_key_map(), now=SOON) == "unknown_key"


def test_a_single_public_key_that_did_not_sign_the_file_is_a_bad_signature(
    keyring: KeyRing,
) -> None:
    document = a_file(keyring)
    other_key = a_keyring().public_keys()[0]["public_key"]

    assert reason_of(document, other_key, now=SOON) == "bad_signature"


def test_a_file_older_than_one_already_seen_is_refused(keyring: KeyRing) -> None:
    document = a_file(keyring)
    keys = keyring.public_key_map()

    assert reason_of(document, keys, now=SOON, seen_sequence=1235) == "older_than_seen"
    assert verify_license_file(document, keys, now=SOON, seen_sequence=1234).head_sequence == 1234


def test_the_first_failing_check_names_the_reason(keyring: KeyRing) -> None:
    document = a_file(keyring)
    keys = keyring.public_key_map()
    late = ISSUED_AT + timedelta(days=31)
    zeros = base64.b64encode(bytes(64)).decode()
    forged = {**document, "signature": zeros, "signature_rfc8785": zeros}

    assert reason_of(document, a_keyring().public_key_map(), now=late) == "unknown_key"
    assert reason_of(forged, keys, now=late, seen_sequence=9999) == "bad_signature"
    assert reason_of(document, keys, now=late, seen_sequence=9999) == "expired"


@pytest.mark.parametrize(
    "document",
    [
        b"\xff\xfe not utf-8",
        "not json",
        "[]",
        {"license": {}, "key_id": "k-1", "algorithm": "Ed25519"},
        {"license": "text", "key_id": "k-1", "algorithm": "Ed25519", "signature": "AA=="},
        {"license": {}, "key_id": 7, "algorithm": "Ed25519", "signature": "AA=="},
        {"license": {}, "key_id": "k-1", "algorithm": "RSA", "signature": "AA=="},
    ],
)
def test_a_document_that_is_not_a_license_file_is_malformed(document: Any) -> None:
    assert reason_of(document, {"k-1": a_keyring().public_keys()[0]["public_key"]}) == "malformed"


def test_a_correctly_signed_body_without_an_expiry_is_malformed(keyring: KeyRing) -> None:
    body = {"head": HEAD, "licenses": []}
    signature = base64.b64encode(keyring.active.sign(canonical_json(body))).decode()
    document = {"license": body, "key_id": keyring.active.key_id, "algorithm": "Ed25519",
                "signature": signature}  # fmt: skip

    assert reason_of(document, keyring.public_key_map()) == "malformed"


def test_a_time_without_a_zone_is_an_error(keyring: KeyRing) -> None:
    with pytest.raises(ValueError, match="zone"):
        a_file(keyring, issued_at=datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="zone"):
        verify_license_file(a_file(keyring), keyring.public_key_map(), now=datetime(2026, 3, 2))


def test_a_license_of_another_customer_or_tenant_is_never_signed(keyring: KeyRing) -> None:
    with pytest.raises(ValueError, match="lic-9"):
        a_file(keyring, licenses=[a_license(), a_license(license_id="lic-9", tenant="other")])
    with pytest.raises(ValueError, match="lic-8"):
        a_file(keyring, licenses=[a_license(license_id="lic-8", customer_id="cust-8")])


def test_keys_survive_a_restart_from_the_data_directory(tmp_path: Path) -> None:
    first = KeyRing.load_or_create(tmp_path / "data")
    document = a_file(first)

    restarted = KeyRing.load_or_create(tmp_path / "data")

    assert restarted.active.key_id == first.active.key_id
    assert restarted.public_keys() == first.public_keys()
    verify_license_file(document, restarted.public_key_map(), now=SOON)
    index = json.loads((tmp_path / "data" / "license-keys.json").read_text())
    assert index["active_key_id"] == first.active.key_id


def test_rotated_keys_still_verify_older_files(tmp_path: Path) -> None:
    keyring = KeyRing.load_or_create(tmp_path)
    before = a_file(keyring)

    new_key = keyring.rotate()
    after = a_file(keyring)
    restarted = KeyRing.load_or_create(tmp_path)

    assert after["key_id"] == new_key.key_id != before["key_id"]
    assert restarted.active.key_id == new_key.key_id
    assert [key["key_id"] for key in restarted.public_keys()] == [before["key_id"], new_key.key_id]
    for document in (before, after):
        verify_license_file(document, restarted.public_key_map(), now=SOON)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    rings: list[KeyRing] = []
    threads = [
        threading.Thread(target=lambda: rings.append(KeyRing.load_or_create(tmp_path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({ring.active.key_id for ring in rings}) == 1
    assert len(list(tmp_path.glob("license-key-*.pem"))) == 1


def test_private_key_file_is_not_world_readable(tmp_path: Path) -> None:
    keyring = KeyRing.load_or_create(tmp_path)
    keyring.rotate()

    pem_files = list(tmp_path.glob("license-key-*.pem"))
    assert len(pem_files) == 2
    for pem in pem_files:
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_a_key_from_settings_signs_under_the_same_id_every_start(keyring: KeyRing) -> None:
    setting = keyring.active.private_key_base64()

    once, again = KeyRing.from_private_key(setting), KeyRing.from_private_key(setting)

    assert once.active.key_id == again.active.key_id
    assert once.public_keys()[0]["public_key"] == keyring.public_keys()[0]["public_key"]
    assert KeyRing.from_private_key(setting, key_id="k-2026-01").active.key_id == "k-2026-01"
    with pytest.raises(KeyRingError):
        KeyRing.from_private_key("c2hvcnQ=")


def test_public_keys_are_published_as_the_contract_says(keyring: KeyRing) -> None:
    (published,) = keyring.public_keys()

    assert set(published) == {"key_id", "algorithm", "public_key"}
    assert published["algorithm"] == "Ed25519"
    assert len(base64.b64decode(published["public_key"])) == 32
    assert public_keys_from_published({"keys": [published]}) == keyring.public_key_map()


def test_the_signature_is_over_the_canonical_json_as_the_contract_says(keyring: KeyRing) -> None:
    document = a_file(keyring, customer_id="Müller-7", licenses=[a_license(customer_id="Müller-7")])
    public_key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(keyring.public_keys()[0]["public_key"])
    )
    signature = base64.b64decode(document["signature"])
    contract_bytes = json.dumps(
        document["license"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")

    public_key.verify(signature, contract_bytes)
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, json.dumps(document["license"], sort_keys=True).encode())


def test_the_verifier_works_as_a_single_copied_file(
    tmp_path: Path, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(verify_module.__file__)
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import would not survive copying"
            imported.add(str(node.module).split(".")[0])
    # rfc8785 is optional (one pure-Python file): without it the file checks `signature`.
    assert imported - set(sys.stdlib_module_names) == {"cryptography", "rfc8785"}

    shutil.copy(source, tmp_path / "vendored_license_verify.py")
    spec = importlib.util.spec_from_file_location(
        "vendored", tmp_path / "vendored_license_verify.py"
    )
    assert spec is not None and spec.loader is not None
    vendored = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "vendored", vendored)
    spec.loader.exec_module(vendored)

    verified = vendored.verify_license_file(a_file(keyring), keyring.public_key_map(), now=SOON)
    assert verified.licenses == [a_license()]
    assert verified.checked_by == "rfc8785"

    monkeypatch.setitem(sys.modules, "rfc8785", None)  # a product that copied this file alone
    without = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "vendored", without)
    spec.loader.exec_module(without)
    verified = without.verify_license_file(a_file(keyring), keyring.public_key_map(), now=SOON)
    assert verified.licenses == [a_license()]
    assert verified.checked_by == "json.dumps"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=12,
)
owners = st.tuples(st.text(), st.text())
license_states = st.lists(st.dictionaries(st.text(), json_values, max_size=5), max_size=3)


@given(owner=owners, states=license_states)
def test_any_unicode_license_body_signs_and_verifies(
    keyring: KeyRing, owner: tuple[str, str], states: list[dict[str, Any]]
) -> None:
    tenant, customer = owner
    licenses = [{**state, "tenant": tenant, "customer_id": customer} for state in states]
    document = a_file(keyring, tenant=tenant, customer_id=customer, licenses=licenses)

    verified = verify_license_file(json.dumps(document), keyring.public_key_map(), now=SOON)

    assert canonical_json(verified.license) == canonical_json(document["license"])


@given(owner=owners, states=license_states, data=st.data())
def test_no_single_byte_change_of_the_canonical_body_verifies_as_something_else(
    keyring: KeyRing, owner: tuple[str, str], states: list[dict[str, Any]], data: st.DataObject
) -> None:
    tenant, customer = owner
    licenses = [{**state, "tenant": tenant, "customer_id": customer} for state in states]
    document = a_file(keyring, tenant=tenant, customer_id=customer, licenses=licenses)
    signed = canonical_json(document["license"])
    at = data.draw(st.integers(0, len(signed) - 1), label="at")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != signed[at]), label="byte")
    changed = signed[:at] + bytes([byte]) + signed[at + 1 :]

    public_key = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(keyring.public_keys()[0]["public_key"])
    )
    with pytest.raises(InvalidSignature):
        public_key.verify(base64.b64decode(document["signature"]), changed)

    # Spliced into a document, the change is refused, unless it only re-spells the same value.
    envelope = canonical_json({**document, "license": None})
    raw = envelope.replace(b'"license":null', b'"license":' + changed)
    try:
        verified = verify_license_file(raw, keyring.public_key_map(), now=SOON)
    except LicenseFileError:
        return
    assert canonical_json(verified.license) == signed


def test_a_number_spelled_anew_is_a_bad_signature(keyring: KeyRing) -> None:
    """RFC 8785 spells `10.0` and `1e5` as `10` and `100000`: such a file still matches its
    signature_rfc8785, and the caller would get floats; its json.dumps signature is checked
    too and refuses it."""
    document = a_file(keyring)
    public_key = keyring.public_keys()[0]["public_key"]
    text = json.dumps(document).replace('"seats": 10,', '"seats": 10.0,').replace(
        '"limit": 100000,', '"limit": 1e5,')
    assert '"seats": 10.0' in text and '"limit": 1e5' in text
    assert reason_of(text, public_key, now=SOON) == "bad_signature"
    assert verify_license_file(json.dumps(document), public_key, now=SOON).checked_by == "rfc8785"


@pytest.mark.parametrize(("published", "said"), [
    ({"keys": [5]}, "keys[0]"), ({"keys": [{"key_id": "k", "public_key": 5}]}, "keys[0]"),
    ({"keys": "x"}, "no list 'keys'"), ([], "no list 'keys'")])
def test_a_keys_document_of_the_wrong_shape_is_malformed_naming_where(
        published: Any, said: str) -> None:
    with pytest.raises(LicenseFileError, match=said.replace("[", r"\[")):
        public_keys_from_published(published)
