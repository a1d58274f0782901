"""The catalog: what plans mean. Versioned data, published by a tenant, recorded in the ledger."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

REGION_PATTERN = r"^[A-Z]{2}$"


class Feature(BaseModel):
    """A feature of a plan. No `limit` key: simply on. `limit: null`: metered, unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    limit: StrictInt | None = Field(default=None, ge=0, le=2**53 - 1)
    """Units allowed per period; null: metered but unlimited; absent: simply on."""
    period: Literal["month", "total"] = "month"
    """What the limit counts: month (calendar month in UTC, the default) or total (ever)."""
    blocked_regions: list[str] = Field(default_factory=list)
    """ISO 3166 alpha-2 regions where the feature is off."""

    @field_validator("blocked_regions")
    @classmethod
    def _regions_are_iso_codes(cls, regions: list[str]) -> list[str]:
        for region in regions:
            if len(region) != 2 or not region.isalpha() or not region.isupper():
                raise ValueError(f"region {region!r} is not an ISO 3166 alpha-2 code like 'DE'")
        return regions

    @property
    def metered(self) -> bool:
        return "limit" in self.model_fields_set


class Plan(BaseModel):
    """What one plan means."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    tier: StrictInt = Field(ge=-1_000_000, le=1_000_000)
    """Rank of the plan: upgrades go to a higher tier, downgrades to a lower one."""
    features: dict[str, Feature] = Field(default_factory=dict)
    """The features the plan turns on, by name."""
    grace_days: StrictInt = Field(default=0, ge=0, le=36_500)
    """Days a license stays usable after ends_at (status grace); trials get none."""


class Catalog(BaseModel):
    """One immutable catalog version of one tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    version: str = Field(min_length=1, max_length=200)
    """The version's name; versions are immutable (the same name again must mean the same)."""
    plans: dict[str, Plan] = Field(min_length=1)
    """The plans, by name."""


def meaning(data: dict[str, Any]) -> dict[str, Any]:
    """What a catalog says, with every default spelled out: two publications of a version are
    the same when they mean the same, however they were written."""
    catalog = Catalog.model_validate(data)
    return {"version": catalog.version, "plans": {
        name: {"tier": plan.tier, "grace_days": plan.grace_days, "features": {
            feature: {"metered": spec.metered, "limit": spec.limit if spec.metered else None,
                      "period": spec.period, "blocked_regions": sorted(set(spec.blocked_regions))}
            for feature, spec in plan.features.items()}}
        for name, plan in catalog.plans.items()}}
