"""`ledger audit verify DIR`: check an audit pack with the vendor's public key only.

Like `ledger/licensefile/proofs.py`, on which it builds, it needs nothing of the ledger's
stores. In order: the manifest's signature; every file against its SHA-256 (no file missing or
added); the tree head's signature; every event's hash recomputed from its content (the chain's
canonical JSON, contract section 7); every event's inclusion proof against the tree head.
`manifest.json` itself must keep its exact layout (JSON, keys sorted, indent 2, UTF-8). The
first failure is the answer, with a reason: `bad_signature`, `unknown_key`, `tampered`,
`bad_proof`, `root_mismatch`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ledger.licensefile.proofs import ProofError, check_proof, verify_signed, verify_tree_head

HASHED = ("tenant", "subject", "type", "effective_at", "recorded_at", "source", "source_event_id",
          "data", "sequence", "prev_hash")


class PackError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def verify_pack(directory: Path, public_keys: dict[str, str] | str) -> dict[str, Any]:
    """The verified manifest body, or PackError naming the first thing that does not hold."""
    try:
        raw = (directory / "manifest.json").read_bytes()
        manifest = verify_signed(raw, "manifest", public_keys)
    except FileNotFoundError:
        raise PackError("tampered", f"{directory} has no manifest.json: not an audit pack") from None
    except ProofError as exc:
        raise PackError(exc.reason, f"manifest.json: {exc}") from None
    # Written in one exact layout, so that not even white space in it can change unnoticed.
    if raw != (json.dumps(json.loads(raw), ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode():
        raise PackError("tampered", "manifest.json is not laid out as written (altered)")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise PackError("tampered", "the manifest lists no files")
    present = {p.name for p in directory.iterdir()} - {"manifest.json"}
    if present != set(listed):
        raise PackError("tampered", f"files missing or added: {sorted(present ^ set(listed))}")
    for name, digest in sorted(listed.items()):
        if hashlib.sha256((directory / name).read_bytes()).hexdigest() != digest:
            raise PackError("tampered", f"{name} is not the file the manifest names (altered)")
    try:
        head_document = json.loads((directory / "tree-head.json").read_bytes())
        head = verify_tree_head(head_document, public_keys)
        events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
        proofs = [json.loads(line) for line in (directory / "proofs.jsonl").read_text().splitlines()]
    except ProofError as exc:
        raise PackError(exc.reason, f"tree-head.json: {exc}") from None
    except ValueError as exc:
        raise PackError("tampered", f"a file of the pack is not JSON: {exc}") from None
    if head["tenant"] != manifest.get("tenant") or head["tree_size"] != manifest.get("tree_size"):
        raise PackError("bad_proof", "the tree head is not of the manifest's tenant and size")
    if len(events) != len(proofs):
        raise PackError("bad_proof", f"{len(events)} events but {len(proofs)} proofs")
    for event, proof in zip(events, proofs, strict=True):
        _check_event(event, proof, head)
    return manifest


def _check_event(event: dict[str, Any], proof: dict[str, Any], head: dict[str, Any]) -> None:
    where = f"event sequence {event.get('sequence')}"
    text = json.dumps({k: event.get(k) for k in HASHED}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    if hashlib.sha256(text.encode()).hexdigest() != event.get("hash"):
        raise PackError("tampered", f"{where}: its content does not match its hash")
    if proof.get("event_hash") != event["hash"] or proof.get("sequence") != event.get("sequence"):
        raise PackError("bad_proof", f"{where}: its proof is for another event")
    try:
        check_proof(proof, [head])
    except ProofError as exc:
        raise PackError(exc.reason, f"{where}: {exc}") from None
