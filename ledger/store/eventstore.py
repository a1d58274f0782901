"""The ledger's event store, on the eventsourcing library's recorders (SQLite or PostgreSQL).

Each tenant's facts are one stream of the library, its hash chain (version = sequence); beside
each fact, in the same transaction, our table gets its index row (`records.IndexRow`), which is
also its idempotency receipt. Nothing else is written, so the notification log carries facts
only. Writes take the tenants' write lock first (`recorders.writing`), then judge, chain and
insert: one writer per tenant by design, never a re-judged batch. The reads of the whole
ledger in position order (followers, `ledger verify`) are `inorder.LedgerInOrder`'s, the reads
of a tenant's facts `tenantreads.TenantReads`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.domain.facts import Fact
from ledger.domain.fold import Timeline
from ledger.store import streams
from ledger.store.chaining import Head, chained_batch
from ledger.store.inorder import CorruptStoreError
from ledger.store.recorders import AppendCollidedError, TenantBusyError
from ledger.store.records import LIFECYCLE, kind_of
from ledger.store.remembered import FoldKey, HeadKey, RememberedCatalogs, RememberedLicenses
from ledger.store.tenantreads import TenantReads
from schemas.times import ZonelessTimeError

__all__ = ["ConcurrentAppendError", "CorruptStoreError", "Head", "LedgerStore"]


class ConcurrentAppendError(Exception):
    """The append could not take its place: the tenant stayed locked, or a unique key refused
    it. Nothing was written; sending the same batch again is safe."""


class LedgerStore(TenantReads):
    """The ledger's reads and its one write path, over the library's recorder (`recorder`)."""

    def __init__(self, recorder: Any, clock: Callable[[], datetime] | None = None,
                 factory: Any = None):
        self.recorder = recorder
        self.clock = clock or (lambda: datetime.now(UTC))
        self._factory = factory
        self.remembered = RememberedLicenses()
        self.remembered_catalogs = RememberedCatalogs()
        self._heads = threading.local()  # a write's chain heads, as read under its lock

    def close(self) -> None:
        if self._factory is not None:
            self._factory.close()

    # -- reading, as of the heads a write read under its lock ----------------------------------
    def license_facts_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Fact]]:
        """The lifecycle facts of several licenses, (tenant, license id) -> facts, one query
        per tenant. Inside a write, what this writer kept of the tenant's licenses as of the
        head it read under the lock is not read again (`remembered`)."""
        found: dict[tuple[str, str], list[Fact]] = {key: [] for key in keys}
        by_tenant: dict[str, list[str]] = {}
        for tenant, license_id in found:
            by_tenant.setdefault(tenant, []).append(license_id)
        heads: dict[str, HeadKey | None] | None = getattr(self._heads, "heads", None)
        for tenant, ids in by_tenant.items():
            kept = None if heads is None or tenant not in heads else self.remembered.of(tenant, heads[tenant])
            wanted = ids if kept is None else [i for i in ids if i not in kept]
            for subject, fact in self._facts(tenant, LIFECYCLE, wanted) if wanted else ():
                found[(tenant, subject)].append(fact)
            if kept is None:
                continue
            for license_id in ids:
                if license_id in kept:
                    found[(tenant, license_id)] = list(kept[license_id])
            if wanted:
                assert heads is not None
                self.remembered.read(tenant, heads[tenant], {i: found[(tenant, i)] for i in wanted})
        return found

    def kept_folds(self, tenant: str) -> dict[FoldKey, Timeline]:
        """Inside a write, the folds this writer kept of the tenant's recorded facts as of the
        head it read under the lock (`RememberedLicenses.folds`); outside one, a dict to drop."""
        heads: dict[str, HeadKey | None] | None = getattr(self._heads, "heads", None)
        if heads is None or tenant not in heads:
            return {}
        return self.remembered.folds(tenant, heads[tenant])

    # -- writing -------------------------------------------------------------------------------
    def write(self, tenants: Iterable[str], judge: Callable[[], Sequence[Fact]]) -> list[Fact]:
        """Hold the tenants' write lock, let `judge` read what it needs and return the drafts it
        accepts, then record them chained, in the same transaction. Returns the facts with
        sequence, hash, recorded time and position filled in. The tenants' chain heads are
        read first, under the lock: what was kept of their licenses holds only at those."""
        locked = sorted(set(tenants))
        try:
            with self.recorder.writing(locked) as writer:
                heads = {t: self.recorder.newest(streams.chain_stream(t)) for t in locked}
                for tenant, head in heads.items():
                    self._caught_up(tenant, head)
                self._heads.heads = heads
                try:
                    drafts = judge()
                finally:
                    self._heads.heads = None
                if not drafts:
                    return []
                facts, stored = self._chained(drafts, heads)
                positions = writer.insert(stored, facts)
        except (TenantBusyError, AppendCollidedError) as exc:
            raise ConcurrentAppendError(str(exc)) from exc
        # The facts were built by `_chained` for this write and nobody holds them yet: each gets
        # its position in place (a second copy of every fact was ~2 us per event).
        for fact, position in zip(facts, positions, strict=True):
            fact.__dict__["position"] = position
        self._recorded(heads, facts, stored)
        return facts

    def _caught_up(self, tenant: str, head: HeadKey | None) -> None:
        """Under the lock, before judging: if another writer moved the tenant's head since
        this one kept its licenses, keep them as of the new head but for those the other
        recorded lifecycle facts for (`RememberedLicenses.recorded`). A chain that did not grow
        from the kept head, or grew by more than is kept, leaves them to be dropped (`of`)."""
        kept = self.remembered.head_of(tenant)
        if kept is None or head is None or kept == head or not 0 < head[0] - kept[0] <= self.remembered.kept:
            return
        changed = self.recorder.licenses_changed_since(streams.chain_stream(tenant), tenant, kept)
        if changed is not None:
            self.remembered.recorded(tenant, kept, head, changed)

    def _recorded(self, heads: dict[str, HeadKey | None], facts: Sequence[Fact],
                  stored: Sequence[StoredEvent]) -> None:
        """After the commit: what each written tenant has kept is as of its new head (its last
        record), but for the licenses the batch recorded lifecycle facts for."""
        last: dict[str, HeadKey] = {}
        changed: dict[str, set[str]] = {}
        for fact, record in zip(facts, stored, strict=True):
            last[fact.tenant] = (fact.sequence, record.state)
            if kind_of(fact.type) == LIFECYCLE:
                changed.setdefault(fact.tenant, set()).add(fact.subject)
        for tenant, head in last.items():
            self.remembered.recorded(tenant, heads[tenant], head, changed.get(tenant, ()))

    def append(self, drafts: Sequence[Fact]) -> list[Fact]:
        """Record already judged drafts (tests and tools; ingest judges under the lock). A
        draft whose effective time has no zone is refused before anything is written: it
        would be stored silently shifted by this machine's local zone (and a usage draft
        would fail deep in the index row with a bare TypeError)."""
        for n, draft in enumerate(drafts):
            if draft.effective_at.utcoffset() is None:
                raise ZonelessTimeError(
                    f"drafts[{n}] ({draft.source}/{draft.source_event_id}): field 'effective_at' "
                    f"must be an aware datetime (with a zone, e.g. UTC), got "
                    f"{draft.effective_at.isoformat()!r}; nothing was written")
        return self.write({d.tenant for d in drafts}, lambda: drafts)

    def _chained(self, drafts: Sequence[Fact], newest: dict[str, HeadKey | None]
                 ) -> tuple[list[Fact], list[StoredEvent]]:
        """`chained_batch` of the drafts on their tenants' heads (`newest`: each tenant's
        newest record as read under the lock), each checked before anything is chained to it."""
        now = self.clock()
        heads = {t: self.checked_head(t, newest[t]) for t in dict.fromkeys(d.tenant for d in drafts)}
        return chained_batch(drafts, heads, now)
