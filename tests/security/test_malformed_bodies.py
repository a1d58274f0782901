"""Malformed bodies of every kind: each refused for its own reason, in the documented shape,
and never at the cost of the good envelopes sent beside it (issue 7, items 3, 4, 5, 8)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.builders import envelope
from tests.integration.test_api_harness import Api
from tests.security.conftest import problem

JSON = {"Content-Type": "application/json"}


def grant(license_id: str) -> dict[str, Any]:
    return envelope("license.granted", "2026-02-01", license_id, customer_id="cust-7", plan="pro")


def post(client: httpx.Client, text: str | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/v1/events", content=text, headers=headers if headers is not None else JSON)


HUGE_INTEGER = '{"specversion": "1.0", "id": "big", "data": {"seats": ' + "7" * 5000 + "}}"
DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize("unreadable", [HUGE_INTEGER, DEEP, '{"a": ' + DEEP + "}"],
                         ids=["5000-digit integer", "3000-level array", "3000-level object"])
def test_an_envelope_json_cannot_build_is_rejected_alone(admin: httpx.Client, unreadable: str) -> None:
    first, last = grant("lic-a"), grant("lic-b")
    answer = post(admin, f"[{json.dumps(first)}, {unreadable}, {json.dumps(last)}]")
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["code"] == "invalid_event" and "not JSON" in results[1]["message"]


def test_one_unreadable_envelope_alone_is_a_rejection_not_a_refusal(admin: httpx.Client) -> None:
    answer = post(admin, HUGE_INTEGER)
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["code"] == "invalid_event" and "digits" in result["message"]


@pytest.mark.parametrize("text", ['[{"a": 1}, {"b": ]', '{"a": ' + "1" * 5000 + ', }',
                                  "[" + "7" * 5000 + ", {]", "not json", '"a string"', "12"])
def test_a_body_that_is_not_json_or_not_envelopes_is_an_invalid_request(admin: httpx.Client,
                                                                        text: str) -> None:
    problem(post(admin, text), 400)


def test_a_chunked_body_over_ten_megabytes_gets_the_documented_413(admin: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(11):
            yield b" " * 2**20
        yield b"]"

    assert "exceeds" in problem(post(admin, chunks()), 413)  # type: ignore[arg-type]


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/x-www-form-urlencoded"},
                                     {"Content-Type": "text/plain"},
                                     {"Content-Type": "multipart/form-data; boundary=x"}])
@pytest.mark.parametrize("path", ["/v1/events", "/v1/check"])
def test_a_body_not_sent_as_json_is_refused_saying_so(admin: httpx.Client, path: str,
                                                      headers: dict[str, str]) -> None:
    sent = grant("lic-form") if path == "/v1/events" else {"customer_id": "c", "feature": "f"}
    message = problem(admin.post(path, content=json.dumps(sent), headers=headers), 415)
    assert "Content-Type" in message or "UTF-8" in message
    if path == "/v1/events":
        assert admin.get("/v1/licenses/lic-form").status_code == 404  # nothing was recorded


BODIES = {"/v1/check": {"customer_id": "c", "feature": "f"},
          "/v1/catalog/releases": {"catalog": {"version": "v9", "plans": {}},
                                   "effective_at": "2027-01-01T00:00:00Z"},
          "/v1/events": grant("lic-two-types")}


# Every route whose body FastAPI reads (`errors.JsonSent`), with a body it would take.
BODY_ROUTES = [("POST", "/v1/check"), ("POST", "/v1/catalog/releases"),
               *(("POST", f"/v1/catalog/releases/v9/{step}")
                 for step in ("approve", "reject", "withdraw", "publish")),
               ("PUT", "/v1/governance/policy")]


@pytest.mark.parametrize("header", ["application/json; charset=latin-1", "application/json; charset=utf-16",
                                    "application/vnd.api+json", "application/cloudevents+json", None])
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_every_json_body_is_held_to_json_in_utf8_as_events_are(
        admin: httpx.Client, method: str, path: str, header: str | None) -> None:
    """FastAPI reads any `application/*+json`, and any charset, as JSON; the routes whose body
    it reads refuse them as POST /v1/events does (`None`: two Content-Type headers)."""
    headers: Any = ([("Content-Type", "application/json"), ("Content-Type", "text/plain")]
                    if header is None else {"Content-Type": header})
    sent = BODIES.get(path, {"reason": "r", "digest": "d", "approval_required": True})
    message = problem(admin.request(method, path, content=json.dumps(sent), headers=headers), 415)
    assert ("more than one Content-Type" if header is None else header.split(";")[-1].strip()
            .removeprefix("charset=")) in message
    assert admin.get("/v1/catalog/releases/v9").status_code == 404  # nothing was drafted
    assert admin.get("/v1/governance/policy").json()["approval_required"] is False  # nor set


def test_two_content_types_on_an_event_body_are_refused(admin: httpx.Client) -> None:
    headers = [("Content-Type", "application/json"), ("Content-Type", "text/plain")]
    assert "more than one Content-Type" in problem(
        admin.post("/v1/events", content=json.dumps(BODIES["/v1/events"]), headers=headers), 415)
    assert admin.get("/v1/licenses/lic-two-types").status_code == 404


@pytest.mark.parametrize("raw", [b'{"customer_id": "c\xff", "feature": "f"}',
                                 b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"])
def test_a_check_body_that_is_not_utf8_says_so(admin: httpx.Client, raw: bytes) -> None:
    """Invalid UTF-8, or a compressed body: FastAPI's words were "There was an error parsing the body"."""
    message = problem(admin.post("/v1/check", content=raw, headers=JSON), 400)
    assert message.startswith("body: the body is not UTF-8 text"), message


