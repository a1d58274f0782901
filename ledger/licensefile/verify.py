"""The reference verifier for offline license files, meant to be copied into products.

It depends on the standard library and `cryptography` (and, if installed, `rfc8785`, one
pure-Python file) and imports nothing else from the ledger, so a product can vendor this one
file. A file carries two Ed25519 signatures by the same key over the same `license` body:
`signature` over the contract's `json.dumps(sort_keys=True, ...)` form, which external
verifiers already rely on, and `signature_rfc8785` over its RFC 8785 (JCS) form, which every
language reproduces with a standard library (JavaScript's default key sort is RFC 8785's,
not Python's, for names outside the Basic Multilingual Plane). The RFC 8785 one is checked
when present and `rfc8785` is importable; files issued before it existed, or whose body RFC
8785 cannot express (an integer beyond 2**53), fall back to `signature`. `Verified.checked_by`
says which was checked. A `signature_rfc8785` that is present and checked must hold: an
altered signature is an altered file, even if the other one holds. The body
carries the tenant chain's head; a product remembers the highest `head.sequence` it has seen
and passes it back as `seen_sequence`, which stops a user from restoring an older, more
generous file (rollback). `expires_at` forces a product to check in again.

Checks run in this order and the first that fails is the reason: `malformed` (not a license
file), `unknown_key`, `bad_signature`, `expired`, `older_than_seen`. The shape of the signed
body is judged only once its signature holds, so a tampered body always reads `bad_signature`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature

try:  # optional: without it, files are checked over `signature`, as before RFC 8785 was added
    import rfc8785
except ImportError:  # pragma: no cover -- the ledger itself always has it
    rfc8785 = None  # type: ignore[assignment]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHM = "Ed25519"

Reason = Literal["malformed", "unknown_key", "bad_signature", "expired", "older_than_seen"]
# How a file's signature was checked: the name of the canonical form the signed bytes are in.
CheckedBy = Literal["rfc8785", "json.dumps"]


class LicenseFileError(Exception):
    """A license file the product must not trust; `reason` is the stable code."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class Verified:
    """A license file whose signature, expiry and freshness held."""

    license: dict[str, Any]
    key_id: str
    checked_by: CheckedBy = "json.dumps"

    @property
    def licenses(self) -> list[dict[str, Any]]:
        return list(self.license["licenses"])

    @property
    def head_sequence(self) -> int:
        return int(self.license["head"]["sequence"])

    @property
    def expires_at(self) -> datetime:
        return _parse_time(self.license["expires_at"])


def canonical_json(value: Any) -> bytes:
    """The exact bytes that are signed: the contract's `json.dumps` form, encoded as UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def rfc8785_json(value: Any) -> bytes | None:
    """The bytes `signature_rfc8785` covers: the RFC 8785 form, or None where there is none
    (no `rfc8785` module, or a value RFC 8785 cannot express, such as an integer beyond the
    2**53 that every language's double holds exactly)."""
    if rfc8785 is None:
        return None
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError):
        return None


