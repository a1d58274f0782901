"""The `data` of the steps the ledger records for controlled change: catalog releases and the
tenant's governance policy. They are never sent in by billing: the release workflow (`ledger
catalog ...`, `/v1/catalog/...`) records them, in the tenant's chain like every fact, so who
drafted, approved, rejected, withdrew and published what, when and why, is part of the ledger.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from schemas.catalog import Catalog
from schemas.times import Time

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Actor = Field(min_length=1, max_length=200, pattern=PRINTABLE,
              description="Who took the step: the API key's name, or the CLI's --actor / OS user.")
Reason = Field(default=None, max_length=2000, description="Why, in the actor's words.")
Digest = Field(pattern=r"^[0-9a-f]{64}$",
               description="SHA-256 of the draft's meaning and effective time (see docs/governance.md).")


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: str = Actor
    reason: str | None = Reason


class CatalogDrafted(_Step):
    """A catalog version proposed to take effect at `effective_at`; the subject is its version."""

    effective_at: Time = Field(description="When the version is to take effect.")
    catalog: Catalog = Field(description="The proposed catalog (docs/catalog.md).")


class CatalogApproved(_Step):
    """One approval of exactly the draft whose digest it names."""

    digest: str = Digest


class CatalogRejected(_Step):
    reason: str = Field(min_length=1, max_length=2000, description="Why, in the actor's words "
                        "(required for this step).")


class CatalogWithdrawn(_Step):
    reason: str = Field(min_length=1, max_length=2000, description="Why, in the actor's words "
                        "(required for this step).")


class CatalogUnscheduled(_Step):
    """An approved version already published for a later effective time, withdrawn before that
    time: from its `recorded_at` on, the catalog history no longer holds the publication, so the
    version never takes effect for an answer known after the withdrawal (answers known before
    it stay as they were). It names the digest of the publication it withdraws."""

    reason: str = Field(min_length=1, max_length=2000, description="Why, in the actor's words "
                        "(required for this step).")
    digest: str = Digest


class CatalogReleased(_Step):
    """An approved draft published by the workflow: recorded with its `catalog.published`."""

    digest: str = Digest


class TenantConfigured(_Step):
    """The tenant's governance policy from now on; the subject is the tenant."""

    approval_required: StrictBool = Field(default=False, description="Every catalog change "
                                          "needs an approved draft.")
    approvals_required: StrictInt = Field(default=1, ge=1, le=20, description="Approvals a "
                                          "draft needs, each by another person than its author.")
    failed_payment_days: StrictInt = Field(default=7, ge=0, le=3650, description="Days after a "
                                           "failed payment by which a suspension is expected.")
    api_key_unused_days: StrictInt = Field(default=90, ge=1, le=3650, description="Days "
                                           "without use after which an API key is a finding.")
    signing_key_max_age_days: StrictInt = Field(default=365, ge=1, le=36500, description="Age "
                                                "after which a signing key is a finding.")


STEP_MODELS: dict[str, type[BaseModel]] = {
    "catalog.drafted": CatalogDrafted,
    "catalog.approved": CatalogApproved,
    "catalog.rejected": CatalogRejected,
    "catalog.withdrawn": CatalogWithdrawn,
    "catalog.released": CatalogReleased,
    "catalog.unscheduled": CatalogUnscheduled,
    "tenant.configured": TenantConfigured,
}

STEP_TYPES = tuple(STEP_MODELS)
RELEASE_STEPS = STEP_TYPES[:6]
