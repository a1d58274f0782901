"""The licenses' lifecycle facts a writer read, kept from one batch to the next.

Every batch judges its envelopes against their licenses' lifecycle facts, read under the
tenants' write lock; a writer that owns its tenants (one `consume` worker per tenant, the
embedded default) read the same facts again every batch, decoding each record anew (5-25 us
an event of ingest on SQLite, the more licenses a batch touches). What it read is what it would
read next, as long as nobody else appended to the tenant's chain and it recorded nothing new
for the license: so a tenant's licenses are kept as of its chain head (its newest record) and
used only by a batch that read that same head under the lock. Another writer's append moves the
head: the writer then asks the index which licenses got lifecycle facts since the head it kept
(after checking that record is still there as it was) and reads only those afresh, so that two
`consume` workers sharing a tenant (billing keyed by license) do not each read every license
again after every turn of the other; a license the writer itself recorded a lifecycle fact for
is read afresh when next needed. A record altered below the head after it was read is not read
again (a writer reading afresh would refuse an unreadable one): finding that is `ledger
verify`'s job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact
from ledger.domain.fold import Timeline

KEPT = 100_000  # licenses (and folds) kept per tenant; past that the tenant's start again
TENANTS = 1_000  # tenants kept; past that the longest kept is dropped (bounds, not a policy)
CATALOG_BYTES = 2 * 2**20  # stored bytes of the catalog histories kept (`RememberedCatalogs`)

# A chain head as read: its newest record's version and stored bytes (compared as they are,
# unchecked: `LedgerStore._chained` checks the head it chains to, as before)
HeadKey = tuple[int, bytes]
# How the judging keys a license's fold: tenant, license, facts, facts covered, catalog facts
FoldKey = tuple[str, str, int, int, int]


@dataclass
class _Tenant:
    head: HeadKey | None  # the head these licenses are as of (None: the chain is empty)
    licenses: dict[str, list[Fact]] = field(default_factory=dict)
    folds: dict[FoldKey, Timeline] = field(default_factory=dict)  # see `folds`


class RememberedLicenses:
    """Per tenant, as of a chain head: license id -> its lifecycle facts in sequence order, as
    `LedgerStore.license_facts` reads them."""

    def __init__(self, kept: int = KEPT, tenants: int = TENANTS):
        self.kept, self.tenants = kept, tenants
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.Lock()  # writers of different tenants may share the store

    def of(self, tenant: str, head: HeadKey | None) -> dict[str, list[Fact]]:
        """The licenses kept for `tenant` as of `head`, the head a writer read under the
        tenant's lock: empty (and started afresh) if they were kept for another one."""
        with self._lock:
            found = self._tenants.get(tenant)
            if found is None or found.head != head:
                self._tenants.pop(tenant, None)
                while self._tenants and len(self._tenants) >= self.tenants:  # the one kept longest goes
                    del self._tenants[next(iter(self._tenants))]
                found = self._tenants[tenant] = _Tenant(head)
            return found.licenses

    def folds(self, tenant: str, head: HeadKey | None) -> dict[FoldKey, Timeline]:
        """Folds of the kept licenses' recorded facts, keyed as the judging keys them, as of
        `head` (the judging's to fill: a license's first n recorded facts and the tenant's
        first c catalog facts stay what they are while the chain only grows)."""
        self.of(tenant, head)
        with self._lock:
            found = self._tenants.get(tenant)
            if found is None:
                return {}
            if len(found.folds) > self.kept:
                found.folds.clear()
            return found.folds

    def read(self, tenant: str, head: HeadKey | None, licenses: dict[str, list[Fact]]) -> None:
        """Keep licenses read from the store under the lock at `head` (copies: the caller's
        lists grow with its batch's drafts)."""
        kept = self.of(tenant, head)
        if len(kept) + len(licenses) > self.kept:
            kept.clear()
        kept.update((license_id, list(facts)) for license_id, facts in licenses.items())

    def head_of(self, tenant: str) -> HeadKey | None:
        """The head the tenant's licenses are kept as of (None: nothing kept, or kept for an
        empty chain)."""
        with self._lock:
            found = self._tenants.get(tenant)
            return None if found is None else found.head

    def recorded(self, tenant: str, before: HeadKey | None, after: HeadKey,
                 licenses: Iterable[str]) -> None:
        """The chain grew from `before` to `after` (a batch of this writer committed, or
        another writer's batches did, `LedgerStore.write` finds which), with lifecycle facts
        of `licenses` among the new records: what was kept as of `before` is now as of
        `after`, but for those licenses, which are read afresh when next needed. The folds
        stay: each is keyed by how many facts of its license it folds. (Keeping
        the recorded facts would keep objects their callers hold, as `Outcome.fact` and
        `append`'s drafts, whose data they may change: a copy of each cost more than reading
        the license again, ~4 us per lifecycle event on SQLite.)"""
        with self._lock:
            found = self._tenants.get(tenant)
            if found is None or found.head != before:
                self._tenants.pop(tenant, None)
                return
            for license_id in licenses:
                found.licenses.pop(license_id, None)
            found.head = after


class RememberedCatalogs:
    """Per tenant, its catalog history as of its newest catalog fact (`TenantReads.catalogs`).
    A tenant's catalog facts only grow, each later one with a higher sequence, so the history
    read with a given newest sequence is the history for as long as that stays the newest: a
    request then reads one number from the index instead of every version's record, and parses
    no version again (each read did, in proportion to the catalogs' bytes: seconds for a tenant
    of large catalogs, on a core the other tenants share). Bounded by the stored bytes of the
    histories kept (a history in memory, parsed, takes some 30-40 times its stored bytes), the
    least recently used going first; a history larger than the whole budget is not kept."""

    def __init__(self, budget: int = CATALOG_BYTES):
        self.budget = budget
        self._kept: dict[str, tuple[int, CatalogHistory, int]] = {}  # in order of last use
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, tenant: str, newest: int) -> CatalogHistory | None:
        with self._lock:
            found = self._kept.pop(tenant, None)
            if found is None:
                return None
            self._kept[tenant] = found  # the most recently used now
            return found[1] if found[0] == newest else None

    def put(self, tenant: str, newest: int, history: CatalogHistory, stored_bytes: int) -> None:
        with self._lock:
            old = self._kept.pop(tenant, None)
            self._bytes -= 0 if old is None else old[2]
            if stored_bytes > self.budget:
                return
            while self._kept and self._bytes + stored_bytes > self.budget:
                self._bytes -= self._kept.pop(next(iter(self._kept)))[2]
            self._kept[tenant] = (newest, history, stored_bytes)
            self._bytes += stored_bytes
