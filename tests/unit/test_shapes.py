"""A data model validated as a TypedDict of its fields (`schemas.shapes`) gives what the model
gives, or the model is not taken for plain: the shortcut then validates it as the model. Each
data model of today is checked against its model on examples, and the kinds of model a
TypedDict would get wrong are refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, computed_field, field_validator, model_validator

from schemas.at_once import _SHAPES, _plain_config
from schemas.events import DATA_MODELS, _Data
from schemas.shapes import dumped, plain, shape, typed_dict


def _as_typed(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    adapter = TypeAdapter(typed_dict(f"Test_{model.__name__}", model, _plain_config(model)))
    return dumped(adapter.validate_python(data), shape(model))


def _as_model(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(mode="python", exclude_none=True)


class _TwoBefore(_Data):
    name: str

    @field_validator("name", mode="before")
    @classmethod
    def _first(cls, value: Any) -> Any:
        return value + "A"

    @field_validator("name", mode="before")
    @classmethod
    def _second(cls, value: Any) -> Any:
        return value + "B"


def test_before_validators_of_a_field_run_in_the_models_order() -> None:
    assert plain(_TwoBefore)
    assert _as_typed(_TwoBefore, {"name": "x"}) == _as_model(_TwoBefore, {"name": "x"}) == {"name": "xBA"}


EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "license.granted": [{"customer_id": "c", "plan": "pro"},
                        {"region": "de", "seats": 3, "plan": "pro", "customer_id": "c", "ends_at": None},
                        {"customer_id": "c", "plan": "pro", "starts_at": "2026-03-01T00:00:00+01:00"}],
    "license.trial_converted": [{}, {"plan": None}, {"ends_at": "2026-04-01T00:00:00Z", "plan": "x"}],
    "license.trial_started": [{"customer_id": "c", "plan": "pro", "ends_at": "2026-04-01T00:00:00Z"},
                              {"region": "fr", "ends_at": "2026-04-01T00:00:00-02:00", "seats": 2,
                               "plan": "pro", "customer_id": "c"}],
    "license.upgraded": [{"plan": "enterprise"}],
    "license.downgraded": [{"plan": "basic"}],
    "license.suspended": [{"reason": "payment_failed"}],
    "license.reinstated": [{}],
    "license.revoked": [{"reason": "chargeback"}],
    "license.renewed": [{"ends_at": "2027-01-01T00:00:00Z"}],
    "license.seats_changed": [{"seats": 4}],
    "seat.assigned": [{"user_id": "u-1"}],
    "seat.released": [{"user_id": "u-1"}],
    "usage.recorded": [{"quantity": 2, "feature": "api_calls"}],
}


def test_every_plain_data_model_has_examples_here() -> None:
    assert set(EXAMPLES) == set(_SHAPES)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_each_plain_data_model_dumps_as_its_model(event_type: str) -> None:
    model = DATA_MODELS[event_type]
    for data in EXAMPLES[event_type]:
        assert repr(_as_typed(model, data)) == repr(_as_model(model, data))


class _AnyField(_Data):
    name: str

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class _Computed(_Data):
    name: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shout(self) -> str:
        return self.name.upper()


class _Aliased(_Data):
    name: str = Field(alias="Name")


class _Made(_Data):
    tags: list[str] = Field(default_factory=list)


class _After(_Data):
    name: str

    @model_validator(mode="after")
    def _checked(self) -> _After:
        return self


@pytest.mark.parametrize("model", [_AnyField, _Computed, _Aliased, _Made, _After])
def test_a_model_a_typed_dict_would_get_wrong_is_not_plain(model: type[BaseModel]) -> None:
    assert not plain(model)


def test_payments_and_catalogs_stay_models() -> None:
    assert not {"payment.succeeded", "payment.failed", "catalog.published"} & set(_SHAPES)
