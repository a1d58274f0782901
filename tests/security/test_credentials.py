"""The credential's spellings: the lenient ones docs/api.md names work, and no other spelling
ever reaches a key lookup (issue 7 item 9)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.api.credentials import bearer_key
from tests.integration.test_api_harness import Api, running_api, sqlite


class RecordingKeys:
    """The real key table, remembering every key it was asked to look up."""

    def __init__(self, keys: Any):
        self.keys = keys
        self.looked_up: list[str] = []

    def authenticate(self, key: str) -> Any:
        self.looked_up.append(key)
        return self.keys.authenticate(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.keys, name)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, RecordingKeys]]:
    holder: dict[str, RecordingKeys] = {}

    def configure(options: dict[str, Any]) -> None:
        holder["keys"] = options["keys"] = RecordingKeys(options["keys"])

    with running_api(sqlite(tmp_path_factory.mktemp("credentials")), configure=configure) as api:
        yield api, holder["keys"]


@pytest.fixture
def recorded(served: tuple[Api, RecordingKeys]) -> tuple[Api, RecordingKeys]:
    """The served API, its record of lookups emptied for this test."""
    served[1].looked_up.clear()
    return served


LENIENT = ["Bearer {key}", "bearer {key}", "BEARER {key}", "Bearer  {key}", "Bearer {key}  ",
           "Bearer {key}\t"]
OTHER = ["Bearer\t{key}", "Bearer {key}\u00a0", "Bearer \u00a0{key}", "Bearer \x1c{key}",
         "Bearer \x0b{key}", "Bearer \x0c{key}", "Bearer {key}\x85", "Bearer {key} extra",
         "Bearer {key},Bearer {key}", "Token {key}", "Basic {key}", "{key}", "Bearer", "Bearer ",
         "Bearer {key}\x00", "Bearer \"{key}\"", "Bearer {key}=", "Bear er {key}",
         "Bearer\xa0{key}", "Bearer {key}\x1f"]


def send(api: Api, header: str) -> int:
    """The status of a request carrying `header` as its Authorization, byte for byte (latin-1)
    on a socket: no client library to tidy it up or refuse to send it."""
    host, port = api.url.removeprefix("http://").split(":")
    request = (f"GET /v1/licenses/lic-x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               f"Authorization: {header}\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("spelling", LENIENT)
def test_the_documented_lenient_spellings_work(recorded: tuple[Api, RecordingKeys],
                                               spelling: str) -> None:
    api, keys = recorded
    key = api.key("admin")
    assert send(api, spelling.format(key=key)) == 404  # authenticated: there is no such license
    assert keys.looked_up == [key]


@pytest.mark.parametrize("spelling", OTHER)
def test_no_other_spelling_reaches_a_key_lookup(recorded: tuple[Api, RecordingKeys],
                                                spelling: str) -> None:
    api, keys = recorded
    # 401, or 400 where the HTTP parser itself refuses the header; never a lookup.
    assert send(api, spelling.format(key=api.key("admin"))) in (400, 401)
    assert keys.looked_up == []


def test_two_authorization_headers_are_unauthorized_without_a_lookup(
        recorded: tuple[Api, RecordingKeys]) -> None:
    api, keys = recorded
    key = api.key("admin")
    assert send(api, f"Bearer {key}\r\nAuthorization: Bearer {key}") == 401
    assert keys.looked_up == []


@pytest.mark.parametrize("spelling", OTHER)
def test_the_parser_alone_refuses_every_other_spelling(spelling: str) -> None:
    assert bearer_key([spelling.format(key="ldg_" + "a" * 43)]) is None
