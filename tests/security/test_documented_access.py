"""The role table of docs/api.md, read from the document itself, against the running API: a
tick is an answer (anything but 401 and 403), an empty cell a 403, "own customer only" an
answer for the key's own customer and a 403 for any other. The document is the promise, so
it is the oracle here, not the code's own access table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import envelope
from tests.integration.test_api_harness import Api, running_api, sqlite

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ROLES = ("admin", "billing", "service", "auditor", "customer", "catalog_editor")
MOMENT = "2026-03-01T00:00:00Z"


def documented_rows() -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, {role: cell}) for each row of the role table that names one route."""
    text = API_MD.read_text(encoding="utf-8")
    table = text[text.index("| | admin | billing | service | auditor | customer |"):]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        routes = re.findall(r"`(GET|POST) ([^`]+)`", cells[0])
        if len(routes) == 1 and cells[1] != "no key needed":
            method, path = routes[0]
            rows.append((method, path, dict(zip(ROLES, cells[1:], strict=True))))
    return rows


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(sqlite(tmp_path_factory.mktemp("documented"))) as served:
        served.with_catalog().record([envelope("license.granted", "2026-02-01", "lic-1",
                                               customer_id="cust-7", plan="pro")])
        yield served


def ask(client: httpx.Client, method: str, path: str, customer: str) -> httpx.Response:
    path = path.replace("/customers/{id}", f"/customers/{customer}").replace("{id}", "lic-1")
    path = re.sub(r"(as_of|known_at|at)=(?=&|$)", rf"\1={MOMENT}", path)
    if "/explain" in path:  # the feature explained is a required parameter the table leaves out
        path += ("&" if "?" in path else "?") + "feature=sso"
    body = None
    if path == "/v1/events":
        body = envelope("usage.recorded", "2026-03-01", "lic-1", feature="api_calls", quantity=1)
    elif path == "/v1/check":
        body = {"customer_id": customer, "feature": "sso"}
    return client.request(method, path, json=body)


ROWS = documented_rows()


def test_the_role_table_is_read_from_the_document() -> None:
    assert len(ROWS) >= 8 and {m for m, _, _ in ROWS} == {"GET", "POST"}


@pytest.mark.parametrize(("method", "path", "cells"), ROWS, ids=[f"{m} {p}" for m, p, _ in ROWS])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_docs_api_md_promises(api: Api, role: str, method: str, path: str,
                                                  cells: dict[str, str]) -> None:
    client = api.as_role(role, customer="cust-7" if role == "customer" else None)
    answer = ask(client, method, path, "cust-7")
    if not cells[role]:
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden", answer.text
        return
    assert answer.status_code not in (401, 403), answer.text
    if "own customer" in cells[role]:
        other = ask(client, method, path, "cust-8")
        assert other.status_code == 403 and other.json()["code"] == "forbidden", other.text
