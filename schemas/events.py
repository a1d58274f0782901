"""The `data` of every inbound event type, version 1. Strict: unknown fields are errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from schemas.catalog import REGION_PATTERN, Catalog
from schemas.times import Time

# Ids and names are text without control characters: what a person can read, log and put
# in a URL, and never a way to forge another id.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
NonEmpty = Field(min_length=1, max_length=200, pattern=PRINTABLE)
# Counts stay far below 2**53, so every JSON reader (JavaScript included) gets them exactly, and
# sums of usage stay within 64-bit integers.
MAX_SEATS = 1_000_000
MAX_QUANTITY = 1_000_000_000


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """An optional field sent as null means "not given": its default applies."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("region", mode="before", check_fields=False)
    @classmethod
    def _region_upper(cls, value: Any) -> Any:
        """ISO 3166 codes are upper case; 'de' is taken as 'DE'."""
        return value.upper() if isinstance(value, str) else value


class LicenseGranted(_Data):
    customer_id: str = NonEmpty
    plan: str = NonEmpty
    seats: StrictInt = Field(default=1, ge=1, le=MAX_SEATS)
    starts_at: Time | None = None
    ends_at: Time | None = None
    region: str | None = Field(default=None, pattern=REGION_PATTERN)


class TrialStarted(_Data):
    customer_id: str = NonEmpty
    plan: str = NonEmpty
    ends_at: Time
    seats: StrictInt = Field(default=1, ge=1, le=MAX_SEATS)
    region: str | None = Field(default=None, pattern=REGION_PATTERN)


class TrialConverted(_Data):
    plan: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    ends_at: Time | None = None


class PlanChanged(_Data):
    plan: str = NonEmpty


class Suspended(_Data):
    reason: str = NonEmpty


class Reinstated(_Data):
    pass


class Revoked(_Data):
    reason: str = NonEmpty


class Renewed(_Data):
    ends_at: Time


class SeatsChanged(_Data):
    seats: StrictInt = Field(ge=1, le=MAX_SEATS)


class SeatChanged(_Data):
    user_id: str = NonEmpty


class UsageRecorded(_Data):
    feature: str = NonEmpty
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)


class Payment(_Data):
    """A payment fact from billing: what was paid (amount in minor units of `currency`), for
    which period and invoice. It changes no license state; reconciliation compares with it."""

    amount: StrictInt = Field(ge=0, le=10**15)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    period_start: Time
    period_end: Time
    invoice_id: str = NonEmpty
    seats: StrictInt | None = Field(default=None, ge=1, le=MAX_SEATS)

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
    reason: str | None = Field(default=None, max_length=500)


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
