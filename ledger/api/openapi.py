"""The OpenAPI document: FastAPI's, with refusals in the contract's shape (`400` with a
`Problem`, not FastAPI's `422`) and the CloudEvents envelope POST /v1/events takes.
`python -m ledger.api docs/openapi.json` writes the committed copy."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ledger.api.bodies import CLOUDEVENT, CLOUDEVENTS_BATCH, JSON
from ledger.api.events import MAX_ENVELOPES
from ledger.api.responses import MEANING
from schemas.envelope import Envelope
from schemas.events import EVENT_TYPES

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schema["properties"]["type"] = {"type": "string", "enum": list(EVENT_TYPES)}
    schema["title"] = "EventEnvelope"
    return schema


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None or operation.get("parameters") \
                    or operation.get("requestBody"):
                responses.setdefault("400", {
                    "description": "Malformed request (`invalid_request`).",
                    "content": {"application/json": {"schema": PROBLEM}}})
            if operation.get("requestBody"):  # bodies.py: JSON only, said by Content-Type
                responses.setdefault("415", {"description": MEANING[415],
                                             "content": {"application/json": {"schema": PROBLEM}}})
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["EventEnvelope"] = envelope_schema()
    one = {"$ref": "#/components/schemas/EventEnvelope"}
    batch = {"type": "array", "maxItems": MAX_ENVELOPES, "items": one}
    content = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    content[JSON] = {"schema": {"oneOf": [one, batch]}}
    content[CLOUDEVENT] = {"schema": one}
    content[CLOUDEVENTS_BATCH] = {"schema": batch}
    return doc
