"""The reads of a tenant's facts through our index (licenses, usage, catalogs, receipts, the checked
chain head): `LedgerStore` takes these from `TenantReads`; they need nothing of the write path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.chain import fact_hash
from ledger.domain.facts import Fact
from ledger.domain.usage import month_key
from ledger.store import streams
from ledger.store.chaining import Head
from ledger.store.codec import STORAGE_VERSION, seal, to_fact
from ledger.store.inorder import CorruptStoreError, LedgerInOrder, load_fact
from ledger.store.records import CATALOG, GOVERNANCE, LIFECYCLE, PAYMENT, USAGE, micros
from ledger.store.remembered import RememberedCatalogs


class TenantReads(LedgerInOrder):
    """The reads of a tenant's facts, for any class that holds the library's recorder (with our
    index table) as `recorder`."""

    def _facts(self, tenant: str, kind: str, subjects: Sequence[str] | None = None,
               months: Sequence[str] | None = None) -> list[tuple[str, Fact]]:
        return _loaded(self.recorder.stored_facts(tenant, kind, subjects, months))

    def license_facts(self, tenant: str, license_id: str) -> list[Fact]:
        return [f for _, f in self._facts(tenant, LIFECYCLE, [license_id])]

    def usage_months(self, tenant: str, license_id: str) -> list[str]:
        """The months the license has usage in, in the order they were first recorded."""
        months: list[str] = self.recorder.usage_months(tenant, license_id)
        return months

    def usage_facts(self, tenant: str, license_id: str,
                    months: Iterable[str] | None = None) -> list[Fact]:
        wanted = self.usage_months(tenant, license_id) if months is None else list(months)
        by_month: dict[str, list[Fact]] = {m: [] for m in wanted}
        for _, fact in self._facts(tenant, USAGE, [license_id], list(by_month)):
            by_month[month_key(fact.effective_at)].append(fact)
        return [f for m in by_month for f in by_month[m]]

    def usage_total(self, tenant: str, license_id: str, feature: str, since: datetime,
                    until: datetime, known_at: datetime,
                    before: tuple[datetime, int] | None) -> int:
        """How much of `feature` the license's usage recorded by `known_at` adds up to, over
        `since <= effective_at <= until` and, with `before`, before that (effective time,
        sequence): summed by the database over the index's usage columns, nothing decoded."""
        month = month_key(since) if month_key(since) == month_key(until) else None
        found: int = self.recorder.usage_total(
            tenant, license_id, feature, micros(since), micros(until), micros(known_at),
            None if before is None else (micros(before[0]), before[1]), month)
        return found

    def newest_usage(self, tenant: str, license_id: str, limit: int) -> tuple[list[Fact], int]:
        """A license's `limit` newest usage facts in effective order (oldest of them first, as
        `usage_facts` orders a month), and how many it has in all; no other is decoded."""
        rows, total = self.recorder.newest_usage(tenant, license_id, limit)
        return [f for _, f in reversed(_loaded(rows))], total

    def usage_facts_of(self, tenant: str, license_ids: Sequence[str]
                       ) -> dict[str, dict[str, list[Fact]]]:
        """Every usage fact of several licenses in one read: license id -> month -> facts, the
        months in the order first recorded and each month's facts in sequence order, exactly
        as `usage_months` and `usage_facts` give them for one license."""
        found: dict[str, dict[str, list[Fact]]] = {}
        for subject, fact in self._facts(tenant, USAGE, list(dict.fromkeys(license_ids))):
            found.setdefault(subject, {}).setdefault(month_key(fact.effective_at), []).append(fact)
        return found

    remembered_catalogs: RememberedCatalogs

    def catalogs(self, tenant: str) -> CatalogHistory:
        """The tenant's catalog history, as kept while its newest catalog fact is the one it was
        read with (`RememberedCatalogs`). A history read inside a write is not kept: the writer
        may have added a catalog it then rolls back."""
        newest = self.recorder.newest_sequence(tenant, CATALOG)
        if newest is None:
            return CatalogHistory()
        kept = self.remembered_catalogs.get(tenant, newest)
        if kept is not None:
            return kept
        rows = self.recorder.stored_facts(tenant, CATALOG)
        facts = [f for _, f in _loaded(rows)]
        history = CatalogHistory.of(facts)
        if facts and getattr(self.recorder._writing, "cursor", None) is None:
            self.remembered_catalogs.put(tenant, max(f.sequence for f in facts), history,
                                         sum(len(raw) for _, _, raw in rows))
        return history

    def governance_facts(self, tenant: str) -> list[Fact]:
        """The tenant's catalog release steps and policy changes, in recorded order."""
        return [f for _, f in self._facts(tenant, GOVERNANCE)]

    def payment_facts(self, tenant: str, license_id: str) -> list[Fact]:
        """A license's payment events, in recorded order."""
        return [f for _, f in self._facts(tenant, PAYMENT, [license_id])]

    def head(self, tenant: str) -> Head | None:
        """The newest fact of the tenant's chain, checked: the chain is never built on a head
        whose content no longer matches its hash."""
        return self.checked_head(tenant, self.recorder.newest(streams.chain_stream(tenant)))

    def head_and_reach(self, tenant: str) -> tuple[Head | None, int]:
        """The checked head and how many leaves the tenant's stored tree nodes cover, read in
        one query (what `VerifiableLog.sync` asks before every tree head and proof)."""
        found, reach = self.recorder.head_and_reach(streams.chain_stream(tenant), tenant)
        return self.checked_head(tenant, found), reach

    def checked_head(self, tenant: str, found: tuple[int, bytes] | None) -> Head | None:
        """`head` of the newest record as read, (version, stored bytes), or None."""
        if found is None:
            return None
        version, state = found
        what = f"the newest stored event of tenant {tenant!r} (sequence {version})"
        try:
            record = json.loads(state)
            fact = to_fact(record, upcasting=False)
            intact = (fact_hash(fact) == fact.hash and fact.sequence == version
                      and record.get("seal") == seal(record.get("v"), record.get("data_version"),
                                                     fact.hash)
                      and record.get("v") == STORAGE_VERSION)
        except (KeyError, TypeError, ValueError, AttributeError):
            intact = False
        if not intact:
            raise CorruptStoreError(f"{what} is unreadable or altered: no new event can be chained "
                                    "to it; run `ledger verify` to find what changed")
        return Head(fact.sequence, fact.hash, fact.recorded_at)

    def licenses_of_customer(self, tenant: str, customer_id: str) -> list[str]:
        found: list[str] = self.recorder.granted_licenses(tenant, customer_id)
        return found

    def licenses_of_tenant(self, tenant: str) -> list[str]:
        found: list[str] = self.recorder.granted_licenses(tenant, None)
        return found

    def positions(self, tenant: str, license_id: str) -> dict[int, int]:
        """Ledger positions of a license's facts by sequence (audits need them, the hot path
        does not)."""
        found: dict[int, int] = self.recorder.positions(tenant, license_id)
        return found

    def receipts(self, keys: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which (tenant, source, id) keys were already accepted: one query per tenant."""
        by_tenant: dict[str, set[str]] = {}
        wanted = set(keys)
        for tenant, _, event_id in wanted:
            by_tenant.setdefault(tenant, set()).add(event_id)
        seen = {(tenant, source, event_id) for tenant, ids in by_tenant.items()
                for source, event_id in self.recorder.receipts(tenant, sorted(ids))}
        return seen & wanted

    def sequence_of(self, tenant: str, source: str, event_id: str) -> int | None:
        found: int | None = self.recorder.sequence_of(tenant, source, event_id)
        return found

    def fact_at_sequence(self, tenant: str, sequence: int) -> Fact | None:
        found = self.recorder.fact_at(tenant, sequence)
        return None if found is None else load_fact(found[1], found[0], f"event {sequence} of {tenant!r}")

    def event_hashes(self, tenant: str, upto: int | None = None, *, after: int = 0) -> list[str]:
        """The `hash` of the tenant's events after+1..upto (all if None), in sequence order:
        one range read of just those (the tree's catch-up reads only the new ones)."""
        found = self.recorder.select_events(streams.chain_stream(tenant), gt=after or None,
                                            lte=upto)
        return [str(json.loads(e.state)["hash"]) for e in found]


def _loaded(rows: Sequence[tuple[str, int, bytes]]) -> list[tuple[str, Fact]]:
    """(subject, fact) of (subject, position, stored bytes) rows, each checked as it loads."""
    return [(subject, load_fact(raw, position, f"the stored event of {subject!r}"))
            for subject, position, raw in rows]
