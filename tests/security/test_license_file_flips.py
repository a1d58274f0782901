"""License files as a product receives them from the API, every byte flipped three ways: each
altered file is refused with a known reason, or verifies as exactly the license that was
signed (a change that only re-spells the same JSON, such as white space). Never anything else,
never an exception other than the verifier's own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ledger.licensefile import LicenseFileError, verify_license_file
from tests.builders import envelope
from tests.integration.test_api_harness import running_api, sqlite

REASONS = {"malformed", "unknown_key", "bad_signature", "expired", "older_than_seen"}


def test_every_single_byte_flip_of_a_served_license_file_is_refused_or_changes_nothing(
        tmp_path: Path) -> None:
    with running_api(sqlite(tmp_path)) as api:
        api.with_catalog().record([
            envelope("license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="pro",
                     seats=3, region="DE"),
            envelope("seat.assigned", "2026-02-02", "lic-1", user_id="u-é-1")])
        answer = api.as_role("admin").get("/v1/customers/cust-7/license-file")
        keys = {k["key_id"]: k["public_key"] for k in api.as_role("admin").get(
            "/v1/license-files/keys").json()["keys"]}
    assert answer.status_code == 200
    served = answer.content
    signed = verify_license_file(served, keys).license
    outcomes: Counter[str] = Counter()
    for at in range(len(served)):
        for mask in (0x01, 0x20, 0x80):
            altered = served[:at] + bytes([served[at] ^ mask]) + served[at + 1:]
            try:
                verified = verify_license_file(altered, keys)
            except LicenseFileError as refused:
                assert refused.reason in REASONS
                outcomes[refused.reason] += 1
                continue
            assert verified.license == signed, f"byte {at} ^ {mask:#x} verified as something else"
            outcomes["same license"] += 1
    assert sum(outcomes.values()) == 3 * len(served)
    assert outcomes["bad_signature"] and outcomes["malformed"]
    print(f"\n{3 * len(served)} flips of a {len(served)}-byte license file: {dict(outcomes)}")
