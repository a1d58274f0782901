"""The one-validation path of `parse_envelope`: every event type's typed envelope in one pydantic
union, straight from JSON text or the object; it only accepts, `schemas.envelope` words refusals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from schemas.events import DATA_MODELS, DATA_VERSION
from schemas.inbound import _AS_SET, _CHANGED, _MODELS, Envelope, Inbound, _dump, normalise
from schemas.shapes import Shape, dumped, plain, shape, typed_dict

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
