"""Issue offline license files: a customer's entitlements, signed so a product can trust them.

The document is the contract's: the `license` body, the id of the key that signed it, and an
Ed25519 signature over the body's canonical JSON (see `verify.canonical_json`), plus, by the
same key over the same body, `signature_rfc8785` over its RFC 8785 form (`verify.rfc8785_json`):
the first stays because external verifiers rely on it; the second is the form every
language reproduces without imitating Python's key order. A body RFC 8785 cannot express (an
integer beyond 2**53) gets the first only, and verifiers fall back to it. The body
carries the tenant chain's head so a product can refuse a file older than one it has seen,
and an `expires_at` so it must check in again. Times are whole seconds in UTC with `Z`.
"""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.licensefile.keys import KeyRing
from ledger.licensefile.verify import ALGORITHM, canonical_json, rfc8785_json

DEFAULT_VALIDITY = timedelta(days=30)


def issue_license_file(
    keyring: KeyRing,
    tenant: str,
    customer_id: str,
    licenses: list[dict[str, Any]],
    head: dict[str, Any],
    issued_at: datetime,
    valid_for: timedelta = DEFAULT_VALIDITY,
    tree_head: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Sign `licenses` (states of contract section 3) for one customer with the active key.

    Refuses a license of another tenant or customer: a file never carries anyone else's data.
    `tree_head`, the signed tree head of the tenant's log at `head.sequence`, is carried as
    `license.tree_head` and so signed again as part of the license.
    """
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must carry a time zone")
    if valid_for <= timedelta(0):
        raise ValueError("a license file must be valid for a positive time")
    for state in licenses:
        owner = (state.get("tenant", tenant), state.get("customer_id", customer_id))
        if owner != (tenant, customer_id):
            raise ValueError(f"license {state.get('license_id')} is not of {tenant}/{customer_id}")
    sequence, chain_hash = head.get("sequence"), head.get("hash")
    if (
        not isinstance(sequence, int)
        or isinstance(sequence, bool)
        or not isinstance(chain_hash, str)
    ):
        raise ValueError("head must be {'sequence': int, 'hash': str}")
    if tree_head is not None and tree_head.get("tree_head", {}).get("tree_size") != sequence:
        raise ValueError("the tree head's tree_size must equal head.sequence")

    issued = issued_at.astimezone(UTC).replace(microsecond=0)
    body = {
        "tenant": tenant,
        "customer_id": customer_id,
        "issued_at": _rfc3339(issued),
        "expires_at": _rfc3339(issued + valid_for),
        "head": {"sequence": sequence, "hash": chain_hash},
        "licenses": licenses,
    }
    if tree_head is not None:
        body["tree_head"] = tree_head
    signed = canonical_json(body)
    key = keyring.active
    # Parsed back from the signed bytes, so the document holds exactly what was signed; the
    # RFC 8785 bytes are taken from that same parsed body.
    parsed = json.loads(signed)
    document = {
        "license": parsed,
        "key_id": key.key_id,
        "algorithm": ALGORITHM,
        "signature": base64.b64encode(key.sign(signed)).decode("ascii"),
    }
    jcs = rfc8785_json(parsed)
    if jcs is not None:
        document["signature_rfc8785"] = base64.b64encode(key.sign(jcs)).decode("ascii")
    return document


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
