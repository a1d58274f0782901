"""The catalog: what plans mean. Versioned data, published by a tenant, recorded in the ledger."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

REGION_PATTERN = r"^[A-Z]{2}$"


class Feature(BaseModel):
    """A feature of a plan. No `limit` key: simply on. `limit: null`: metered, unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: StrictInt | None = Field(default=None, ge=0, le=2**53 - 1)
    period: Literal["month", "total"] = "month"
    blocked_regions: list[str] = Field(default_factory=list)

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
    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: StrictInt = Field(ge=-1_000_000, le=1_000_000)
    features: dict[str, Feature] = Field(default_factory=dict)
    grace_days: StrictInt = Field(default=0, ge=0, le=36_500)


class Catalog(BaseModel):
    """One immutable catalog version of one tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=200)
    plans: dict[str, Plan] = Field(min_length=1)


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
