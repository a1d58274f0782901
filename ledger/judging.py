"""Judging a batch: what becomes of each envelope, under its tenants' write lock.

`BatchJudgement` is made once per batch, inside `LedgerStore.write`, after the lock is taken and
the chain heads read. It reads the batch's receipts and its licenses' lifecycle facts in one
query per tenant; each tenant's catalogs and release steps are read once, when the batch first
needs them. Then each envelope in turn is judged against the facts already recorded and those
accepted earlier in the same batch, exactly as if they had come one at a time. The license
rules are the domain's (`ledger.domain.fold.judge`, the release rules); the few checks that
need the batch's view sit here: a payment names a granted license, a catalog's version is its
subject and a published version never changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.domain.catalogs import UNSCHEDULED, CatalogHistory
from ledger.domain.facts import Fact, RuleBrokenError, assembled, reject
from ledger.domain.fold import Timeline, fold, judge
from ledger.domain.releases import judge_publication, judge_step
from ledger.domain.terms import Terms
from ledger.store.eventstore import LedgerStore
from ledger.store.governance import governance_facts
from schemas.catalog import meaning
from schemas.envelope import Inbound
from schemas.events import EVENT_TYPES, PAYMENTS
from schemas.governance import STEP_TYPES


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


def _accepted(event_id: str | None, source: str | None, fact: Fact) -> Outcome:
    """Once per accepted event: built without the frozen `__init__`."""
    return assembled(Outcome, {"id": event_id, "source": source, "status": "accepted",
                               "code": None, "message": None, "fact": fact})


def rejected(item: Inbound, code: str, message: str) -> Outcome:
    return Outcome(item.id, item.source, "rejected", code, message)


def garbled_keys(parsed: Sequence[Inbound | Outcome], raws: Sequence[Any],
                 default_tenant: str | None) -> dict[int, tuple[str, str, str]]:
    """The (tenant, source, id) that invalid envelopes still name: if that event was accepted
    (before, or earlier in the same batch), a garbled copy of it is a duplicate, not an error."""
    keys: dict[int, tuple[str, str, str]] = {}
    for n, item in enumerate(parsed):
        if isinstance(item, Outcome) and item.code == "invalid_event" and item.id and item.source:
            tenant = _claimed_tenant(raws[n]) or default_tenant
            if tenant and _storable(tenant, item.source, item.id):
                keys[n] = (tenant, item.source, item.id)
    return keys


def _storable(*parts: str) -> bool:
    """Text that is not valid Unicode (a lone surrogate) can name no accepted event."""
    try:
        for part in parts:
            part.encode()
    except UnicodeEncodeError:
        return False
    return True


def _claimed_tenant(raw: Any) -> str | None:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    found = raw.get("tenantid") if isinstance(raw, dict) else None
    return found if isinstance(found, str) else None


_LICENSE_TYPES = frozenset(t for t in EVENT_TYPES if t != "catalog.published")
STEPS = frozenset(STEP_TYPES)  # asked of every event
_PAYMENTS = frozenset(PAYMENTS)


class BatchJudgement:
    """Judges one batch under its tenants' write lock: each envelope sees the facts already
    recorded and those accepted earlier in the same batch, exactly as if they had come one at
    a time."""

    def __init__(self, store: LedgerStore, items: Sequence[Inbound],
                 garbled: Iterable[tuple[str, str, str]] = ()):
        self.store = store
        self.seen = store.receipts([*((i.tenant or "", i.source, i.id) for i in items), *garbled])
        self.facts = store.license_facts_of(
            {(i.tenant or "", i.subject) for i in items if i.type in _LICENSE_TYPES})
        self.catalogs: dict[str, CatalogHistory] = {}
        self.governance: dict[str, list[Fact]] = {}
        self.keys: set[tuple[str, str, str]] = set()
        self.folds: dict[tuple[str, str, int, int, int], Timeline] = {}
        self.latest: dict[tuple[str, str], datetime | None] = {}  # see `_latest`
        # what was read from the store, before the batch added to it: only a fold of those
        # is kept for the writer's next batches (`LedgerStore.kept_folds`)
        self.recorded = {key: len(facts) for key, facts in self.facts.items()}
        self.read_catalogs: dict[str, CatalogHistory] = {}
        self.now = datetime.now(UTC)

    def resent(self, outcome: Outcome, key: tuple[str, str, str] | None) -> Outcome:
        """A rejected envelope that names an accepted event is a duplicate of it."""
        if key is not None and (key in self.seen or key in self.keys):
            return Outcome(outcome.id, outcome.source, "duplicate")
        return outcome

    def consider(self, item: Inbound) -> Outcome:
        tenant = item.tenant or ""
        key = (tenant, item.source, item.id)
        if key in self.keys or key in self.seen:
            return Outcome(item.id, item.source, "duplicate")
        draft = assembled(Fact, {
            "tenant": tenant, "subject": item.subject, "type": item.type, "effective_at": item.time,
            "recorded_at": self.now, "source": item.source, "source_event_id": item.id,
            "data": item.data, "sequence": 2**62 + len(self.keys), "prev_hash": "", "hash": "",
            "position": None})
        catalogs = self._catalogs(tenant)
        try:
            if item.type == "catalog.published":
                if self._same_catalog_exists(catalogs, draft):
                    return Outcome(item.id, item.source, "duplicate")
                judge_publication(self._governance(tenant), catalogs, draft)
                self.catalogs[tenant] = catalogs.with_fact(draft)
            elif item.type in STEPS:
                judge_step(self._governance(tenant), catalogs, draft)
                self._governance(tenant).append(draft)
                if item.type == UNSCHEDULED:  # the batch's later facts see the withdrawal
                    self.catalogs[tenant] = catalogs.with_fact(draft)
            elif item.type in _PAYMENTS:
                if not self._facts(tenant, item.subject):
                    raise reject("unknown_license", f"license {item.subject!r} does not exist; "
                                 "a payment names a granted license")
            else:
                facts = self._facts(tenant, item.subject)
                before = self._before(facts, catalogs, draft)
                terms = judge(facts, catalogs, draft, before)
                if item.type != "usage.recorded":
                    self._extend(facts, catalogs, draft, before, terms)
        except RuleBrokenError as exc:
            return rejected(item, exc.code, exc.message)
        self.keys.add(key)
        return _accepted(item.id, item.source, draft)

    def _before(self, facts: list[Fact], catalogs: CatalogHistory, draft: Fact) -> Timeline:
        """The license's fold at the draft's moment, once per distinct set of facts it covers:
        usage and the other events that leave the facts as they are reuse it."""
        latest = self._latest(draft.tenant, draft.subject, facts)
        covered = len(facts) if latest is None or latest <= draft.effective_at else sum(
            1 for f in facts if f.effective_at <= draft.effective_at)
        key = (draft.tenant, draft.subject, len(facts), covered, _catalogs_seen(catalogs))
        found = self.folds.get(key)
        if found is None:
            # of recorded facts and catalogs only (no draft of this batch): kept for the next
            # batches of this writer, a usage-heavy license then folded once, not every batch
            recorded = (len(facts) == self.recorded.get((draft.tenant, draft.subject))
                        and catalogs is self.read_catalogs.get(draft.tenant))
            kept = self.store.kept_folds(draft.tenant) if recorded else {}
            found = kept.get(key)
            if found is None:
                found = kept[key] = fold(facts, catalogs, as_of=draft.effective_at)
            self.folds[key] = found
        return found

    def _extend(self, facts: list[Fact], catalogs: CatalogHistory, draft: Fact, before: Timeline,
                terms: Terms) -> None:
        """Add an accepted draft to its license's facts. When it is the latest of them in
        effective order (the usual case: events arrive in time order), the fold of all of them
        at any later moment is the judged `terms`: kept, so the license's next event is judged
        without folding its history again (which made a lifecycle-heavy batch quadratic)."""
        newest = self._latest(draft.tenant, draft.subject, facts)
        facts.append(draft)
        if newest is None or newest <= draft.effective_at:
            self.latest[(draft.tenant, draft.subject)] = draft.effective_at
            n = len(facts)
            self.folds[(draft.tenant, draft.subject, n, n, _catalogs_seen(catalogs))] = assembled(
                Timeline, {"terms": terms, "applied": (*before.applied, draft),
                           "superseded": before.superseded})

    def _latest(self, tenant: str, license_id: str, facts: list[Fact]) -> datetime | None:
        """The latest effective time among a license's facts (None for none), kept as the batch
        adds to them: whether a draft is at or after all of them is then one comparison, not a
        pass over the license's history for every event."""
        key = (tenant, license_id)
        if key not in self.latest:
            self.latest[key] = max((f.effective_at for f in facts), default=None)
        return self.latest[key]

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
            read = self.facts[(tenant, license_id)] = self.store.license_facts(tenant, license_id)
            self.recorded[(tenant, license_id)] = len(read)
        return self.facts[(tenant, license_id)]

    def _governance(self, tenant: str) -> list[Fact]:
        """The tenant's release steps and policy: read once per batch (under the tenant's write
        lock, so no other step can be recorded meanwhile), then grown by the batch."""
        if tenant not in self.governance:
            self.governance[tenant] = governance_facts(self.store, tenant)
        return self.governance[tenant]

    def _catalogs(self, tenant: str) -> CatalogHistory:
        if tenant not in self.catalogs:
            self.catalogs[tenant] = self.read_catalogs[tenant] = self.store.catalogs(tenant)
        return self.catalogs[tenant]


def _catalogs_seen(catalogs: CatalogHistory) -> int:
    """What a kept fold's key says of the catalogs it was folded with: a batch only adds
    catalog versions and withdrawals, so their count tells the catalogs a fold saw apart."""
    return len(catalogs.facts) + len(catalogs.withdrawals)
