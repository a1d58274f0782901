"""The inbound CloudEvents 1.0 envelope (structured JSON mode), the same on every channel."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.events import DATA_MODELS, DATA_VERSION, PRINTABLE
from schemas.governance import STEP_MODELS
from schemas.times import Time, format_time
from schemas.upcast import upcast

Text = Field(min_length=1, max_length=500, pattern=PRINTABLE)


class Envelope(BaseModel):
    """CloudEvents attributes we accept. Unknown attributes are refused: a typo is not silence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"]
    id: str = Text
    source: str = Text
    type: str
    time: Time
    subject: str = Text
    tenantid: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    datacontenttype: Literal["application/json"] | None = None
    dataschema: str | None = None
    dataversion: int | None = Field(default=None, ge=0, le=DATA_VERSION)
    data: dict[str, Any] = Field(default_factory=dict)
    # CloudEvents extensions that SDKs and tracing add on their own; accepted, not recorded.
    traceparent: str | None = None
    tracestate: str | None = None
    partitionkey: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in DATA_MODELS and value not in STEP_MODELS:
            raise ValueError(f"unknown event type {value!r}; expected one of {', '.join(DATA_MODELS)}")
        return value


@dataclass(frozen=True)
class Inbound:
    """A valid envelope with its `data` checked, upcast and normalised to JSON values."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    tenant: str | None
    data: dict[str, Any]


class InvalidEventError(ValueError):
    """The envelope or its data breaks the schema; `field` names where, the message says which rule."""

    code = "invalid_event"

    def __init__(self, message: str, *, event_id: str | None = None, source: str | None = None):
        super().__init__(message)
        self.event_id = event_id
        self.source = source


def describe(error: ValidationError, prefix: str = "") -> str:
    """Name the field and the rule, in the words of the sender's payload."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in (prefix, *item["loc"]) if p != "")
        message = item["msg"]
        if item["type"] == "timezone_aware":
            message = "time has no zone; add 'Z' or an offset like '+01:00'"
        elif item["type"] == "string_pattern_mismatch" and item.get("ctx", {}).get("pattern") == PRINTABLE:
            message = "must not contain control characters (tabs, new lines, NUL, ...)"
        parts.append(f"field '{where}': {message}" if where else message)
    return "; ".join(parts)


def parse_envelope(raw: Any, *, text: bool = True) -> Inbound:
    """Validate one envelope or raise InvalidEventError naming the field. With `text`, a str or
    bytes is JSON text (a line of a file, a Kafka record); without, only an object will do."""
    if text and isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError(f"not UTF-8 text: {exc}") from None
    if text and isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidEventError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidEventError("an envelope must be a JSON object")
    event_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    source = raw.get("source") if isinstance(raw.get("source"), str) else None
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEventError(describe(exc), event_id=event_id, source=source) from None
    version = envelope.dataversion if envelope.dataversion is not None else DATA_VERSION
    data = upcast(envelope.type, version, dict(envelope.data))
    try:
        model = {**DATA_MODELS, **STEP_MODELS}[envelope.type].model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(describe(exc, "data"), event_id=event_id, source=source) from None
    return Inbound(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        time=envelope.time.astimezone(UTC),
        subject=envelope.subject,
        tenant=envelope.tenantid,
        data=normalise(_dump(model, envelope.type)),
    )


def _dump(model: BaseModel, event_type: str) -> dict[str, Any]:
    """What was said, defaults filled, nothing said as null: a catalog keeps exactly the keys
    given (`"limit": null` means unlimited, no `limit` means not metered)."""
    if event_type in ("catalog.published", "catalog.drafted"):
        return model.model_dump(mode="python", exclude_unset=True)
    return model.model_dump(mode="python", exclude_none=True)


def normalise(value: Any) -> Any:
    """JSON values only, times as UTC RFC 3339 text: one spelling per fact, so hashes are stable."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value