def test_an_event_body_in_another_charset_than_utf8_is_refused_saying_so(admin: httpx.Client) -> None:
    headers = {"Content-Type": "application/json; charset=latin-1"}
    assert "UTF-8" in problem(post(admin, json.dumps(grant("lic-l1")), headers), 415)


def test_the_cloudevents_media_types_are_accepted(admin: httpx.Client) -> None:
    one = post(admin, json.dumps(grant("lic-ce")), {"Content-Type": "application/cloudevents+json"})
    batch = post(admin, json.dumps([grant("lic-ce2")]),
                 {"Content-Type": "application/cloudevents-batch+json; charset=utf-8"})
    assert [one.json()["results"][0]["status"], batch.json()["results"][0]["status"]] == \
        ["accepted", "accepted"]


def test_a_cloudevents_media_type_must_match_the_bodys_shape(admin: httpx.Client) -> None:
    problem(post(admin, json.dumps([grant("x")]), {"Content-Type": "application/cloudevents+json"}), 400)
    problem(post(admin, json.dumps(grant("x")),
                 {"Content-Type": "application/cloudevents-batch+json"}), 400)


def raw_request(api: Api, request: bytes) -> bytes:
    """A request as bytes on a socket: no client library to tidy the path or the Host."""
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("path", ["/metrics/", "/healthz/", "/v1/check/", "/v1/license-files/keys/"])
def test_a_trailing_slash_is_a_404_not_a_redirect_built_from_the_host_header(api: Api,
                                                                            path: str) -> None:
    answer = raw_request(api, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n"
                              "Connection: close\r\n\r\n".encode())
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404") and b"evil.example" not in answer
    assert b"location" not in head.lower()
    assert json.loads(text)["code"] == "not_found"


def test_an_unknown_route_is_a_404_in_the_documented_shape(admin: httpx.Client) -> None:
    assert "/v2/nothing" in problem(admin.get("/v2/nothing"), 404, "not_found")


@pytest.mark.parametrize("query", ["as_of=2026-01-01T00:00:00Z&as_of=2027-01-01T00:00:00Z",
                                   "known_at=2026-01-01T00:00:00Z&known_at=2026-01-01T00:00:00Z"])
def test_a_repeated_query_parameter_is_refused_like_an_unknown_one(admin: httpx.Client,
                                                                   query: str) -> None:
    message = problem(admin.get(f"/v1/customers/cust-7/entitlements?{query}"), 400)
    assert query.split("=")[0] in message and "once" in message


def test_a_repeated_query_parameter_on_health_is_refused_too(api: Api) -> None:
    problem(httpx.get(f"{api.url}/healthz?x=1&x=2"), 400)


@pytest.mark.parametrize("value", ["1764547200", "20271201", "2027-12-01", "2027-12-01T00:00Z"])
@pytest.mark.parametrize("name", ["as_of", "known_at"])
def test_a_query_time_that_is_not_rfc3339_is_refused_naming_the_parameter(
        admin: httpx.Client, name: str, value: str) -> None:
    message = problem(admin.get("/v1/customers/cust-7/entitlements", params={name: value}), 400)
    assert name in message and "RFC 3339" in message


@pytest.mark.parametrize(("text", "reason"), [
    ('{"customer_id": "c", "feature": "f", "quantity": ' + "9" * 5000 + "}", "digits"),
    ('{"customer_id": ' + DEEP + ', "feature": "f"}', "nested too deeply")])
def test_a_check_json_cannot_build_is_an_invalid_request_that_says_why(admin: httpx.Client,
                                                                      text: str, reason: str) -> None:
    assert reason in problem(admin.post("/v1/check", content=text, headers=JSON), 400)
