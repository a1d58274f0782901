"""The attacks kept in the project: each module plays an adversarial customer, a buggy billing
system or a slow client against the API served as in production, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_api_harness import Api, running_api, sqlite


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(sqlite(tmp_path)) as served:
        yield served.with_catalog()


@pytest.fixture
def admin(api: Api) -> httpx.Client:
    return api.as_role("admin")


def problem(answer: httpx.Response, status: int, code: str = "invalid_request") -> str:
    """The message of an error answer in the documented shape, after checking that shape."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "message"} and body["code"] == code and body["message"]
    return str(body["message"])
