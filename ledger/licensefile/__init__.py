"""Offline license files: signed entitlements a product verifies without calling the ledger.

Self-contained: it takes license states (contract section 3) and a chain head as plain values
and knows nothing of the event store. `verify.py` is the reference verifier products copy.
"""

from ledger.licensefile.issue import DEFAULT_VALIDITY, issue_license_file
from ledger.licensefile.keys import KeyRing, KeyRingError, SigningKey
from ledger.licensefile.verify import (
    ALGORITHM,
    LicenseFileError,
    Verified,
    canonical_json,
    public_keys_from_published,
    rfc8785_json,
    verify_license_file,
)

__all__ = [
    "ALGORITHM",
    "DEFAULT_VALIDITY",
    "KeyRing",
    "KeyRingError",
    "LicenseFileError",
    "SigningKey",
    "Verified",
    "canonical_json",
    "issue_license_file",
    "public_keys_from_published",
    "rfc8785_json",
    "verify_license_file",
]
