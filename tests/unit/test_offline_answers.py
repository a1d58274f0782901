"""Offline answers (a license file, the last states streamed) go by the clock from the
document alone (`LicenseState.aged`), and the client goes by the newer of the two: a review
found a file issued while active still `allowed` after its term, usage never starting
again, and a suspension streamed before an outage undone by an older file."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.client import EntitlementClient, _Customer
from ledger.domain.state import LicenseState
from ledger.licensefile.issue import issue_license_file
from ledger.licensefile.keys import KeyRing, SigningKey
from ledger.licensefile.verify import public_keys_from_published

T0 = datetime(2026, 3, 31, 12, tzinfo=UTC)


def document(status: str = "active", **changed: Any) -> dict[str, Any]:
    usable = status in ("trial", "active", "grace")
    return {"license_id": "lic-1", "tenant": "acme", "customer_id": "c1", "plan": "pro",
            "status": status, "seats": 5, "seats_assigned": [],
            "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-04-10T00:00:00Z",
            "region": None, "catalog_version": "v1", "last_event_id": "e1",
            "features": {"sso": {"enabled": usable},
                         "api_calls": {"enabled": usable, "limit": 100, "period": "month", "used": 40},
                         "exports": {"enabled": usable, "limit": 9, "period": "total", "used": 3}},
            **changed}


def aged(doc: dict[str, Any], later: datetime) -> dict[str, Any]:
    return LicenseState.from_dict(doc, T0).aged(later).as_dict()


def test_a_document_ages_by_its_terms_and_its_usage_months() -> None:
    assert aged(document(), T0 - timedelta(days=1)) == document()  # earlier: as it was
    april = aged(document(), T0 + timedelta(days=2))  # a new month: monthly usage from 0
    assert april["status"] == "active"
    assert april["features"]["api_calls"]["used"] == 0
    assert april["features"]["exports"]["used"] == 3  # "total" goes on counting
    ended = aged(document(), datetime(2026, 4, 10, tzinfo=UTC))
    assert ended["status"] == "expired"  # the plan's grace is not in the document
    assert not any(f["enabled"] for f in ended["features"].values())
    assert aged(document("trial"), datetime(2026, 4, 11, tzinfo=UTC))["status"] == "expired"
    in_grace = document("grace", ends_at="2026-03-30T00:00:00Z")
    assert aged(in_grace, datetime(2026, 4, 2, tzinfo=UTC))["status"] == "grace"
    # pending stays pending: a suspension while pending, or a trial, is not in the document
    pending = aged(document("pending", starts_at="2026-04-01T00:00:00Z"),
                   datetime(2026, 4, 1, tzinfo=UTC))
    assert pending["status"] == "pending" and pending["features"]["sso"]["enabled"] is False
    for status in ("revoked", "suspended"):
        assert aged(document(status), T0 + timedelta(days=2))["status"] == status
    assert aged(document("suspended"), datetime(2026, 5, 1, tzinfo=UTC))["status"] == "expired"


def test_the_client_offline_goes_by_the_newer_source_aged_to_now() -> None:
    key = SigningKey.generate()
    keyring = KeyRing([key], key.key_id)
    file = issue_license_file(keyring, "acme", "c1", [document()], {"sequence": 1, "hash": "0" * 64},
                              T0)
    now = [T0 + timedelta(hours=1)]
    client = EntitlementClient("http://127.0.0.1:9", "ldg_x", license_files={"c1": file},
                               public_keys=public_keys_from_published({"keys": keyring.public_keys()}), clock=lambda: now[0])
    answer = client.check("c1", "sso")
    assert (answer.source, answer.allowed) == ("license_file", True)
    now[0] = datetime(2026, 4, 10, 1, tzinfo=UTC)  # past the term, the file still valid
    answer = client.check("c1", "sso")
    assert (answer.source, answer.reason) == ("license_file", "expired")
    # a suspension streamed after the file was issued, then the stream broke
    streamed_at = T0 + timedelta(hours=2)
    client._customers["c1"] = _Customer(
        [LicenseState.from_dict(document("suspended"), streamed_at)], False, 1.0,
        threading.Event(), streamed_at)
    now[0] = T0 + timedelta(hours=3)
    answer = client.check("c1", "sso")
    assert (answer.source, answer.reason) == ("ledger_stale", "suspended")
    # a file issued after what was streamed wins
    newer = issue_license_file(keyring, "acme", "c1", [document()], {"sequence": 2, "hash": "1" * 64},
                               T0 + timedelta(hours=2, minutes=30))
    client._files["c1"] = newer
    assert client.check("c1", "sso").source == "license_file"


def test_a_stale_event_on_the_stream_ends_the_live_answers_until_the_next_document() -> None:
    client = EntitlementClient("http://127.0.0.1:9", "ldg_x", clock=lambda: T0)
    held = _Customer([], False, 0.0, threading.Event())
    client._customers["c1"] = held
    doc = {"customer_id": "c1", "as_of": "2026-03-31T12:00:00Z", "known_at": "2026-03-31T12:00:00Z",
           "licenses": [document()]}
    text = (f"event: entitlements\ndata: {json.dumps(doc)}\n\n"
            'event: stale\ndata: {"stale_seconds": 3.5}\n\n')
    client._read("c1", held, [line.encode() + b"\n" for line in text.split("\n")])
    answer = client.check("c1", "sso")
    assert (answer.source, answer.allowed) == ("ledger_stale", True)
    client._read("c1", held, [line.encode() + b"\n" for line in text.split("\n")[:3]])
    assert client.check("c1", "sso").source == "ledger"
