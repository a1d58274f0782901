"""The attacks kept in the project: each module plays an adversarial customer, a buggy billing
system or a slow client against the API served as in production, over real HTTP."""

from __future__ import annotations

import httpx

# The API with a catalog, and an admin client of it: the fixtures of the endpoint tests.
from tests.integration.test_api_endpoints import admin, api  # noqa: F401


def problem(answer: httpx.Response, status: int, code: str = "invalid_request") -> str:
    """The message of an error answer in the documented shape, after checking that shape."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "message"} and body["code"] == code and body["message"]
    return str(body["message"])
