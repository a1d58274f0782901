"""JSON Schema for integrators: the envelope, each event type's data (versioned), the catalog
and the outbound message.
The committed copies in `schemas/json/` are kept equal to these by a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.catalog import Catalog
from schemas.envelope import Envelope
from schemas.events import DATA_MODELS, DATA_VERSION
from schemas.governance import STEP_MODELS
from schemas.outbound import MESSAGE_VERSION, OutboundEvent

COMMITTED = Path(__file__).parent / "json"


def documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {
        "envelope.schema.json": Envelope.model_json_schema(),
        "catalog.schema.json": Catalog.model_json_schema(),
        f"outbound.v{MESSAGE_VERSION}.schema.json": OutboundEvent.model_json_schema(mode="serialization"),
    }
    for event_type, model in DATA_MODELS.items():
        schema = model.model_json_schema()
        schema["title"] = f"{event_type} data, version {DATA_VERSION}"
        docs[f"data/{event_type}.v{DATA_VERSION}.schema.json"] = schema
    for event_type, model in STEP_MODELS.items():  # recorded by the workflow, never sent in
        schema = model.model_json_schema()
        schema["title"] = f"{event_type} data (recorded, not inbound), version {DATA_VERSION}"
        docs[f"recorded/{event_type}.v{DATA_VERSION}.schema.json"] = schema
    return docs
