"""Stream ids and record topics. Each business thing gets its own stream, so reading one
license never means scanning a tenant, and a busy meter grows one month's stream, not the license's."""

from __future__ import annotations

import json
from functools import lru_cache
from uuid import UUID, uuid5

_NAMESPACE = UUID("6f1f6a52-6a0e-4d4f-9b3a-3f2b8c1d2e40")

FACT = "fact:"  # + event type; the fact itself, with its hash
LINK = "link"  # the tenant chain: version = sequence, so two writers can never take the same one
RECEIPT = "receipt"  # (tenant, source, id) seen: the idempotency key, version 1 only
INDEX = "index"  # which licenses a customer has, which a tenant has, which months a meter used


@lru_cache(maxsize=65536)
def _id(*parts: str) -> UUID:
    return uuid5(_NAMESPACE, json.dumps(parts))  # unambiguous whatever the parts contain


def license_stream(tenant: str, license_id: str) -> UUID:
    return _id("license", tenant, license_id)


def usage_stream(tenant: str, license_id: str, month: str) -> UUID:
    return _id("usage", tenant, license_id, month)


def usage_months_stream(tenant: str, license_id: str) -> UUID:
    return _id("usage-months", tenant, license_id)


def catalog_stream(tenant: str) -> UUID:
    return _id("catalog", tenant)


def governance_stream(tenant: str) -> UUID:
    """A tenant's catalog release steps and governance policy, in recorded order."""
    return _id("governance", tenant)


def payments_stream(tenant: str, license_id: str) -> UUID:
    return _id("payments", tenant, license_id)


def chain_stream(tenant: str) -> UUID:
    return _id("chain", tenant)


def receipt_stream(tenant: str, source: str, event_id: str) -> UUID:
    return _id("receipt", tenant, source, event_id)


def customer_stream(tenant: str, customer_id: str) -> UUID:
    return _id("customer", tenant, customer_id)


def tenant_licenses_stream(tenant: str) -> UUID:
    return _id("tenant-licenses", tenant)


def fact_topic(event_type: str) -> str:
    return FACT + event_type
