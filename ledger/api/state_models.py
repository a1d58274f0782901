"""The API's documented license state, derived from the typed state (`ledger.domain.state`)
rather than written out again: one source, so the OpenAPI document cannot drift from what the
check, the cache and license files answer with.

The mapping is the one `LicenseState.as_dict` applies: fields marked off the wire are left out,
a datetime travels as its contract text, a tuple as a list, a mapping as an object, and a nested
dataclass as its own derived model. Defaults carry over, so what the domain always answers with
is required and what it only sometimes has is optional.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from ledger.domain import state as domain

# The contract allows more fields in a state than it names; so do the models.
_OPEN = ConfigDict(extra="allow")


def wire_type(hint: Any, models: Mapping[type, type[BaseModel]]) -> Any:
    """The type a domain annotation has in the contract's JSON document."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is datetime:
        return str
    if hint in models:
        return models[hint]
    if origin in (Union, types.UnionType):
        return Union[tuple(wire_type(a, models) for a in args)]  # noqa: UP007 (built at run time)
    if origin is tuple:
        return types.GenericAlias(list, (wire_type(args[0], models),))
    if origin in (dict, Mapping):
        return types.GenericAlias(dict, (wire_type(args[0], models), wire_type(args[1], models)))
    return hint


def model_of(cls: type, description: str,
             models: Mapping[type, type[BaseModel]] | None = None) -> type[BaseModel]:
    """A pydantic model of a domain dataclass's fields on the wire, named as the class."""
    hints = get_type_hints(cls)
    fields: dict[str, Any] = {}
    for each in dataclasses.fields(cls):
        if each.metadata.get(domain.ON_WIRE, True):
            default = ... if each.default is dataclasses.MISSING else each.default
            fields[each.name] = (wire_type(hints[each.name], models or {}), default)
    model: type[BaseModel] = create_model(cls.__name__, __config__=_OPEN, __doc__=description,
                                          __module__=__name__, **fields)
    return model


FeatureState = model_of(domain.FeatureState, "One feature of a license at a moment; `limit`, "
                        "`period` and `used` only when it is metered.")
LicenseState = model_of(domain.LicenseState, "The state of one license at a moment "
                        "(docs/api.md, \"The license state\").", {domain.FeatureState: FeatureState})
