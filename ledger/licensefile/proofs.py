"""The reference verifier for signed tree heads and Merkle proofs, meant to be copied into
products and auditors' tools beside `verify.py`.

It needs the standard library, `cryptography` (Ed25519) and `rfc8785` (the JSON
Canonicalization Scheme, one pure-Python file) and imports nothing of the ledger. A tree head
is trusted when its Ed25519 signature over the RFC 8785 form of `tree_head` holds; a proof is
checked against trusted heads with the algorithms of RFC 9162 sections 2.1.3.2 (inclusion) and
2.1.4.2 (consistency), written out here independently of the code that makes the proofs.

Reasons, in the order they are checked: `unknown_key`, `bad_signature` (also a head document
that cannot be read), `bad_proof` (a proof that is malformed, or whose tenant or tree size is
not the head's), `root_mismatch` (the path does not lead to the head's root).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Literal

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHM = "Ed25519"
ProofReason = Literal["unknown_key", "bad_signature", "bad_proof", "root_mismatch"]


class ProofError(Exception):
    """A head or proof not to trust; `reason` is the stable code."""

    def __init__(self, reason: ProofReason, message: str) -> None:
        super().__init__(message)
        self.reason: ProofReason = reason


def tree_head_signing_input(tree_head: dict[str, Any]) -> bytes:
    """The exact bytes a tree head's (or an audit manifest's) signature covers: its RFC 8785
    canonical form."""
    return rfc8785.dumps(tree_head)


def verify_signed(document: dict[str, Any] | str | bytes, field: str,
                  public_keys: dict[str, str] | str) -> dict[str, Any]:
    """The body under `field` of a document {field: body, key_id, algorithm, signature} whose
    Ed25519 signature over the RFC 8785 form of the body holds (tree heads, audit manifests)."""
    what = field.replace("_", " ")
    signed = _json_object(document, "bad_signature", what)
    body = signed.get(field)
    if signed.get("algorithm") != ALGORITHM or not isinstance(body, dict) \
            or not isinstance(signed.get("key_id"), str) or not isinstance(signed.get("signature"), str):
        raise ProofError("bad_signature", f"not a signed {what} ({field}, key_id, algorithm "
                                          "Ed25519, signature)")
    key = _public_key(signed["key_id"], public_keys)
    try:
        key.verify(base64.b64decode(signed["signature"], validate=True), tree_head_signing_input(body))
    except (binascii.Error, ValueError, InvalidSignature, rfc8785.CanonicalizationError):
        raise ProofError("bad_signature", f"the {what}'s signature does not hold for key "
                                          f"{signed['key_id']}") from None
    return dict(body)


def verify_tree_head(document: dict[str, Any] | str | bytes,
                     public_keys: dict[str, str] | str) -> dict[str, Any]:
    """The signed `tree_head` ({tenant, tree_size, root_hash, timestamp}), or ProofError.
    `public_keys`: one base64 key, or key_id -> base64 key as GET /v1/license-files/keys lists."""
    body = verify_signed(document, "tree_head", public_keys)
    if not (isinstance(body.get("tenant"), str) and _count(body.get("tree_size"))
            and _digest(body.get("root_hash")) is not None and isinstance(body.get("timestamp"), str)):
        raise ProofError("bad_signature", "the signed tree head lacks tenant, tree_size, "
                                          "root_hash or timestamp")
    return body


def verify_proof(proof: dict[str, Any] | str | bytes, heads: list[dict[str, Any] | str | bytes],
                 public_keys: dict[str, str] | str) -> dict[str, Any]:
    """Check an inclusion proof against the head of its tree_size, or a consistency proof
    against the heads of its first and second sizes; returns the proof."""
    return check_proof(proof, [verify_tree_head(h, public_keys) for h in heads])


def check_proof(proof: dict[str, Any] | str | bytes, trusted: list[dict[str, Any]]) -> dict[str, Any]:
    """`verify_proof` against heads already verified (the `tree_head` bodies
    `verify_tree_head` returned): for checking many proofs against one head."""
    found = _json_object(proof, "bad_proof", "proof")
    if "audit_path" in found:
        _inclusion(found, trusted)
    elif "consistency_path" in found:
        _consistency(found, trusted)
    else:
        raise ProofError("bad_proof", "neither an inclusion proof (audit_path) nor a consistency "
                                      "proof (consistency_path)")
    return found


def _head_of(trusted: list[dict[str, Any]], tenant: Any, size: Any) -> dict[str, Any]:
    for head in trusted:
        if head["tenant"] == tenant and head["tree_size"] == size:
            return head
    sizes = ", ".join(f"{h['tenant']}:{h['tree_size']}" for h in trusted) or "none"
    raise ProofError("bad_proof", f"the proof is for tenant {tenant!r} at tree size {size}, "
                                  f"but the heads given are {sizes}")


def _inclusion(proof: dict[str, Any], trusted: list[dict[str, Any]]) -> None:
    size, sequence = _count(proof.get("tree_size")), _count(proof.get("sequence"))
    index = proof.get("leaf_index")
    event, leaf = _digest(proof.get("event_hash")), _digest(proof.get("leaf_hash"))
    path = _path(proof.get("audit_path"))
    if not (size and sequence and sequence <= size and type(index) is int and index == sequence - 1
            and event and leaf and path is not None):
        raise ProofError("bad_proof", "malformed inclusion proof: needs sequence = leaf_index + 1 "
                                      "<= tree_size, hex event_hash and leaf_hash, audit_path")
    if leaf != hashlib.sha256(b"\x00" + event).digest():
        raise ProofError("bad_proof", "leaf_hash is not SHA-256(0x00 || event_hash)")
    head = _head_of(trusted, proof.get("tenant"), size)
    if not _inclusion_root_matches(sequence - 1, size, leaf, path, bytes.fromhex(head["root_hash"])):
        raise ProofError("root_mismatch", f"the audit path of sequence {sequence} does not lead "
                                          f"to the root of the tree of size {size}")


def _consistency(proof: dict[str, Any], trusted: list[dict[str, Any]]) -> None:
    first, second = _count(proof.get("first")), _count(proof.get("second"))
    path = _path(proof.get("consistency_path"))
    if not (first and second and first <= second and path is not None):
        raise ProofError("bad_proof", "malformed consistency proof: needs 0 < first <= second "
                                      "and a consistency_path")
    old = _head_of(trusted, proof.get("tenant"), first)
    new = _head_of(trusted, proof.get("tenant"), second)
    if not _consistent(first, second, bytes.fromhex(old["root_hash"]),
                       bytes.fromhex(new["root_hash"]), path):
        raise ProofError("root_mismatch", f"the tree of size {first} is not shown to be a prefix "
                                          f"of the tree of size {second}")


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _inclusion_root_matches(fn: int, size: int, r: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    sn = size - 1
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def _consistent(first: int, second: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2 (equal sizes: an empty path and equal roots)."""
    if first == second:
        return not path and old == new
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [old, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


def _count(value: Any) -> int | None:
    """A positive integer (not a bool), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _digest(value: Any) -> bytes | None:
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _path(value: Any) -> list[bytes] | None:
    if not isinstance(value, list) or len(value) > 64:
        return None
    found = [_digest(v) for v in value]
    return None if any(f is None for f in found) else [f for f in found if f is not None]


def _json_object(document: Any, reason: ProofReason, what: str) -> dict[str, Any]:
    if isinstance(document, (bytes, bytearray, str)):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise ProofError(reason, f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise ProofError(reason, f"the {what} is not a JSON object")
    return document


def _public_key(key_id: str, public_keys: dict[str, str] | str) -> Ed25519PublicKey:
    if isinstance(public_keys, str):
        encoded = public_keys
    elif key_id in public_keys:
        encoded = public_keys[key_id]
    else:
        raise ProofError("unknown_key", f"the tree head is signed by unknown key {key_id}")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:  # the caller's mistake, not the document's
        raise ValueError("a public key is the base64 of a 32-byte Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(raw)
