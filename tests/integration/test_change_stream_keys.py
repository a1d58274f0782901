"""An open change stream (`GET /v1/customers/{id}/changes`) holds to its key's validity: a
revocation ends it as it stops a plain request with the same key."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.integration.test_check_inline import served  # noqa: F401 - the fixture


def test_a_revoked_key_ends_its_open_change_stream(served: Any) -> None:  # noqa: F811
    """A review found a stream authorised once, at connect, still sending after its key was
    revoked (a plain request with the key got 401). Now the key is asked before each look."""
    fast, _, api, _ = served
    issued = api.keys.create("acme", "service")
    with httpx.Client(base_url=f"http://127.0.0.1:{fast.port}", timeout=10,
                      headers={"Authorization": f"Bearer {issued.key}"}) as client, \
            client.stream("GET", "/v1/customers/c1/changes") as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: entitlements"
        api.keys.revoke(issued.key_id)
        started = time.monotonic()
        rest = list(lines)  # the stream ends: the iteration stops when the server closes it
        assert time.monotonic() - started < 3
        assert not any(line.startswith("event:") for line in rest)
        assert client.get("/v1/customers/c1/entitlements").status_code == 401
