"""The verifier products and auditors embed (`ledger/licensefile/proofs.py`): every honest
proof verifies against its signed head, and any altered head, proof element, size or leaf is
refused with the contract's reason."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import merkle
from ledger.licensefile import KeyRing, SigningKey
from ledger.licensefile.proofs import ProofError, verify_proof, verify_tree_head
from ledger.licensefile.treehead import sign_tree_head
from tests import rfc9162

KEY = SigningKey.generate()
RING = KeyRing([KEY], KEY.key_id)
PUBLIC = {KEY.key_id: KEY.public_key_base64()}
EVENTS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(200)]
LEAVES = [merkle.leaf_hash(h) for h in EVENTS]


def perfect(level: int, index: int) -> bytes:
    return rfc9162.mth(LEAVES[index << level:(index + 1) << level])


def head(size: int, tenant: str = "acme") -> dict:
    return sign_tree_head(RING, tenant, size, merkle.root(size, perfect).hex(), datetime.now(UTC))


def inclusion(sequence: int, size: int) -> dict:
    return {"tenant": "acme", "sequence": sequence, "leaf_index": sequence - 1, "tree_size": size,
            "leaf_hash": LEAVES[sequence - 1].hex(), "event_hash": EVENTS[sequence - 1],
            "audit_path": [h.hex() for h in merkle.inclusion_path(sequence - 1, size, perfect)]}


def consistency(first: int, second: int) -> dict:
    return {"tenant": "acme", "first": first, "second": second,
            "consistency_path": [h.hex() for h in merkle.consistency_path(first, second, perfect)]}


def reason(proof: dict, heads: list[dict]) -> str:
    with pytest.raises(ProofError) as refused:
        verify_proof(proof, heads, PUBLIC)
    return refused.value.reason


def flip(hex_hash: str) -> str:
    return f"{int(hex_hash[0], 16) ^ 1:x}{hex_hash[1:]}"


@given(st.integers(1, 200), st.data())
def test_every_inclusion_proof_verifies_and_every_alteration_is_refused(size, data):
    sequence = data.draw(st.integers(1, size))
    proof, signed = inclusion(sequence, size), head(size)
    assert verify_proof(proof, [signed], PUBLIC) == proof
    if proof["audit_path"]:
        at = data.draw(st.integers(0, len(proof["audit_path"]) - 1))
        path = list(proof["audit_path"])
        path[at] = flip(path[at])
        assert reason({**proof, "audit_path": path}, [signed]) == "root_mismatch"
        assert reason({**proof, "audit_path": path[:-1]}, [signed]) == "root_mismatch"
    other = EVENTS[sequence % size] if size > 1 else hashlib.sha256(b"x").hexdigest()
    forged = {**proof, "event_hash": other, "leaf_hash": merkle.leaf_hash(other).hex()}
    assert reason(forged, [signed]) == "root_mismatch"
    assert reason({**proof, "leaf_hash": flip(proof["leaf_hash"])}, [signed]) == "bad_proof"
    assert reason(proof, [head(size, "other")]) == "bad_proof"
    body = dict(signed["tree_head"], root_hash=flip(signed["tree_head"]["root_hash"]))
    assert reason(proof, [{**signed, "tree_head": body}]) == "bad_signature"
    assert reason(proof, [{**signed, "key_id": "k-unknown"}]) == "unknown_key"


@given(st.integers(1, 200), st.data())
def test_every_consistency_proof_verifies_and_every_alteration_is_refused(second, data):
    first = data.draw(st.integers(1, second))
    proof, old, new = consistency(first, second), head(first), head(second)
    assert verify_proof(proof, [old, new], PUBLIC) == proof
    if first < second:
        at = data.draw(st.integers(0, len(proof["consistency_path"]) - 1))
        path = list(proof["consistency_path"])
        path[at] = flip(path[at])
        assert reason({**proof, "consistency_path": path}, [old, new]) == "root_mismatch"
        rewritten = dict(old, tree_head={**old["tree_head"], "root_hash": hashlib.sha256(b"r").hexdigest()})
        resigned = sign_tree_head(RING, "acme", first, rewritten["tree_head"]["root_hash"], datetime.now(UTC))
        assert reason(proof, [resigned, new]) == "root_mismatch"  # a rewritten past, honestly signed
        assert reason(proof, [new]) == "bad_proof"  # no head of the first size given


def test_a_head_is_what_its_key_signed_and_nothing_else():
    signed = head(10)
    assert verify_tree_head(signed, PUBLIC)["tree_size"] == 10
    for field, value in [("tenant", "acme2"), ("tree_size", 11), ("timestamp", "2020-01-01T00:00:00Z")]:
        with pytest.raises(ProofError, match="signature"):
            verify_tree_head({**signed, "tree_head": {**signed["tree_head"], field: value}}, PUBLIC)
    with pytest.raises(ProofError) as other_key:
        verify_tree_head(signed, SigningKey.generate().public_key_base64())
    assert other_key.value.reason == "bad_signature"
    for broken in ("not json", "[]", {"tree_head": signed["tree_head"]}):
        with pytest.raises(ProofError) as malformed:
            verify_tree_head(broken, PUBLIC)
        assert malformed.value.reason == "bad_signature"
