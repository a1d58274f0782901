"""Tenant-affine routing of `billing.events`: which partition a tenant's envelopes go to.

The ledger has one writer per tenant at a time (the tenant's write lock). When billing keys its
records by license, every tenant's envelopes reach every partition, so every `consume` worker
of the group holds batches of every tenant and the workers queue for each other's locks. When
billing sends a tenant's envelopes to one partition, a tenant's work goes to the one worker
that owns that partition (the consumer group gives each partition to one member), and
workers owning different tenants' partitions never wait for each other.

`tenant_partition` is Kafka's own default partitioner (murmur2 of the key, as the Java client
computes it) applied to the tenant id: a producer in any language gets the same partition by
sending with key = tenant id, or by choosing this partition and keeping key = license id (what
`bench/pipeline.py --key tenant` and docs/kafka.md do). Nothing on the consume side depends on
it: ordering per license holds either way (one license, one tenant, one partition), and a
rebalance moves whole partitions, so a tenant moves with its partition.
"""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def tenant_partition(tenant: str, partitions: int) -> int:
    """The partition of `billing.events` (of `partitions`) that holds `tenant`'s envelopes."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    return (murmur2(tenant.encode("utf-8")) & 0x7FFFFFFF) % partitions
