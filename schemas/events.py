"""The `data` of every inbound event type, version 1. Strict: unknown fields are errors."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from schemas.catalog import REGION_PATTERN, Catalog
from schemas.times import Time

# Ids and names are text without control characters: what a person can read, log and put
# in a URL, and never a way to forge another id.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
NonEmpty = Field(min_length=1, max_length=200, pattern=PRINTABLE)


def name_problem(name: str, what: str) -> str | None:
    """Why `name` breaks the rule of ids and names (`NonEmpty`: 1-200 characters, no control
    character), said of `what` ("a tenant", "a version"); None if it keeps it."""
    if not 0 < len(name) <= 200:
        return f"{what} is 1 to 200 characters (this one has {len(name)})"
    if re.fullmatch(PRINTABLE, name) is None:
        return f"{what} is printable text, without control characters"
    return None


def tenant_problem(tenant: str) -> str | None:
    """Why `tenant` cannot name a tenant, None if it can: the envelope's `tenantid` rule, for
    the tenants given elsewhere (a key's, the CLI's `--tenant`, `LEDGER_TENANT`), which
    envelopes without a `tenantid` are recorded under."""
    return name_problem(tenant, "a tenant")
# Counts stay far below 2**53, so every JSON reader (JavaScript included) gets them exactly, and
# sums of usage stay within 64-bit integers.
MAX_SEATS = 1_000_000
MAX_QUANTITY = 1_000_000_000


class _Data(BaseModel):
    # Each field's docstring is its description in the exported JSON Schema.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """An optional field sent as null means "not given": its default applies."""
        if isinstance(data, dict) and None in data.values():  # else there is nothing to drop
            return {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("region", mode="before", check_fields=False)
    @classmethod
    def _region_upper(cls, value: Any) -> Any:
        """ISO 3166 codes are upper case; 'de' is taken as 'DE'."""
        return value.upper() if isinstance(value, str) else value


class LicenseGranted(_Data):
    customer_id: str = NonEmpty
    """The customer the license belongs to, as billing names it."""
    plan: str = NonEmpty
    """A plan of the catalog in force at the event's time."""
    seats: StrictInt = Field(default=1, ge=1, le=MAX_SEATS)
    """How many users may hold a seat (default 1)."""
    starts_at: Time | None = None
    """When the license starts (default: the event's time); later means status pending until then."""
    ends_at: Time | None = None
    """When the term ends (default: no end). RFC 3339 with a zone."""
    region: str | None = Field(default=None, pattern=REGION_PATTERN)
    """ISO 3166 alpha-2 country of the customer (upper-cased); features may be blocked there."""


class TrialStarted(_Data):
    customer_id: str = NonEmpty
    """The customer the trial belongs to."""
    plan: str = NonEmpty
    """The plan tried, from the catalog in force."""
    ends_at: Time
    """When the trial ends (required): past it without conversion the license is expired, with no grace."""
    seats: StrictInt = Field(default=1, ge=1, le=MAX_SEATS)
    """How many users may hold a seat (default 1)."""
    region: str | None = Field(default=None, pattern=REGION_PATTERN)
    """ISO 3166 alpha-2 country of the customer (upper-cased)."""


class TrialConverted(_Data):
    plan: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    """The paid plan (default: the trial's plan)."""
    ends_at: Time | None = None
    """When the paid term ends (default: no end); must be after the conversion."""


class PlanChanged(_Data):
    plan: str = NonEmpty
    """The new plan: of a higher tier for an upgrade, a lower one for a downgrade."""


class Suspended(_Data):
    reason: str = NonEmpty
    """Why, in billing's words (e.g. payment_failed)."""


class Reinstated(_Data):
    pass


class Revoked(_Data):
    reason: str = NonEmpty
    """Why, in billing's words (e.g. chargeback). Nothing is accepted after a revocation."""


class Renewed(_Data):
    ends_at: Time
    """The new end of the term; must be later than the current one."""


class SeatsChanged(_Data):
    seats: StrictInt = Field(ge=1, le=MAX_SEATS)
    """The new seat count; not below the seats in use."""


class SeatChanged(_Data):
    user_id: str = NonEmpty
    """The user who gets (seat.assigned) or gives back (seat.released) a seat."""


class UsageRecorded(_Data):
    feature: str = NonEmpty
    """The metered feature used, as the catalog names it."""
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)
    """How many units were used (1..1,000,000,000)."""


class Payment(_Data):
    """A payment fact from billing: what was paid (amount in minor units of `currency`), for
    which period and invoice. It changes no license state; reconciliation compares with it."""

    amount: StrictInt = Field(ge=0, le=10**15)
    """What was paid (or failed), in minor units of `currency` (cents)."""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    """ISO 4217 code, e.g. EUR (taken in upper case)."""
    period_start: Time
    """The start of the period the payment covers, RFC 3339 with a zone."""
    period_end: Time
    """The end of that period (exclusive); later than period_start."""
    invoice_id: str = NonEmpty
    """The invoice the payment settles."""
    seats: StrictInt | None = Field(default=None, ge=1, le=MAX_SEATS)
    """The seats paid for (reconciliation compares them with the seats assigned)."""

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_upper(cls, value: Any) -> Any:
        """ISO 4217 codes are upper case; 'eur' is taken as 'EUR'."""
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _period_is_forwards(self) -> Payment:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be later than period_start")
        return self


class PaymentFailed(Payment):
    """A payment that failed: the same facts, and why."""

    reason: str | None = Field(default=None, max_length=500)
    """Why it failed, e.g. card_declined."""


DATA_MODELS: dict[str, type[BaseModel]] = {
    "license.granted": LicenseGranted,
    "license.trial_started": TrialStarted,
    "license.trial_converted": TrialConverted,
    "license.upgraded": PlanChanged,
    "license.downgraded": PlanChanged,
    "license.suspended": Suspended,
    "license.reinstated": Reinstated,
    "license.revoked": Revoked,
    "license.renewed": Renewed,
    "license.seats_changed": SeatsChanged,
    "seat.assigned": SeatChanged,
    "seat.released": SeatChanged,
    "usage.recorded": UsageRecorded,
    "catalog.published": Catalog,
    "payment.succeeded": Payment,
    "payment.failed": PaymentFailed,
}

PAYMENTS = ("payment.succeeded", "payment.failed")

EVENT_TYPES = tuple(DATA_MODELS)
DATA_VERSION = 1
