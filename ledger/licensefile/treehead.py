"""Sign a tenant's tree head with the active license-file key (contract section 7): the
signature covers the RFC 8785 form of `tree_head`, which every language reproduces."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from ledger.licensefile.keys import KeyRing
from ledger.licensefile.proofs import ALGORITHM, tree_head_signing_input


def sign_tree_head(keyring: KeyRing, tenant: str, tree_size: int, root_hash: str,
                   signed_at: datetime) -> dict[str, Any]:
    """The signed tree head document: {tree_head, key_id, algorithm, signature}."""
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must carry a time zone")
    body = {"tenant": tenant, "tree_size": tree_size, "root_hash": root_hash,
            "timestamp": signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return sign_document(keyring, "tree_head", body)


def sign_document(keyring: KeyRing, field: str, body: dict[str, Any]) -> dict[str, Any]:
    """{field: body, key_id, algorithm, signature}, signed over the body's RFC 8785 form with
    the active key (`proofs.verify_signed` checks it)."""
    key = keyring.active
    return {field: body, "key_id": key.key_id, "algorithm": ALGORITHM,
            "signature": base64.b64encode(key.sign(tree_head_signing_input(body))).decode("ascii")}
