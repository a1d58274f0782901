"""An OpenFeature provider over `EntitlementClient`: a product gates features with the
standard API, the targeting key naming the customer and the flag key the feature.

    api.set_provider(LedgerProvider(EntitlementClient(url, key)))
    api.get_client().get_boolean_value("sso", False, EvaluationContext(targeting_key="cust-7"))

Reasons: TARGETING_MATCH for an answer of the live ledger, STALE for the last states streamed
before it went away, CACHED for one from a verified license file, DEFAULT when nothing is
known (the default value is returned, `no_license`). The ledger's own reason is the variant
and `reason` in the flag metadata, with `license_id`, `limit`, `used`, `remaining`, `source`
when set. Only boolean flags exist: any other type is TYPE_MISMATCH.
"""

from __future__ import annotations

from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from ledger.client import Answer, EntitlementClient

REASONS = {"ledger": Reason.TARGETING_MATCH, "ledger_stale": Reason.STALE,
           "license_file": Reason.CACHED, "none": Reason.DEFAULT}


class LedgerProvider(AbstractProvider):
    def __init__(self, client: EntitlementClient, *, quantity: int = 1):
        super().__init__()
        self.client, self.quantity = client, quantity

    def get_metadata(self) -> Metadata:
        return Metadata(name="entitlement-ledger")

    def shutdown(self) -> None:
        self.client.close()

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None
                                ) -> FlagResolutionDetails[bool]:
        customer = evaluation_context.targeting_key if evaluation_context else None
        if not customer:
            return FlagResolutionDetails(default_value, ErrorCode.TARGETING_KEY_MISSING,
                                         "set targeting_key to the customer id", Reason.ERROR)
        asked = evaluation_context.attributes.get("quantity") if evaluation_context else None
        quantity = asked if isinstance(asked, int) and asked > 0 else self.quantity
        self.client.watch(customer)  # once per customer: connects and waits for a first state
        answer = self.client.check(customer, flag_key, quantity)
        value = answer.allowed if answer.source != "none" else default_value
        return FlagResolutionDetails(value, reason=REASONS[answer.source],
                                     variant=answer.reason, flag_metadata=_metadata(answer))

    def _mismatch(self, default: Any) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(default, ErrorCode.TYPE_MISMATCH,
                                     "ledger features are boolean flags", Reason.ERROR)

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None
                               ) -> FlagResolutionDetails[str]:
        return self._mismatch(default_value)

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None
                                ) -> FlagResolutionDetails[int]:
        return self._mismatch(default_value)

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None
                              ) -> FlagResolutionDetails[float]:
        return self._mismatch(default_value)

    def resolve_object_details(self, flag_key: str, default_value: Any,
                               evaluation_context: EvaluationContext | None = None
                               ) -> FlagResolutionDetails[Any]:
        return self._mismatch(default_value)


def _metadata(answer: Answer) -> dict[str, bool | int | float | str]:
    decision = answer.decision
    found: dict[str, Any] = {"reason": decision.reason, "source": answer.source,
                             "license_id": decision.license_id, "limit": decision.limit,
                             "used": decision.used, "remaining": decision.remaining}
    return {k: v for k, v in found.items() if v is not None}
