"""The release workflow's use cases: draft, approve, reject, withdraw, publish, diff, preview.

Every step is an envelope of a `schemas.governance` type taken in through `Ledger.ingest`
(with `workflow=True`), so it is judged by the same batch rules, chained, deduplicated and
relayed like any fact. The preview folds the tenant's licenses over a fork of its catalog
history in which the draft is published; the fork lives in memory only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import FAR_FUTURE, Fact
from ledger.domain.impact import catalog_diff, license_impact, summary
from ledger.domain.releases import Policy, Release, digest, policy_of, releases_of
from ledger.service import Ledger
from ledger.store.governance import governance_facts
from schemas.events import name_problem
from schemas.governance import TenantConfigured
from schemas.times import format_time

SOURCE = "ledger/releases"


class ReleaseError(Exception):
    """A step the workflow refuses: `code` is stable, the message says what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Releases:
    def __init__(self, ledger: Ledger, clock: Callable[[], datetime] | None = None):
        self.ledger = ledger
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- reading -------------------------------------------------------------------------------
    def policy(self, tenant: str) -> Policy:
        return policy_of(governance_facts(self.ledger.store, tenant))

    def all(self, tenant: str) -> list[dict[str, Any]]:
        facts, catalogs = self._steps(tenant)
        policy = policy_of(facts)
        return [r.as_dict(policy, catalogs) for r in releases_of(facts).values()]

    def _steps(self, tenant: str) -> tuple[list[Fact], CatalogHistory]:
        """The release steps in ledger order, with the withdrawals of scheduled versions (kept
        with the catalog history, which they change)."""
        catalogs = self.ledger.store.catalogs(tenant)
        facts = governance_facts(self.ledger.store, tenant)
        if catalogs.withdrawals:
            facts = sorted((*facts, *catalogs.withdrawals), key=lambda f: f.sequence)
        return facts, catalogs

    def show(self, tenant: str, version: str) -> dict[str, Any]:
        release, policy, catalogs = self._release(tenant, version)
        return release.as_dict(policy, catalogs)

    def diff(self, tenant: str, version: str) -> dict[str, Any]:
        """The draft against the catalog that will be in force at its effective time without it."""
        release, _, catalogs = self._release(tenant, version)
        current = _without(catalogs, version).in_force(release.effective_at)
        return {"version": version, "effective_at": format_time(release.effective_at),
                "against": current.version if current else None,
                "changes": catalog_diff(current.model_dump(exclude_unset=True) if current else None,
                                        release.catalog)}

    def preview(self, tenant: str, version: str, first: int = 20) -> dict[str, Any]:
        """Which licenses the draft changes at its effective time, by the same fold over a forked
        catalog history: counts, and the first `first` licenses (in license id order)."""
        release, _, catalogs = self._release(tenant, version)
        at, now = release.effective_at, self.clock()
        recorded = _without(catalogs, version)
        fork = recorded.with_fact(Fact(tenant=tenant, subject=version, type="catalog.published",
                                       effective_at=at, recorded_at=FAR_FUTURE, source=SOURCE,
                                       source_event_id="preview", data=release.catalog,
                                       sequence=2**62))
        plans = release.catalog["plans"]
        impacts, count = [], 0
        for license_id in sorted(self.ledger.store.licenses_of_tenant(tenant)):
            before = self.ledger.state(tenant, license_id, at, catalogs=recorded)
            after = self.ledger.state(tenant, license_id, at, catalogs=fork)
            if before is None or after is None:
                continue
            count += 1
            current = self.ledger.state(tenant, license_id, min(now, at), catalogs=recorded)
            used = {n: f.get("used", 0) for n, f in (current or before)["features"].items()}
            found = license_impact(before, after, before["plan"] in plans, used)
            if found is not None:
                impacts.append({**found, "features_after": sorted(
                    n for n, f in after["features"].items() if f["enabled"])})
        return {"version": version, "effective_at": format_time(at), "known_at": format_time(now),
                "counts": summary(impacts, count), "first": first, "licenses": impacts[:first]}

    def _release(self, tenant: str, version: str) -> tuple[Release, Policy, CatalogHistory]:
        facts, catalogs = self._steps(tenant)
        release = releases_of(facts).get(version)
        if release is None:
            raise ReleaseError("unknown_release", f"catalog version {version!r} has no draft in "
                               f"tenant {tenant!r}; see 'ledger catalog list'")
        return release, policy_of(facts), catalogs

    # -- steps ---------------------------------------------------------------------------------
    def draft(self, tenant: str, actor: str, catalog: dict[str, Any], effective_at: datetime,
              reason: str | None = None) -> dict[str, Any]:
        """Propose `catalog` to take effect at `effective_at`. Drafting the same content again
        while it is open answers the open draft (a retry is harmless)."""
        version = str(catalog.get("version", "")) if isinstance(catalog, dict) else ""
        # the envelope's rule for names, before the step's id and subject are made of it
        if version and (problem := name_problem(version, "a version")) is not None:
            raise ReleaseError("invalid_event", f"field 'data.catalog.version': {problem}")
        if self._drafted_alike(tenant, version, catalog, effective_at):
            return self.show(tenant, version)
        try:
            self._record(tenant, [_step("catalog.drafted", version or "-", self.clock(), actor,
                                        reason, effective_at=format_time(effective_at),
                                        catalog=catalog)])
        except ReleaseError as exc:  # the same draft, recorded meanwhile by a request alike
            if exc.code != "catalog_version_exists" or not self._drafted_alike(
                    tenant, version, catalog, effective_at):
                raise
        return self.show(tenant, version)

    def _drafted_alike(self, tenant: str, version: str, catalog: Any,
                       effective_at: datetime) -> bool:
        """Whether the version's open draft has this content and time."""
        open_draft = releases_of(governance_facts(self.ledger.store, tenant)).get(version)
        return open_draft is not None and _same_draft(open_draft, catalog, effective_at)

    def approve(self, tenant: str, version: str, actor: str, approved_digest: str | None = None,
                reason: str | None = None) -> dict[str, Any]:
        """One approval of the draft whose digest is named (default: the current draft's)."""
        release, _, _ = self._release(tenant, version)
        self._record(tenant, [_step("catalog.approved", version, self.clock(), actor, reason,
                                    digest=approved_digest or release.digest)])
        return self.show(tenant, version)

    def reject(self, tenant: str, version: str, actor: str, reason: str) -> dict[str, Any]:
        self._release(tenant, version)
        self._record(tenant, [_step("catalog.rejected", version, self.clock(), actor, reason)])
        return self.show(tenant, version)

    def withdraw(self, tenant: str, version: str, actor: str, reason: str) -> dict[str, Any]:
        """Withdraw a draft or an approved version; one already published for a later effective
        time is withdrawn by a `catalog.unscheduled` naming its publication, which the catalog
        history honours from now on (refused once the effective time has come)."""
        release, policy, catalogs = self._release(tenant, version)
        published = catalogs.version(version)
        if release.status(policy, catalogs) == "published" and published is not None:
            self._record(tenant, [_step("catalog.unscheduled", version, self.clock(), actor,
                                        reason, digest=digest(published.data,
                                                              published.effective_at))])
        else:
            self._record(tenant, [_step("catalog.withdrawn", version, self.clock(), actor, reason)])
        return self.show(tenant, version)

    def publish(self, tenant: str, version: str, actor: str,
                reason: str | None = None) -> dict[str, Any]:
        """Publish an approved draft at its effective time (a future time schedules it): the
        `catalog.released` step and the `catalog.published` fact are recorded in one batch."""
        release, _, _ = self._release(tenant, version)
        now = self.clock()
        published = {"specversion": "1.0", "id": f"release:{version}:{release.digest[:16]}",
                     "source": SOURCE, "type": "catalog.published", "subject": version,
                     "time": format_time(release.effective_at), "data": release.catalog}
        self._record(tenant, [_step("catalog.released", version, now, actor, reason,
                                    digest=release.digest), published])
        return self.show(tenant, version)

    def configure(self, tenant: str, actor: str, reason: str | None = None,
                  **changes: Any) -> Policy:
        """Change some of the tenant's governance settings; the others keep their values."""
        current = self.policy(tenant).as_dict()
        settings = {k: v for k, v in current.items() if k in TenantConfigured.model_fields}
        settings.update({k: v for k, v in changes.items() if v is not None})
        self._record(tenant, [_step("tenant.configured", tenant, self.clock(), actor, reason,
                                    **settings)])
        return self.policy(tenant)

    def _record(self, tenant: str, envelopes: list[dict[str, Any]]) -> None:
        outcomes = self.ledger.ingest(envelopes, tenant, text=False, workflow=True)
        refused = next((o for o in outcomes if o.status == "rejected"), None)
        if refused is not None:
            raise ReleaseError(refused.code or "rejected", refused.message or "refused")


def _step(kind: str, subject: str, at: datetime, actor: str, reason: str | None,
          **data: Any) -> dict[str, Any]:
    body = {"actor": actor, **data}
    if reason:
        body["reason"] = reason
    return {"specversion": "1.0", "id": f"{kind}:{subject}:{uuid.uuid4()}", "source": SOURCE,
            "type": kind, "subject": subject, "time": format_time(at), "data": body}


def _same_draft(release: Release, catalog: dict[str, Any], effective_at: datetime) -> bool:
    try:
        same = digest(catalog, effective_at) == release.digest
    except ValueError:
        return False
    return same and release.state == "draft"


def _without(catalogs: CatalogHistory, version: str) -> CatalogHistory:
    """The history without `version`: what is in force if the draft were never published."""
    return replace(catalogs, facts=tuple(f for f in catalogs.facts if f.subject != version))
