"""Which catalog is in force for a tenant at a moment, as known at a moment.

The history is bitemporal in both of its kinds of fact: a `catalog.published` counts for the
answers known from its `recorded_at` on, and a `catalog.unscheduled` (a scheduled version
withdrawn before its effective time) takes that publication away for the answers known from
the withdrawal's `recorded_at` on. An answer known before the withdrawal stays as it was."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from ledger.domain.facts import FAR_FUTURE, Fact
from schemas.catalog import Catalog, Plan

UNSCHEDULED = "catalog.unscheduled"


@dataclass(frozen=True)
class CatalogHistory:
    """A tenant's published catalog versions; each is in force from its effective time on."""

    facts: tuple[Fact, ...] = ()  # the `catalog.published` facts, in ledger order
    withdrawals: tuple[Fact, ...] = ()  # the `catalog.unscheduled` facts, in ledger order

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> CatalogHistory:
        ordered = sorted(facts, key=lambda f: f.order)
        return cls(tuple(f for f in ordered if f.type != UNSCHEDULED),
                   tuple(f for f in ordered if f.type == UNSCHEDULED))

    @cached_property
    def _withdrawn_at(self) -> dict[str, datetime]:
        return {f.subject: f.recorded_at for f in self.withdrawals}

    @cached_property
    def _parsed(self) -> tuple[tuple[Fact, Catalog], ...]:
        return tuple((f, Catalog.model_validate(f.data)) for f in self.facts)

    def in_force(self, at: datetime, known_at: datetime = FAR_FUTURE) -> Catalog | None:
        """The newest version whose time is at or before `at`, among those recorded by `known_at`."""
        found = self.published_in_force(at, known_at)
        return found[1] if found else None

    def published_in_force(self, at: datetime, known_at: datetime = FAR_FUTURE
                           ) -> tuple[Fact, Catalog] | None:
        """The catalog in force and the fact that published it (for explanations)."""
        current = None
        withdrawn = self._withdrawn_at
        for fact, catalog in self._parsed:
            if fact.effective_at > at:
                break
            if fact.recorded_at <= known_at and not (  # `withdrawn` is empty for most tenants
                    withdrawn and fact.subject in withdrawn and withdrawn[fact.subject] <= known_at):
                current = (fact, catalog)
        return current

    def plan(self, name: str, at: datetime, known_at: datetime = FAR_FUTURE) -> Plan | None:
        catalog = self.in_force(at, known_at)
        return catalog.plans.get(name) if catalog else None

    def grace_days(self) -> set[int]:
        """Every plan's grace, in days, in any version (parsed once, with the versions)."""
        return {plan.grace_days for _, catalog in self._parsed for plan in catalog.plans.values()}

    def version(self, version: str) -> Fact | None:
        """The publication of `version`, even if it was withdrawn since (see `withdrawal`)."""
        return next((f for f in self.facts if f.subject == version), None)

    def withdrawal(self, version: str) -> Fact | None:
        return next((f for f in self.withdrawals if f.subject == version), None)

    def with_fact(self, fact: Fact) -> CatalogHistory:
        return CatalogHistory.of((*self.facts, *self.withdrawals, fact))
