"""The inbound CloudEvents 1.0 envelope (structured JSON mode), the same on every channel."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model, field_validator

from schemas.events import DATA_MODELS, DATA_VERSION, PRINTABLE
from schemas.governance import STEP_MODELS
from schemas.shapes import Shape, dumped, plain, shape, typed_dict
from schemas.times import Time, format_time
from schemas.upcast import upcast

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


# The usual spelling of the effective time (UTC, whole seconds), checked by pydantic's regex
# instead of a call back into Python: what `parse_time` hands to the C parser as it is.
_USUAL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}Z$"


def _typed(event_type: str, data: type[BaseModel]) -> Any:
    """The envelope of one event type with its data model in place of the free `data`: the
    type a literal, so the union of them all picks the data's model by it; the time in its
    usual spelling only. A data model with no rules of its own beyond its fields' is checked
    as a TypedDict of them (`schemas.shapes`): the same rules, straight into dicts."""
    time = Annotated[str, Field(pattern=_USUAL_TIME)]
    if _plain_type(event_type):
        body = typed_dict(f"Plain_{data.__name__}", data, _plain_config(data))
        return typed_dict(f"Plain_{event_type}", Envelope, _plain_config(Envelope),
                          type=Literal[event_type], time=time, data=body)
    fields: dict[str, Any] = {name: (field.annotation, field) for name, field in
                              Envelope.model_fields.items() if name not in ("type", "data")}
    fields["type"] = (Literal[event_type], ...)
    fields["time"] = (time, ...)
    return create_model(f"Typed_{event_type}", __config__=_TYPED_CONFIG, data=(data, ...), **fields)


# The envelope's own rules (extra attributes refused, ...), without what only its exported
# schema needs (the docstrings, read from the source: ~50 ms at start-up for these models),
# and each built once, inside the union, not on its own first (~10 ms more).
_TYPED_CONFIG = ConfigDict(**{k: v for k, v in Envelope.model_config.items()  # type: ignore[typeddict-item]
                              if k != "use_attribute_docstrings"}, defer_build=True)


def _plain_type(event_type: str) -> bool:
    """Whether an event type's data is checked as a TypedDict (`_typed`, `_SHAPES`): event
    data (not a release step), dumped as validated (not kept as given), a plain model."""
    return event_type in DATA_MODELS and event_type not in _AS_SET and plain(DATA_MODELS[event_type])


def _plain_config(model: type[BaseModel]) -> ConfigDict:
    """A model's rules for a TypedDict of its fields (extra keys refused, ...): not what only
    instances or the exported schema need."""
    return ConfigDict(**{k: v for k, v in model.model_config.items()  # type: ignore[typeddict-item]
                         if k not in ("use_attribute_docstrings", "frozen", "defer_build")})


_ANY_TYPED: Any = Annotated[Union[tuple(_typed(t, m) for t, m in _MODELS.items())],  # noqa: UP007
                            Field(discriminator="type")]  # a union built at run time
_TYPED: TypeAdapter[Any] = TypeAdapter(_ANY_TYPED)
_SHAPES: dict[str, Shape] = {t: shape(m) for t, m in DATA_MODELS.items() if _plain_type(t)}


def _at_once(raw: dict[str, Any] | bytes | str) -> Inbound | None:
    """A valid envelope of the current data version in one validation, straight from the JSON
    text's bytes or from the object; None for anything else (an error, older data, ...), which
    `_step_by_step` then judges, and words, exactly as ever. Whatever this accepts the steps
    accept with the same result: the envelope's fields are the `Envelope`'s own, the data the
    same models (or their fields' rules, `schemas.shapes`), and pydantic's JSON reader takes
    what `json.loads` takes or refuses it (lone surrogates, integers past its range:
    tests/unit/test_envelope_at_once.py)."""
    try:
        envelope = (_TYPED.validate_json(raw) if isinstance(raw, bytes | str)
                    else _TYPED.validate_python(raw))
    except ValidationError:
        return None
    if type(envelope) is dict:  # a plain type's envelope, validated as a TypedDict
        known = _SHAPES[envelope["type"]]
        data = dumped(envelope["data"], known)
        version, tenant, fields = envelope.get("dataversion"), envelope.get("tenantid"), envelope
        if not known.scalar and not _flat(data):
            data = normalise(data)
    else:
        data = _dump(envelope.data, envelope.type)  # a new dict: no copy of it needed
        version, tenant, fields = envelope.dataversion, envelope.tenantid, envelope.__dict__
        if not _flat(data):
            data = normalise(data)
    if version is not None and version < DATA_VERSION:
        return None  # to be upcast first
    try:
        moment = datetime.fromisoformat(fields["time"])  # in UTC: `parse_time` of this spelling
    except ValueError:  # a day or a minute that does not exist
        return None
    # Built without the frozen `__init__` (it sets the fields one by one): once per event.
    inbound = object.__new__(Inbound)
    inbound.__dict__.update(id=fields["id"], source=fields["source"], type=fields["type"],
                            time=moment, subject=fields["subject"], tenant=tenant, data=data)
    return inbound


def _flat(data: dict[str, Any]) -> bool:
    """Whether `normalise` would leave data as it is (no time, no nesting: the usual event)."""
    return not any(isinstance(v, _CHANGED) for v in data.values())


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
