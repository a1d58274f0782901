"""The inbound CloudEvents 1.0 envelope (structured JSON mode), the same on every channel."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pydantic import ValidationError

from schemas.at_once import _at_once
from schemas.events import DATA_VERSION
from schemas.inbound import (
    _MODELS,
    Envelope,
    EnvelopeText,
    Inbound,
    InvalidEventError,
    Text,
    _dump,
    describe,
    load_json,
    normalise,
    unbuildable,
)
from schemas.upcast import upcast

__all__ = ["Envelope", "EnvelopeText", "Inbound", "InvalidEventError", "Text", "describe", "load_json",
           "normalise", "parse_envelope", "unbuildable"]


def parse_envelope(raw: Any, *, text: bool = True) -> Inbound:
    """Validate one envelope or raise InvalidEventError naming the field. With `text`, a str or
    bytes is JSON text (a line of a file, a Kafka record); without, only an object will do
    (or an `EnvelopeText`)."""
    as_text = (text or isinstance(raw, EnvelopeText)) and isinstance(raw, bytes | str)
    if as_text or (type(raw) is dict and type(raw.get("data")) is dict):
        quick = _at_once(raw)
        if quick is not None:
            return quick
    return _step_by_step(raw, text)


def _step_by_step(raw: Any, text: bool) -> Inbound:
    """The envelope, then its data: the path whose refusals name the first field at fault."""
    if (text or isinstance(raw, EnvelopeText)) and isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError(f"not UTF-8 text: {exc}") from None
        text = True
    if text and isinstance(raw, str):
        try:
            raw = load_json(raw)
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
    # Current data (the usual case) needs no upcasting, nor a copy: validation never alters it.
    data = upcast(envelope.type, version, dict(envelope.data)) if version < DATA_VERSION else envelope.data
    try:
        model = _MODELS[envelope.type].model_validate(data)
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
