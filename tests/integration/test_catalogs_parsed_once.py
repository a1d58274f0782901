"""The read models parse a tenant's catalog versions once and reuse them for every customer
and every check until a version lands (issue 10: each miss re-parsed every version)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.catalogs import CatalogHistory
from tests.builders import CATALOG, catalog_envelope, envelope
from tests.integration.test_api_harness import built_api, sqlite


def test_catalog_versions_are_parsed_once_until_one_lands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    of = CatalogHistory.of.__func__  # type: ignore[attr-defined]

    def counted(cls: type[CatalogHistory], facts: Any) -> CatalogHistory:
        history = of(cls, facts)
        parsed.append(len(history.facts))
        return history

    with built_api(sqlite(tmp_path)) as (_, api):
        api.with_catalog().record([
            envelope("license.granted", "2026-02-01", f"lic-{n}", customer_id=f"c{n}", plan="pro")
            for n in range(3)])
        monkeypatch.setattr(CatalogHistory, "of", classmethod(counted))
        now = datetime(2026, 3, 1, tzinfo=UTC)
        answers = [api.models.customer_states_and_next_change("acme", f"c{n}", now)
                   for n in (0, 1, 2, 0, 1)]
        assert all(states for states, _ in answers)
        assert parsed == []  # parsed when the licenses were projected, reused by every read
        second = copy.deepcopy(CATALOG) | {"version": "v-next"}
        api.record([catalog_envelope("2026-06-01", second)])
        assert parsed and parsed[-1] == 2  # a version landed: parsed again, both versions
        landed = len(parsed)
        for n in (0, 1, 2):
            api.models.customer_states_and_next_change("acme", f"c{n}", now)
        assert len(parsed) == landed  # and reused again by every read after it
