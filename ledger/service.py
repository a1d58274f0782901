"""The ledger's use cases: take in envelopes, and answer what a license was, when, as known when.

Writes go through `ingest`: each envelope is parsed, deduplicated by (tenant, source, id),
judged against the license's state at its effective time, and the accepted ones of a batch
are recorded in one transaction (the batch's judgement is `ledger.judging`'s). Reads fold the
same facts with the same fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ledger.collector import collector_paused
from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, Fact
from ledger.domain.fold import history
from ledger.domain.state import LicenseState
from ledger.judging import STEPS, BatchJudgement, Outcome, garbled_keys, rejected
from ledger.reading import many_states, one_state, one_typed_state
from ledger.store.eventstore import LedgerStore
from schemas.envelope import Inbound, InvalidEventError, parse_envelope
from schemas.times import format_time


class Ledger:
    def __init__(self, store: LedgerStore):
        self.store = store

    # -- writing -------------------------------------------------------------------------------
    def ingest(self, raws: Sequence[Any], default_tenant: str | None, *, enforce_tenant: bool = False,
               text: bool = True, workflow: bool = False) -> list[Outcome]:
        """Judge and record a batch in one transaction; one bad envelope never fails the others.
        With `text`, str and bytes items are JSON text; without, every item must be an object.
        Release steps and policy changes (`schemas.governance`) are taken only with `workflow`:
        the release workflow records them, no billing channel may.
        The batch's tenants are locked for the judgement and the append, so each envelope is
        judged against everything recorded before it, whatever the batch boundaries.
        Raises ConcurrentAppendError (nothing written) if a tenant stays locked too long."""
        with collector_paused():  # the batch's objects all live until it commits
            return self._ingest(raws, default_tenant, enforce_tenant, text, workflow)

    def _ingest(self, raws: Sequence[Any], default_tenant: str | None, enforce_tenant: bool,
                text: bool, workflow: bool) -> list[Outcome]:
        parsed = [self._parse(raw, default_tenant, enforce_tenant, text) for raw in raws]
        if not workflow:
            parsed = [rejected(p, "not_an_inbound_event", f"type {p.type!r} is recorded by the "
                               "catalog release workflow ('ledger catalog', /v1/catalog), never "
                               "sent in") if isinstance(p, Inbound) and p.type in STEPS else p
                      for p in parsed]
        garbled = garbled_keys(parsed, raws, default_tenant)
        items = [p for p in parsed if isinstance(p, Inbound)]
        tenants = {i.tenant or "" for i in items} | {k[0] for k in garbled.values()}
        outcomes: list[Outcome] = []

        def judge() -> list[Fact]:
            batch = BatchJudgement(self.store, items, garbled.values())
            outcomes.clear()
            for n, item in enumerate(parsed):
                outcomes.append(batch.resent(item, garbled.get(n)) if isinstance(item, Outcome)
                                else batch.consider(item))
            return [o.fact for o in outcomes if o.fact is not None]

        if not tenants:  # every envelope was refused before judgement
            return [p for p in parsed if isinstance(p, Outcome)]
        stored = iter(self.store.write(tenants, judge))
        for outcome in outcomes:  # built by `judge` for this batch, held by no one else yet:
            if outcome.fact is not None:  # each gets its recorded fact in place of the draft
                outcome.__dict__["fact"] = next(stored)
        return outcomes

    def _parse(self, raw: Any, default_tenant: str | None, enforce: bool, text: bool) -> Inbound | Outcome:
        try:
            item = parse_envelope(raw, text=text)
        except InvalidEventError as exc:
            return Outcome(exc.event_id, exc.source, "rejected", exc.code, str(exc))
        if enforce and item.tenant is not None and item.tenant != default_tenant:
            return rejected(item, "tenant_mismatch",
                            f"tenantid {item.tenant!r} is not the caller's tenant")
        tenant = item.tenant or default_tenant
        if not tenant:
            return rejected(item, "invalid_event", "field 'tenantid': required on this channel")
        if tenant == item.tenant:  # named in the envelope: nothing to fill in
            return item
        return Inbound(item.id, item.source, item.type, item.time, item.subject, tenant, item.data)

    # -- reading -------------------------------------------------------------------------------
    def state(self, tenant: str, license_id: str, as_of: datetime,
              known_at: datetime = FAR_FUTURE, catalogs: CatalogHistory | None = None
              ) -> dict[str, Any] | None:
        """The state of one license at `as_of`, as the ledger knew it at `known_at`; with
        `catalogs`, as it would be under that catalog history (an impact preview's fork)."""
        catalogs = self.store.catalogs(tenant) if catalogs is None else catalogs
        return one_state(self.store, tenant, license_id, as_of, known_at, catalogs)

    def replay(self, tenant: str, as_of: datetime, known_at: datetime = FAR_FUTURE, *,
               customer_id: str | None = None, license_id: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        """States of the licenses that existed at `as_of`: one, a customer's, or the tenant's."""
        if license_id is not None:
            ids = [license_id]
        elif customer_id is not None:
            ids = self.store.licenses_of_customer(tenant, customer_id)
        else:
            ids = self.store.licenses_of_tenant(tenant)
        return many_states(self.store, tenant, ids, as_of, known_at, progress)

    def license_file_states(self, tenant: str, customer_id: str, as_of: datetime) -> list[LicenseState]:
        """The typed states of a customer's licenses at `as_of`, as a license file signs them:
        the same fold as `state`, kept typed so the file's `licenses` are `as_dict` of the one
        typed answer the check decides on, not a document read back and re-interpreted."""
        catalogs = self.store.catalogs(tenant)
        found = (one_typed_state(self.store, tenant, license_id, as_of, FAR_FUTURE, catalogs)
                 for license_id in self.store.licenses_of_customer(tenant, customer_id))
        return [state for state in found if state is not None]

    def history(self, tenant: str, license_id: str) -> list[dict[str, Any]]:
        facts = self.store.license_facts(tenant, license_id)
        usage = self.store.usage_facts(tenant, license_id)
        positions = self.store.positions(tenant, license_id)
        return [_entry(f, status, positions.get(f.sequence))
                for f, status in history(facts, usage, self.store.catalogs(tenant))]

    def recent_history(self, tenant: str, license_id: str, limit: int
                       ) -> tuple[list[dict[str, Any]], int]:
        """The last `limit` entries of `history` (in its order) and how many it has in all,
        reading only the license's `limit` newest usage records: the older ones cannot be among
        the newest entries, and a busy meter's license has thousands (the portal shows 50)."""
        facts = self.store.license_facts(tenant, license_id)
        usage, usage_count = self.store.newest_usage(tenant, license_id, limit)
        entries = [_entry(f, status, f.position)
                   for f, status in history(facts, usage, self.store.catalogs(tenant))]
        return entries[-limit:] if limit else [], len(facts) + usage_count


def _entry(fact: Fact, status: str, position: int | None) -> dict[str, Any]:
    """One entry of a license's history (`GET /v1/licenses/{id}/history`)."""
    return {"id": fact.source_event_id, "source": fact.source, "type": fact.type,
            "effective_at": format_time(fact.effective_at),
            "recorded_at": format_time(fact.recorded_at), "position": position,
            "sequence": fact.sequence, "hash": fact.hash, "prev_hash": fact.prev_hash,
            "data": fact.data, "status": status}
