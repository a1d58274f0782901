"""License files carry a second signature, `signature_rfc8785`, by the same key over the RFC
8785 form of the same body: verifiers prefer it and fall back to the contract's json.dumps
`signature`, which stays exactly as it was for the verifiers that rely on it."""

import base64
import json
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.licensefile import KeyRing, SigningKey, canonical_json, verify_license_file
from tests.unit.test_license_files import SOON, a_file, a_license, reason_of

# U+FB00 sorts after U+1F600's surrogate pair by UTF-16 code units (RFC 8785, JavaScript),
# before it by code point (Python's sort_keys): the two canonical forms disagree on the order.
OUTSIDE_THE_BMP = {"\U0001F600-emoji": {"enabled": True}, "\uFB00-ligature": {"enabled": True},
                   "\U00010348-gothic": {"enabled": False, "limit": 7}}


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    key = SigningKey.generate()
    return KeyRing([key], key.key_id)


def public_key_of(keyring: KeyRing) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(keyring.public_keys()[0]["public_key"]))


def an_odd_file(keyring: KeyRing) -> dict[str, Any]:
    return a_file(keyring, licenses=[a_license(features=OUTSIDE_THE_BMP)])


def test_the_second_signature_is_over_the_rfc8785_form_and_the_first_is_unchanged(
        keyring: KeyRing) -> None:
    document = an_odd_file(keyring)
    body = document["license"]
    jcs, python = rfc8785.dumps(body), canonical_json(body)
    assert jcs != python  # the names outside the BMP are ordered differently

    public_key_of(keyring).verify(base64.b64decode(document["signature_rfc8785"]), jcs)
    public_key_of(keyring).verify(base64.b64decode(document["signature"]), python)
    with pytest.raises(InvalidSignature):  # what a verifier serialising the JavaScript way sees
        public_key_of(keyring).verify(base64.b64decode(document["signature"]), jcs)


def test_a_file_with_both_signatures_is_checked_over_rfc8785(keyring: KeyRing) -> None:
    document = an_odd_file(keyring)

    verified = verify_license_file(json.dumps(document), keyring.public_key_map(), now=SOON)

    assert verified.checked_by == "rfc8785"
    assert verified.license == document["license"]


def test_a_file_without_the_rfc8785_signature_is_checked_over_the_json_dumps_form(
        keyring: KeyRing) -> None:
    document = an_odd_file(keyring)
    del document["signature_rfc8785"]  # as files were issued before it existed

    verified = verify_license_file(document, keyring.public_key_map(), now=SOON)

    assert verified.checked_by == "json.dumps"
    assert verified.licenses[0]["features"] == OUTSIDE_THE_BMP


def test_an_rfc8785_signature_that_does_not_hold_is_refused_though_the_other_holds(
        keyring: KeyRing) -> None:
    document = an_odd_file(keyring)
    swapped = {**document, "signature_rfc8785": document["signature"]}
    not_a_string = {**document, "signature_rfc8785": 7}

    assert reason_of(swapped, keyring.public_key_map(), now=SOON) == "bad_signature"
    assert reason_of(not_a_string, keyring.public_key_map(), now=SOON) == "malformed"


def test_a_body_that_rfc8785_cannot_express_gets_only_the_json_dumps_signature(
        keyring: KeyRing) -> None:
    beyond_a_double = 2**53 + 1
    document = a_file(keyring, licenses=[a_license(seats=beyond_a_double)])

    assert "signature_rfc8785" not in document
    verified = verify_license_file(document, keyring.public_key_map(), now=SOON)
    assert verified.checked_by == "json.dumps"
    assert verified.licenses[0]["seats"] == beyond_a_double
