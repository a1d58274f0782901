"""The API documents the state it answers with: its model must not drift from the fold's."""

from __future__ import annotations

from ledger.api.models import FeatureState, LicenseState
from ledger.domain.fold import fold
from ledger.domain.state import license_state
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
