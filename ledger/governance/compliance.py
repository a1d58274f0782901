"""`ledger compliance`: the tenant's entitlements against the rules they must obey (the rules
are in `ledger.domain.compliance`), the read models against replay, and the age and use of
the keys that grant access. The caller passes the key tables: they live outside the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ledger.domain.compliance import CODES, license_findings, old_signing_keys, unused_keys
from ledger.domain.releases import policy_of
from ledger.service import Ledger
from ledger.store.governance import governance_facts
from projections.readmodel import ReadModels
from projections.verify import verify_projections
from schemas.times import format_time


def compliance(ledger: Ledger, tenant: str, as_of: datetime, *, models: ReadModels | None,
               api_keys: Iterable[dict[str, Any]], signing_keys: Iterable[tuple[str, datetime]],
               today: datetime) -> dict[str, Any]:
    """Every finding, with counts by code; `models` None skips the read-model comparison (and
    says so in `skipped`)."""
    store = ledger.store
    policy = policy_of(governance_facts(store, tenant))
    catalogs = store.catalogs(tenant)
    findings: list[dict[str, Any]] = []
    for license_id in store.licenses_of_tenant(tenant):
        findings += license_findings(store.license_facts(tenant, license_id),
                                     store.usage_facts(tenant, license_id), catalogs, as_of)
    skipped = []
    if models is None:
        skipped.append("read_model_mismatch")
    else:
        findings += [{"code": "read_model_mismatch", "problem": problem}
                     for problem in verify_projections(store, ledger, models, today, tenant)]
    findings += unused_keys(api_keys, today, policy.api_key_unused_days)
    findings += old_signing_keys(signing_keys, today, policy.signing_key_max_age_days)
    return {"tenant": tenant, "as_of": format_time(as_of), "policy": policy.as_dict(),
            "counts": {code: sum(f["code"] == code for f in findings) for code in CODES},
            "skipped": skipped, "findings": findings}
