"""A pydantic model's fields as a TypedDict: the same rules, validated straight into a dict.

Validating into a model builds an instance (two for an envelope and its data) and `model_dump`
then builds the dict the ledger keeps: about 8 us of every event's 15 us of parsing. pydantic
validates a TypedDict of the same annotated fields with the same core validators into a dict
at once. Only the shortcut of `schemas.at_once` uses these, for the data models that have no
rules of their own beyond their fields' (`plain`); what a TypedDict cannot say (a default,
"null is not given") `dumped` completes; a data model with rules of its own stays a model.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, NotRequired

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

# The one model validator a plain model may have (`events._Data`'s): nulls are dropped, so their
# defaults apply (`dumped` does the same).
_NULL_IS_ABSENT = "_null_is_absent"

_SCALARS = (str, int, str | None, int | None)


class Shape(NamedTuple):
    """What `model_dump(exclude_none=True)` makes of a model's fields: their names in order,
    each with the default to fill in (None: left out when not given), and whether every one
    holds text or a number (nothing a time, nothing for `envelope.normalise` to change)."""

    names: tuple[str, ...]
    defaults: tuple[tuple[str, Any], ...]
    scalar: bool


def plain(model: type[BaseModel]) -> bool:
    """Whether the model checks nothing beyond its fields, "null is not given" (a before
    validator) and before-validators of named fields (`events._Data`'s: regions upper-cased),
    which `typed_dict` carries over; and dumps nothing but its fields as validated (no computed
    field, alias, serializer or default made per instance). Anything else stays a model."""
    found = model.__pydantic_decorators__
    nulls = found.model_validators.get(_NULL_IS_ABSENT)
    return (set(found.model_validators) <= {_NULL_IS_ABSENT}
            and (nulls is None or nulls.info.mode == "before")
            and all(v.info.mode == "before" and "*" not in v.info.fields
                    for v in found.field_validators.values())
            and not found.validators and not found.root_validators and not found.computed_fields
            and not found.field_serializers and not found.model_serializers
            and all(_plain_field(f) for f in model.model_fields.values()))


def _plain_field(field: FieldInfo) -> bool:
    """A field validated and dumped under its own name, with nothing made per instance."""
    return (field.alias is None and field.validation_alias is None
            and field.serialization_alias is None and field.default_factory is None
            and not any(type(m).__name__.endswith("Serializer") for m in field.metadata))


def _before(model: type[BaseModel]) -> dict[str, list[BeforeValidator]]:
    """The model's before-validators of each field, as annotations that run them (`plain`
    models have no others; of the envelope's own, only the type's, which is replaced)."""
    found: dict[str, list[BeforeValidator]] = {}
    for validator in model.__pydantic_decorators__.field_validators.values():
        for name in validator.info.fields if validator.info.mode == "before" else ():
            if name in model.model_fields:
                found.setdefault(name, []).append(BeforeValidator(getattr(model, validator.cls_var_name)))
    return found


def typed_dict(name: str, model: type[BaseModel], config: ConfigDict, **replaced: Any) -> Any:
    """A TypedDict of the model's fields, each with its annotation, its
    constraints and its before-validators, required as in the model; `replaced` gives some
    fields (of these or new ones) another annotation, required."""
    annotations: dict[str, Any] = dict(replaced)
    before = _before(model)
    for field_name, field in model.model_fields.items():
        if field_name in replaced:
            continue
        # a validator after the constraints wraps them, so it runs first, as the model runs
        # it; of several, the last declared runs first, in both
        metadata = (*field.metadata, *before.get(field_name, []))
        annotated = Annotated[(field.annotation, *metadata)] if metadata else field.annotation
        annotations[field_name] = annotated if field.is_required() else NotRequired[annotated]
    made: Any = _TYPED_DICT(name, annotations)
    made.__pydantic_config__ = config
    return made


_TYPED_DICT: Any = TypedDict  # called with a name made at run time


def shape(model: type[BaseModel]) -> Shape:
    """The model's fields in its order, with the defaults `model_dump` would fill in."""
    fields = model.model_fields
    return Shape(tuple(fields), tuple(
        (name, None if field.is_required() else field.get_default(call_default_factory=True))
        for name, field in fields.items()), all(f.annotation in _SCALARS for f in fields.values()))


def dumped(data: dict[str, Any], fields: Shape) -> dict[str, Any]:
    """`model_dump(exclude_none=True)` of the model `data` was validated by as a TypedDict of
    its fields: its fields in the model's order, defaults filled in, a null taken as not given
    (the model drops nulls before validating: its default applies; a null where the field
    allows none failed validation already, as it fails the model's)."""
    if None in data.values():
        data = {name: value for name, value in data.items() if value is not None}
    if tuple(data) == fields.names:  # every field given, in the model's order
        return data
    return {name: data[name] if name in data else default
            for name, default in fields.defaults if name in data or default is not None}
