"""The repository documents its own formats: docs/events.md covers every event type and field,
docs/catalog.md's catalogs are the examples', the JSON Schemas describe every field, and the
examples are what their generator writes."""

from __future__ import annotations

import json
import re
import runpy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ledger.cli.catalogs import _from_toml
from schemas.catalog import meaning
from schemas.envelope import Envelope, parse_envelope
from schemas.events import DATA_MODELS
from schemas.export import documents

ROOT = Path(__file__).parents[2]
EVENTS_DOC = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
CATALOG_DOC = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def sections(text: str) -> dict[str, str]:
    """Each `### ...` heading's text, by every `type` it names."""
    found: dict[str, str] = {}
    for heading, body in re.findall(r"^### (.*?)\n(.*?)(?=^##|\Z)", text, re.M | re.S):
        for name in re.findall(r"`([a-z_.]+)`", heading):
            found[name] = body
    return found


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_every_event_type_and_each_of_its_fields_is_documented(event_type: str) -> None:
    body = sections(EVENTS_DOC).get(event_type)
    assert body is not None, f"docs/events.md has no '### `{event_type}`' section"
    if event_type != "catalog.published":
        for field in DATA_MODELS[event_type].model_fields:
            assert f"`{field}`" in body, f"{event_type}: field {field} is not documented"


def test_every_envelope_attribute_is_documented() -> None:
    for name in Envelope.model_fields:
        assert f"| `{name}`" in EVENTS_DOC or f"`{name}`, `" in EVENTS_DOC or f", `{name}` |" in EVENTS_DOC, name


def test_every_example_envelope_in_the_events_doc_is_valid() -> None:
    examples = [json.loads(b) for b in blocks(EVENTS_DOC, "json")]
    assert len(examples) >= 4
    for example in examples:
        parse_envelope(example, text=False)  # raises, naming the field, if not
    assert set(examples[0]) == set(Envelope.model_fields) - {"tracestate", "partitionkey"}


def test_the_catalog_doc_shows_the_examples_catalog_in_json_and_toml_with_one_meaning() -> None:
    [as_json] = blocks(CATALOG_DOC, "json")
    [as_toml] = blocks(CATALOG_DOC, "toml")
    assert json.loads(as_json) == json.loads((ROOT / "examples" / "catalog.json").read_text())
    committed_toml = (ROOT / "examples" / "catalog.toml").read_text()
    assert tomllib.loads(as_toml) == tomllib.loads(committed_toml)
    assert meaning(json.loads(as_json)) == meaning(_from_toml(tomllib.loads(as_toml)))


def _undescribed(schema: dict[str, Any], where: str) -> list[str]:
    missing = [f"{where}.{name}" for name, prop in (schema.get("properties") or {}).items()
               if not prop.get("description")]
    for name, sub in (schema.get("$defs") or {}).items():
        missing += _undescribed(sub, f"{where}/{name}")
    return missing


def test_every_field_of_every_exported_json_schema_is_described() -> None:
    missing = [m for name, doc in documents().items() for m in _undescribed(doc, name)]
    assert missing == []


def test_fields_sharing_rules_keep_their_own_descriptions() -> None:
    granted = documents()["data/license.granted.v1.schema.json"]["properties"]["plan"]
    upgraded = documents()["data/license.upgraded.v1.schema.json"]["properties"]["plan"]
    assert granted["description"] != upgraded["description"]


def test_the_examples_events_are_what_their_generator_writes() -> None:
    generated = runpy.run_path(str(ROOT / "examples" / "make_events.py"))["events"]()
    committed = [json.loads(line) for line in (ROOT / "examples" / "events.jsonl").read_text().splitlines()]
    assert committed == generated
    for envelope in committed:
        parse_envelope(envelope, text=False)
    assert {e["type"] for e in committed} >= set(DATA_MODELS) - {"catalog.published"}
