"""The inbound envelope itself: the CloudEvents model, what a valid one becomes (`Inbound`), its
refusals, JSON text reading and `normalise`; both paths of `schemas.envelope` build on these."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.events import DATA_MODELS, DATA_VERSION, PRINTABLE
from schemas.governance import STEP_MODELS
from schemas.times import Time, format_time

Text = Field(min_length=1, max_length=500, pattern=PRINTABLE)


class Envelope(BaseModel):
    """CloudEvents attributes we accept. Unknown attributes are refused: a typo is not silence."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    specversion: Literal["1.0"]
    """CloudEvents version: always 1.0."""
    id: str = Text
    """The sender's event id; with source, the idempotency key within a tenant."""
    source: str = Text
    """Who sent it (e.g. billing/stripe); with id, the idempotency key."""
    type: str
    """The event type, e.g. license.granted (docs/events.md lists them)."""
    time: Time
    """The effective time: when it happened in the business. RFC 3339 with a zone."""
    subject: str = Text
    """The license id (the catalog version for catalog.published)."""
    tenantid: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    """The tenant (default: the caller's); over HTTP, another tenant than the key's is tenant_mismatch."""
    datacontenttype: Literal["application/json"] | None = None
    """application/json, if given."""
    dataschema: str | None = None
    """Free text naming the data's schema; not checked."""
    dataversion: int | None = Field(default=None, ge=0, le=DATA_VERSION)
    """The version of data (default: the current one); older versions are upcast."""
    data: dict[str, Any] = Field(default_factory=dict)
    """The event's fields, as the event type defines them."""
    # CloudEvents extensions that SDKs and tracing add on their own; accepted, not recorded.
    traceparent: str | None = None
    """W3C trace context (CloudEvents distributed tracing extension); accepted, not recorded."""
    tracestate: str | None = None
    """W3C trace state, with traceparent; accepted, not recorded."""
    partitionkey: str | None = None
    """CloudEvents partitioning extension; accepted, not recorded."""

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


class EnvelopeText(bytes):
    """The JSON text of one envelope, cut out of a posted array that could not be read whole
    (an integer of 5,000 digits, nesting 3,000 deep): parsed, and refused, on its own."""


def load_json(text: str | bytes) -> Any:
    """JSON text to values; a value Python's reader will not build (more than 4300 digits in
    an integer, nesting deeper than the interpreter's recursion limit) is a ValueError too."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:
        reason = unbuildable(exc)
        if reason is None:
            raise
        raise ValueError(reason) from None


def unbuildable(exc: BaseException) -> str | None:
    """Why well-formed JSON could not be built into values, in a sender's words; None if
    `exc` is not such a reason."""
    if isinstance(exc, RecursionError):
        return "nested too deeply (far deeper than any envelope or request)"
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return f"an integer has more than {sys.get_int_max_str_digits()} digits"
    return None


# Every type's data model, merged once (not per envelope: this runs for every event).
_MODELS: dict[str, type[BaseModel]] = {**DATA_MODELS, **STEP_MODELS}
_AS_SET = ("catalog.published", "catalog.drafted")  # data kept as given, not as dumped


def _dump(model: BaseModel, event_type: str) -> dict[str, Any]:
    """What was said, defaults filled, nothing said as null: a catalog keeps exactly the keys
    given (`"limit": null` means unlimited, no `limit` means not metered)."""
    if event_type in _AS_SET:
        return model.model_dump(mode="python", exclude_unset=True)
    return model.model_dump(mode="python", exclude_none=True)


_CHANGED = (datetime, dict, list, tuple)  # what `normalise` changes, or may change inside


def normalise(value: Any) -> Any:
    """JSON values only, times as UTC RFC 3339 text: one spelling per fact, so hashes are stable."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, _CHANGED):
                return {k: normalise(v) for k, v in value.items()}
        return dict(value)  # the usual data, flat JSON values: nothing to change, one C copy
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value
