"""The API documents the state it answers with: its model must not drift from the fold's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from pydantic import ValidationError

from ledger.api.state_models import FeatureState, LicenseState, model_of
from ledger.domain.fold import fold
from ledger.domain.state import OFF_WIRE, license_state
from ledger.domain.usage import CountedUsage
from tests.builders import Facts, t


def test_the_documented_license_state_has_exactly_the_fields_the_fold_answers_with() -> None:
    f = Facts()
    catalogs = f.catalogs()
    grant = f.make("license.granted", "2026-03-01", customer_id="c", plan="enterprise", region="KP")
    terms = fold([grant], catalogs).terms
    assert terms is not None
    state = license_state(terms, catalogs, CountedUsage.of([]), t("2026-03-02"))
    assert set(state) == set(LicenseState.model_fields)
    feature_keys = {key for feature in state["features"].values() for key in feature}
    assert feature_keys == set(FeatureState.model_fields)
    LicenseState.model_validate(state)


@dataclass(frozen=True)
class Part:
    """A toy nested dataclass."""

    on: bool
    note: str | None = None


@dataclass(frozen=True)
class Whole:
    """A toy state: one field of each kind the derivation maps."""

    name: str
    at: datetime
    ends: datetime | None
    tags: tuple[str, ...]
    parts: Mapping[str, Part]
    known: datetime = field(default=datetime(2026, 1, 1), metadata=OFF_WIRE)


def test_the_documented_model_is_derived_from_the_typed_state_field_by_field() -> None:
    part = model_of(Part, "a part")
    whole = model_of(Whole, "a whole", {Part: part})
    assert list(whole.model_fields) == ["name", "at", "ends", "tags", "parts"]
    assert whole.model_json_schema()["required"] == ["name", "at", "ends", "tags", "parts"]
    document = {"name": "n", "at": "2026-03-01T00:00:00Z", "ends": None, "tags": ["a"],
                "parts": {"p": {"on": True}}}
    assert whole.model_validate(document).model_dump() == {**document, "parts": {"p": {"on": True, "note": None}}}
    with pytest.raises(ValidationError):
        whole.model_validate({**document, "tags": "a"})
