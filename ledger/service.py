"""The ledger's use cases: take in envelopes, and answer what a license was, when, as known when.

Writes go through `ingest`: each envelope is parsed, deduplicated by (tenant, source, id),
judged against the license's state at its effective time, and the accepted ones of a batch
are recorded in one transaction. Reads fold the same facts with the same fold.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, Fact, RuleBrokenError, reject
from ledger.domain.fold import fold, history, judge
from ledger.domain.releases import judge_publication, judge_step
from ledger.domain.state import license_state
from ledger.domain.usage import CountedUsage, month_key
from ledger.store import streams
from ledger.store.eventstore import ConcurrentAppendError, LedgerStore
from ledger.store.governance import governance_facts
from schemas.catalog import meaning
from schemas.envelope import Inbound, InvalidEventError, parse_envelope
from schemas.events import EVENT_TYPES, PAYMENTS
from schemas.governance import STEP_TYPES
from schemas.times import format_time

ATTEMPTS = 50


@dataclass(frozen=True)
class Outcome:
    """What became of one envelope: accepted, duplicate or rejected (with code and sentence)."""

    id: str | None
    source: str | None
    status: str
    code: str | None = None
    message: str | None = None
    fact: Fact | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "source": self.source, "status": self.status}
        if self.status == "rejected":
            out.update(code=self.code, message=self.message)
        return out


def _rejected(item: Inbound, code: str, message: str) -> Outcome:
    return Outcome(item.id, item.source, "rejected", code, message)


class Ledger:
    def __init__(self, store: LedgerStore):
        self.store = store

    # -- writing -------------------------------------------------------------------------------
    def ingest(self, raws: Sequence[Any], default_tenant: str | None, *, enforce_tenant: bool = False,
               text: bool = True, workflow: bool = False) -> list[Outcome]:
        """Judge and record a batch in one transaction; one bad envelope never fails the others.
        With `text`, str and bytes items are JSON text; without, every item must be an object.
        Release steps and policy changes (`schemas.governance`) are taken only with `workflow`:
        the release workflow records them, no billing channel may."""
        parsed = [self._parse(raw, default_tenant, enforce_tenant, text) for raw in raws]
        if not workflow:
            parsed = [_rejected(p, "not_an_inbound_event", f"type {p.type!r} is recorded by the "
                                "catalog release workflow ('ledger catalog', /v1/catalog), never "
                                "sent in") if isinstance(p, Inbound) and p.type in STEP_TYPES else p
                      for p in parsed]
        parsed = self._resent_copies_are_duplicates(parsed, raws, default_tenant)
        for attempt in range(ATTEMPTS):
            try:
                return self._ingest_once(parsed)
            except ConcurrentAppendError:
                # Another writer of the same tenant won; back off a little, at random, so
                # that contending writers spread out instead of colliding again in lockstep.
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 25)))
        raise ConcurrentAppendError(f"gave up after {ATTEMPTS} attempts: heavy write contention")

    def _resent_copies_are_duplicates(self, parsed: list[Inbound | Outcome], raws: Sequence[Any],
                                      default_tenant: str | None) -> list[Inbound | Outcome]:
        """An accepted (tenant, source, id) delivered again is a duplicate, not an error, even
        if this copy came garbled: the event it names is already in the ledger."""
        keys: dict[int, tuple[str, str, str]] = {}
        for n, item in enumerate(parsed):
            if isinstance(item, Outcome) and item.code == "invalid_event" and item.id and item.source:
                tenant = _claimed_tenant(raws[n]) or default_tenant
                if tenant:
                    keys[n] = (tenant, item.source, item.id)
        if not keys:
            return parsed
        seen = self.store.receipts(keys.values())
        return [Outcome(p.id, p.source, "duplicate") if n in keys and keys[n] in seen else p
                for n, p in enumerate(parsed)]

    def _parse(self, raw: Any, default_tenant: str | None, enforce: bool, text: bool) -> Inbound | Outcome:
        try:
            item = parse_envelope(raw, text=text)
        except InvalidEventError as exc:
            return Outcome(exc.event_id, exc.source, "rejected", exc.code, str(exc))
        if enforce and item.tenant is not None and item.tenant != default_tenant:
            return _rejected(item, "tenant_mismatch",
                             f"tenantid {item.tenant!r} is not the caller's tenant")
        tenant = item.tenant or default_tenant
        if not tenant:
            return _rejected(item, "invalid_event", "field 'tenantid': required on this channel")
        return Inbound(item.id, item.source, item.type, item.time, item.subject, tenant, item.data)

    def _ingest_once(self, parsed: list[Inbound | Outcome]) -> list[Outcome]:
        batch = _Judging(self.store, [p for p in parsed if isinstance(p, Inbound)])
        outcomes: list[Outcome] = []
        drafts: list[Fact] = []
        for item in parsed:
            if isinstance(item, Outcome):
                outcomes.append(item)
                continue
            outcome = batch.consider(item)
            outcomes.append(outcome)
            if outcome.fact is not None:
                drafts.append(outcome.fact)
        if drafts:
            stored = iter(self.store.append(drafts, judged_against=batch.read, heads=batch.heads))
            outcomes = [Outcome(o.id, o.source, o.status, fact=next(stored)) if o.fact else o
                        for o in outcomes]
        return outcomes

    # -- reading -------------------------------------------------------------------------------
    def state(self, tenant: str, license_id: str, as_of: datetime,
              known_at: datetime = FAR_FUTURE, catalogs: CatalogHistory | None = None
              ) -> dict[str, Any] | None:
        """The state of one license at `as_of`, as the ledger knew it at `known_at`; with
        `catalogs`, as it would be under that catalog history (an impact preview's fork)."""
        catalogs = self.store.catalogs(tenant) if catalogs is None else catalogs
        timeline = fold(self.store.license_facts(tenant, license_id), catalogs, as_of, known_at)
        if timeline.terms is None:
            return None
        months = [m for m in self.store.usage_months(tenant, license_id) if m <= month_key(as_of)]
        if not _counts_totals(catalogs, timeline.terms.plan, as_of, known_at):
            months = [m for m in months if m == month_key(as_of)]
        usage = CountedUsage.of(self.store.usage_facts(tenant, license_id, months), known_at)
        return license_state(timeline.terms, catalogs, usage, as_of, known_at)

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
        states = []
        for done, each in enumerate(ids, start=1):
            state = self.state(tenant, each, as_of, known_at)
            if state is not None:
                states.append(state)
            if progress is not None and (done % 200 == 0 or done == len(ids)):
                progress(done, len(ids))
        return states

    def history(self, tenant: str, license_id: str) -> list[dict[str, Any]]:
        facts = self.store.license_facts(tenant, license_id)
        usage = self.store.usage_facts(tenant, license_id)
        positions = self.store.positions(tenant, license_id)
        return [{
            "id": f.source_event_id, "source": f.source, "type": f.type,
            "effective_at": format_time(f.effective_at), "recorded_at": format_time(f.recorded_at),
            "position": positions.get(f.sequence), "sequence": f.sequence, "data": f.data,
            "status": status,
        } for f, status in history(facts, usage, self.store.catalogs(tenant))]


def _claimed_tenant(raw: Any) -> str | None:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    found = raw.get("tenantid") if isinstance(raw, dict) else None
    return found if isinstance(found, str) else None


def _counts_totals(catalogs: CatalogHistory, plan: str, as_of: datetime, known_at: datetime) -> bool:
    found = catalogs.plan(plan, as_of, known_at)
    return found is not None and any(f.period == "total" for f in found.features.values())


_LICENSE_TYPES = frozenset(t for t in EVENT_TYPES if t != "catalog.published")


class _Judging:
    """Judges one batch: each envelope sees the facts already recorded and those accepted
    earlier in the same batch, exactly as if they had come one at a time."""

    def __init__(self, store: LedgerStore, items: Sequence[Inbound]):
        self.store = store
        # The chain heads first: whatever the judgement reads next is at least this recent, and
        # the append takes the sequences right after them, so any write to these tenants in
        # between (a revocation, a catalog) makes it collide and the batch is judged again.
        self.heads = {t: store.head(t) for t in {i.tenant or "" for i in items}}
        self.seen = store.receipts((i.tenant or "", i.source, i.id) for i in items)
        self.facts = store.license_facts_of(
            {(i.tenant or "", i.subject) for i in items if i.type in _LICENSE_TYPES})
        self.catalogs: dict[str, CatalogHistory] = {}
        self.governance: dict[str, list[Fact]] = {}
        self.keys: set[tuple[str, str, str]] = set()
        self.read: dict[UUID, int] = {}  # records per stream the judgement was based on
        self.now = datetime.now(UTC)

    def consider(self, item: Inbound) -> Outcome:
        tenant = item.tenant or ""
        key = (tenant, item.source, item.id)
        if key in self.keys or key in self.seen:
            return Outcome(item.id, item.source, "duplicate")
        draft = Fact(tenant=tenant, subject=item.subject, type=item.type, effective_at=item.time,
                     recorded_at=self.now, source=item.source, source_event_id=item.id,
                     data=item.data, sequence=2**62 + len(self.keys))
        catalogs = self._catalogs(tenant)
        try:
            if item.type == "catalog.published":
                if self._same_catalog_exists(catalogs, draft):
                    return Outcome(item.id, item.source, "duplicate")
                judge_publication(self._governance(tenant), catalogs, draft)
                self.catalogs[tenant] = catalogs.with_fact(draft)
            elif item.type in STEP_TYPES:
                judge_step(self._governance(tenant), catalogs, draft)
                self._governance(tenant).append(draft)
            elif item.type in PAYMENTS:
                if not self._facts(tenant, item.subject):
                    raise reject("unknown_license", f"license {item.subject!r} does not exist; "
                                 "a payment names a granted license")
            else:
                facts = self._facts(tenant, item.subject)
                judge(facts, catalogs, draft)
                if item.type != "usage.recorded":
                    facts.append(draft)
        except RuleBrokenError as exc:
            return _rejected(item, exc.code, exc.message)
        self.keys.add(key)
        return Outcome(item.id, item.source, "accepted", fact=draft)

    def _same_catalog_exists(self, catalogs: CatalogHistory, draft: Fact) -> bool:
        if draft.data.get("version") != draft.subject:
            raise reject("invalid_event", f"field 'data.version': {draft.data.get('version')!r} "
                         f"must equal the subject {draft.subject!r}")
        existing = catalogs.version(draft.subject)
        if existing is None:
            return False
        if meaning(existing.data) == meaning(draft.data):
            return True
        raise reject("catalog_version_exists", f"catalog version {draft.subject!r} was published "
                     "with other content; versions are immutable, publish a new version")

    def _facts(self, tenant: str, license_id: str) -> list[Fact]:
        if (tenant, license_id) not in self.facts:
            self.facts[(tenant, license_id)] = self.store.license_facts(tenant, license_id)
        facts = self.facts[(tenant, license_id)]
        self.read.setdefault(streams.license_stream(tenant, license_id), len(facts))
        return facts

    def _governance(self, tenant: str) -> list[Fact]:
        """The tenant's release steps and policy: read once per batch, then grown by the batch.
        The chain heads make a step written meanwhile collide with this batch."""
        if tenant not in self.governance:
            self.governance[tenant] = governance_facts(self.store, tenant)
            self.read[streams.governance_stream(tenant)] = len(self.governance[tenant])
        return self.governance[tenant]

    def _catalogs(self, tenant: str) -> CatalogHistory:
        if tenant not in self.catalogs:
            self.catalogs[tenant] = self.store.catalogs(tenant)
            self.read[streams.catalog_stream(tenant)] = len(self.catalogs[tenant].facts)
        return self.catalogs[tenant]
