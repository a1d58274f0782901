"""Request bodies as the API reads them: JSON only, said so by `Content-Type`, and for
POST /v1/events the CloudEvents HTTP binding's media types too.

FastAPI reads a body whole or not at all: one envelope its JSON reader will not build (an
integer of 5,000 digits, nesting 3,000 deep) would make the whole batch a 400 and lose the good
envelopes with it. So POST /v1/events reads its body here: when the whole cannot be read, the
top-level array is cut into its elements and each is read, and refused, on its own."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from ledger.api.errors import JSON, ApiError, invalid_request, media_type, unsupported_media_type
from schemas.envelope import EnvelopeText, load_json

CLOUDEVENT = "application/cloudevents+json"  # one envelope (structured mode)
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"  # a JSON array of envelopes
EVENT_MEDIA_TYPES = (JSON, CLOUDEVENT, CLOUDEVENTS_BATCH)


async def posted_envelopes(request: Request) -> list[Any]:
    """The envelopes of a POST /v1/events body, in order: values where JSON could build them,
    `EnvelopeText` where only that envelope could not be read. Malformed JSON is a 400."""
    refusal = unsupported_media_type(request, EVENT_MEDIA_TYPES)
    if refusal is not None:
        raise refusal
    raw = await request.body()
    try:
        payload = load_json(raw)
    except json.JSONDecodeError as exc:
        raise not_json(exc) from None
    except ValueError:
        payload = _one_by_one(raw)
    single = isinstance(payload, dict | EnvelopeText)
    if not single and not isinstance(payload, list):
        raise invalid_request("body: must be one envelope (a JSON object) or a JSON array of them")
    sent, _ = media_type(request)
    if sent == CLOUDEVENT and not single:
        raise invalid_request(f"body: {CLOUDEVENT} is one envelope; send an array as "
                              f"{CLOUDEVENTS_BATCH}")
    if sent == CLOUDEVENTS_BATCH and single:
        raise invalid_request(f"body: {CLOUDEVENTS_BATCH} is a JSON array of envelopes")
    return [payload] if single else payload


def not_json(exc: json.JSONDecodeError) -> ApiError:
    return invalid_request(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno}")


def _one_by_one(raw: bytes) -> Any:
    """A body JSON could not build as a whole: each element of its array on its own. Anything
    but an array (or one object) of well-formed JSON is malformed, as a whole."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request("the body is not UTF-8 text") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        return _unreadable(stripped)
    elements = split_array(stripped)
    if elements is None:
        raise invalid_request("the body is not valid JSON")
    envelopes: list[Any] = []
    for element in elements:
        try:
            envelopes.append(load_json(element))
        except json.JSONDecodeError as exc:
            raise not_json(exc) from None
        except ValueError:
            envelopes.append(_unreadable(element))
    return envelopes


def _unreadable(text: str) -> EnvelopeText:
    """An envelope to refuse alone, once its syntax is known good as far as it can be read:
    long integers are checked as text; what is nested too deeply cannot be checked at all."""
    try:
        json.loads(text, parse_int=len)
    except json.JSONDecodeError as exc:
        raise not_json(exc) from None
    except (RecursionError, ValueError):
        pass
    return EnvelopeText(text.encode("utf-8"))


# Strings (with their escapes) and the characters that open, close or separate values.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},"]', re.DOTALL)
_CLOSER = {"[": "]", "{": "}"}


def split_array(text: str) -> list[str] | None:
    """The element texts of the JSON array `text`, without building any value (so no depth
    or digit limit applies); None if `text` is not an array with balanced brackets."""
    if not text.startswith("[") or not text.endswith("]"):
        return None
    expected: list[str] = []
    elements: list[str] = []
    start = 1
    for token in _TOKENS.finditer(text):
        mark = token.group()
        if mark in _CLOSER:
            expected.append(_CLOSER[mark])
        elif mark in ("]", "}"):
            if not expected or expected.pop() != mark:
                return None
            if not expected and token.end() != len(text):
                return None
        elif mark == '"':  # a quote that opens no complete string
            return None
        elif mark == "," and len(expected) == 1:
            elements.append(text[start:token.start()])
            start = token.end()
    if expected:
        return None
    last = text[start:-1]
    if last.strip() or elements:
        elements.append(last)
    return elements
