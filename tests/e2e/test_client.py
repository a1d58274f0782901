"""`ledger.client` and its OpenFeature provider against `ledger up`, from outside: answers
as the API's, a change streamed within a second, and the verified license file answering
once the server is stopped — each answer naming its source."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from ledger.client import Answer, EntitlementClient
from ledger.client.openfeature import LedgerProvider
from ledger.licensefile import public_keys_from_published
from schemas.times import format_time
from tests.builders import envelope
from tests.e2e.test_up import Up, free_port


def until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_client_and_the_provider_follow_the_ledger_then_fall_back_to_the_license_file(
        tmp_path: Path) -> None:
    port = free_port()
    up = Up(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {up.key}"},
                             timeout=10)
        license_file = admin.get("/v1/customers/cust-acme/license-file").json()
        keys = public_keys_from_published(admin.get("/v1/license-files/keys").json())
        client = EntitlementClient(base, up.key, license_files={"cust-acme": license_file},
                                   public_keys=keys)
        assert client.watch("cust-acme") is True
        for feature in ("api_calls", "sso", "audit_export"):
            local = client.check("cust-acme", feature)
            remote = admin.post("/v1/check", json={"customer_id": "cust-acme", "feature": feature})
            assert (local.decision.as_dict(), local.source) == (remote.json(), "ledger")

        api.set_provider(LedgerProvider(client))
        flags = api.get_client()
        acme = EvaluationContext(targeting_key="cust-acme")
        details = flags.get_boolean_details("api_calls", False, acme)
        assert (details.value, details.reason, details.variant) == (True, "TARGETING_MATCH", "ok")
        assert details.flag_metadata["license_id"] == "lic-acme-1"
        assert {"limit", "used", "remaining"} <= set(details.flag_metadata)

        suspended = admin.post("/v1/events", json=[envelope(
            "license.suspended", format_time(datetime.now(UTC)), "lic-acme-1",
            reason="payment_failed")])
        assert suspended.json()["results"][0]["status"] == "accepted"
        assert until(lambda: client.check("cust-acme", "sso").reason == "suspended", 1.0)
        details = flags.get_boolean_details("sso", True, acme)
        assert (details.value, details.variant) == (False, "suspended")

        nobody = flags.get_boolean_details("sso", True, EvaluationContext(targeting_key="cust-x"))
        assert (nobody.reason, nobody.variant) == ("TARGETING_MATCH", "no_license")

        up.stop()
        answered: list[Answer] = []
        assert until(lambda: answered.append(client.check("cust-acme", "sso")) or
                     answered[-1].source != "ledger", 5.0)
        # the suspension was streamed after the file was signed: offline, the newer holds
        assert (answered[-1].source, answered[-1].reason) == ("ledger_stale", "suspended")
        # a product that holds only the file goes by it (it was signed before the suspension)
        client.close()
        client = EntitlementClient(base, up.key, license_files={"cust-acme": license_file},
                                   public_keys=keys)
        api.set_provider(LedgerProvider(client))
        answer = client.check("cust-acme", "sso")
        assert (answer.source, answer.allowed, answer.reason) == ("license_file", True, "ok")
        details = flags.get_boolean_details("sso", False, acme)
        assert (details.value, details.reason, details.flag_metadata["source"]) == (
            True, "CACHED", "license_file")
        unknown = flags.get_boolean_details("sso", True, EvaluationContext(targeting_key="cust-y"))
        assert (unknown.value, unknown.reason) == (True, "DEFAULT")
        missing = flags.get_boolean_details("sso", True, EvaluationContext())
        assert (missing.value, missing.error_code) == (True, "TARGETING_KEY_MISSING")
        client.close()
    finally:
        if up.process.poll() is None:
            up.stop()
