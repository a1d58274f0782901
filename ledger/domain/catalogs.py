"""Which catalog is in force for a tenant at a moment, as known at a moment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from ledger.domain.facts import FAR_FUTURE, Fact
from schemas.catalog import Catalog, Plan


@dataclass(frozen=True)
class CatalogHistory:
    """A tenant's published catalog versions; each is in force from its effective time on."""

    facts: tuple[Fact, ...] = ()

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> CatalogHistory:
        return cls(tuple(sorted(facts, key=lambda f: f.order)))

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
        for fact, catalog in self._parsed:
            if fact.effective_at > at:
                break
            if fact.recorded_at <= known_at:
                current = (fact, catalog)
        return current

    def plan(self, name: str, at: datetime, known_at: datetime = FAR_FUTURE) -> Plan | None:
        catalog = self.in_force(at, known_at)
        return catalog.plans.get(name) if catalog else None

    def version(self, version: str) -> Fact | None:
        return next((f for f in self.facts if f.subject == version), None)

    def with_fact(self, fact: Fact) -> CatalogHistory:
        return CatalogHistory.of((*self.facts, fact))