def verify_license_file(
    document: dict[str, Any] | str | bytes,
    public_keys: dict[str, str] | str,
    now: datetime | None = None,
    seen_sequence: int | None = None,
) -> Verified:
    """Return the signed entitlements, or raise LicenseFileError naming why not to trust them.

    `public_keys` is either one base64 Ed25519 public key (tried whatever the file's key_id) or
    a mapping key_id -> base64 key, as published at `GET /v1/license-files/keys`.
    """
    if now is None:
        now = datetime.now(timezone.utc)  # noqa: UP017 -- this file also runs on older Pythons
    elif now.tzinfo is None:
        raise ValueError("now must carry a time zone")

    envelope = _parse_envelope(document)
    key_id = envelope["key_id"]
    public_key = _public_key_for(key_id, public_keys)

    # The bytes are recomputed from the parsed body, and the body handed back is parsed from
    # those same bytes: what the caller gets is exactly what was signed.
    try:
        signed = canonical_json(envelope["license"])
    except (ValueError, TypeError, RecursionError) as error:
        raise LicenseFileError(
            "malformed", f"the license body is not plain JSON: {error}"
        ) from None
    checked_by: CheckedBy = "json.dumps"
    signature_field, signed_bytes = "signature", signed
    jcs = rfc8785_json(envelope["license"]) if "signature_rfc8785" in envelope else None
    if jcs is not None:
        checked_by, signature_field, signed_bytes = "rfc8785", "signature_rfc8785", jcs
    # Every signature the file carries must hold: RFC 8785 spells a number one way (`10.0`
    # and `1e1` are `10`), so a file whose numbers were spelled anew still matches its
    # signature_rfc8785 but not its signature, over the spelling handed back.
    checks = [(signature_field, signed_bytes)]
    if checked_by == "rfc8785":
        checks.append(("signature", signed))
    for field, content in checks:
        try:
            signature = base64.b64decode(envelope[field], validate=True)
            public_key.verify(signature, content)
        except (binascii.Error, ValueError, InvalidSignature):
            raise LicenseFileError(
                "bad_signature", f"the {field} does not match the content for key {key_id}",
            ) from None

    body: dict[str, Any] = json.loads(signed)
    expires_at, sequence = _signed_fields(body)
    if now >= expires_at:
        raise LicenseFileError(
            "expired", f"the license file expired at {body['expires_at']}; check in again"
        )
    if seen_sequence is not None and sequence < seen_sequence:
        raise LicenseFileError(
            "older_than_seen",
            f"the license file is at sequence {sequence}, older than {seen_sequence} already seen",
        )
    return Verified(license=body, key_id=key_id, checked_by=checked_by)


def public_keys_from_published(published: dict[str, Any]) -> dict[str, str]:
    """Turn the `GET /v1/license-files/keys` answer into the mapping verify_license_file takes."""
    entries = published.get("keys") if isinstance(published, dict) else None
    if not isinstance(entries, list):
        raise LicenseFileError("malformed", "the keys document has no list 'keys'")
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(field), str) for field in ("key_id", "public_key")):
            raise LicenseFileError("malformed", f"keys[{n}] of the keys document is not an "
                                   "object with text 'key_id' and 'public_key'")
    return {
        entry["key_id"]: entry["public_key"]
        for entry in entries
        if entry.get("algorithm") == ALGORITHM
    }


def _parse_envelope(document: dict[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(document, (bytes, bytearray)):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError:
            raise LicenseFileError("malformed", "the license file is not UTF-8") from None
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise LicenseFileError("malformed", "the license file is not JSON") from None
    if not isinstance(document, dict):
        raise LicenseFileError("malformed", "the license file is not a JSON object")
    for field in ("key_id", "algorithm", "signature"):
        if not isinstance(document.get(field), str):
            raise LicenseFileError("malformed", f"the license file has no {field}")
    if not isinstance(document.get("signature_rfc8785", ""), str):
        raise LicenseFileError("malformed", "the license file's signature_rfc8785 is not a string")
    if not isinstance(document.get("license"), dict):
        raise LicenseFileError("malformed", "the license file has no license body")
    if document["algorithm"] != ALGORITHM:
        raise LicenseFileError(
            "malformed", f"the algorithm {document['algorithm']!r} is not {ALGORITHM}"
        )
    return document


def _public_key_for(key_id: str, public_keys: dict[str, str] | str) -> Ed25519PublicKey:
    if isinstance(public_keys, str):
        return _load_public_key(public_keys)
    if key_id not in public_keys:
        raise LicenseFileError("unknown_key", f"the license file is signed by unknown key {key_id}")
    return _load_public_key(public_keys[key_id])


def _load_public_key(encoded: str) -> Ed25519PublicKey:
    # A bad configured key is the caller's mistake, not the file's: ValueError, not a reason.
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise ValueError("a public key is the base64 of a 32-byte Ed25519 key") from None
    if len(raw) != 32:
        raise ValueError("a public key is the base64 of a 32-byte Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(raw)


def _signed_fields(body: dict[str, Any]) -> tuple[datetime, int]:
    head = body.get("head")
    sequence = head.get("sequence") if isinstance(head, dict) else None
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise LicenseFileError("malformed", "the license body has no head sequence")
    if not isinstance(body.get("licenses"), list):
        raise LicenseFileError("malformed", "the license body has no licenses")
    try:
        expires_at = _parse_time(body.get("expires_at"))
    except ValueError as error:
        raise LicenseFileError("malformed", f"the license body's expires_at: {error}") from None
    return expires_at, sequence


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not an RFC 3339 time")
    text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed
