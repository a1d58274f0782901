"""The catalog history honours a scheduled version's withdrawal by recorded time (pure)."""

from __future__ import annotations

from datetime import datetime

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from tests.builders import CATALOG, t


def _fact(kind: str, version: str, effective: datetime, recorded: datetime, n: int) -> Fact:
    data = {**CATALOG, "version": version} if kind == "catalog.published" else {"actor": "a"}
    return Fact(tenant="acme", subject=version, type=kind, effective_at=effective,
                recorded_at=recorded, source="s", source_event_id=f"e{n}", data=data, sequence=n)


HISTORY = CatalogHistory.of([
    _fact("catalog.published", "v1", t("2026-01-01"), t("2026-01-01"), 1),
    _fact("catalog.published", "v2", t("2026-06-01"), t("2026-03-01"), 2),
    _fact("catalog.unscheduled", "v2", t("2026-04-01"), t("2026-04-01"), 3),
])


def test_a_withdrawn_version_is_in_force_only_for_answers_known_before_the_withdrawal() -> None:
    in_force = HISTORY.in_force
    assert in_force(t("2026-07-01"), known_at=t("2026-03-15")).version == "v2"  # type: ignore[union-attr]
    assert in_force(t("2026-07-01"), known_at=t("2026-04-01")).version == "v1"  # type: ignore[union-attr]
    assert in_force(t("2026-07-01")).version == "v1"  # type: ignore[union-attr]
    assert in_force(t("2026-07-01"), known_at=t("2026-02-01")).version == "v1"  # type: ignore[union-attr]


def test_the_withdrawal_is_kept_apart_from_the_publications() -> None:
    assert [f.subject for f in HISTORY.facts] == ["v1", "v2"]
    assert HISTORY.withdrawal("v2") is not None and HISTORY.withdrawal("v1") is None
    assert HISTORY.version("v2") is not None  # it was published; its withdrawal says since when not
    grown = CatalogHistory.of(HISTORY.facts).with_fact(HISTORY.withdrawals[0])
    assert grown == HISTORY
