"""Builders for tests: envelopes and facts in a few words, and the contract's example catalog."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.state import FeatureState, LicenseState
from schemas.envelope import parse_envelope
from schemas.times import parse_time

CATALOG: dict[str, Any] = {
    "version": "2026-03",
    "plans": {
        "basic": {"tier": 1, "features": {"reports": {}, "api_calls": {"limit": 1000, "period": "month"}}},
        "pro": {"tier": 2, "features": {"reports": {}, "sso": {},
                                        "api_calls": {"limit": 100000, "period": "month"}},
                "grace_days": 7},
        "enterprise": {"tier": 3, "features": {"reports": {}, "sso": {},
                                               "audit_export": {"blocked_regions": ["KP", "IR"]},
                                               "api_calls": {"limit": None}}},
    },
}

_ids = itertools.count(1)


def t(text: str) -> datetime:
    """'2026-03-01' or a full RFC 3339 time -> aware datetime."""
    return parse_time(text if "T" in text else f"{text}T00:00:00Z")


def envelope(type_: str, time: str, subject: str = "lic-1", *, id: str | None = None,
             source: str = "billing/test", tenant: str | None = None, **data: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"specversion": "1.0", "id": id or f"evt-{next(_ids)}", "source": source,
                           "type": type_, "time": time if "T" in time else f"{time}T00:00:00Z",
                           "subject": subject, "data": data}
    if tenant is not None:
        env["tenantid"] = tenant
    return env


def catalog_envelope(time: str = "2026-01-01", catalog: dict[str, Any] | None = None,
                     **kw: Any) -> dict[str, Any]:
    body = catalog or CATALOG
    return envelope("catalog.published", time, body["version"], **kw, **body)


class Facts:
    """Facts as the ledger would record them, in recorded order, for pure fold tests."""

    def __init__(self, tenant: str = "acme"):
        self.tenant = tenant
        self.sequence = 0
        self.recorded = parse_time("2026-01-01T00:00:00Z")

    def make(self, type_: str, time: str, subject: str = "lic-1", *, recorded: str | None = None,
             **data: Any) -> Fact:
        inbound = parse_envelope(envelope(type_, time, subject, **data))
        self.sequence += 1
        recorded_at = t(recorded) if recorded else inbound.time
        return Fact(tenant=self.tenant, subject=subject, type=type_, effective_at=inbound.time,
                    recorded_at=recorded_at, source="billing/test", source_event_id=inbound.id,
                    data=inbound.data, sequence=self.sequence)

    def catalogs(self, *catalogs: tuple[str, dict[str, Any]]) -> CatalogHistory:
        published = catalogs or (("2026-01-01", CATALOG),)
        return CatalogHistory.of(
            self.make("catalog.published", time, body["version"], **body) for time, body in published)


def a_state(license_id: str = "lic-1", status: str = "active",
            features: dict[str, dict[str, Any]] | None = None, **fields: Any) -> LicenseState:
    """A typed license state from the contract's feature entries (metered ones name `used`)."""
    typed = {name: FeatureState(entry["enabled"], entry.get("blocked_region"), entry.get("limit"),
                                entry.get("period", "month") if "used" in entry else None,
                                entry.get("used"))
             for name, entry in (features if features is not None else
                                 {"sso": {"enabled": True}}).items()}
    start = t("2026-01-01T00:00:00Z")
    base: dict[str, Any] = {
        "license_id": license_id, "tenant": "acme", "customer_id": "c", "plan": "pro",
        "status": status, "seats": 1, "seats_assigned": (), "starts_at": start, "ends_at": None,
        "region": None, "features": typed, "catalog_version": "2026-03", "last_event_id": "e-1",
        "as_of": start}
    return LicenseState(**{**base, **fields})
