"""Catalog releases under four eyes: draft -> approved -> published, or rejected / withdrawn.

A release is the fold of its recorded steps (`schemas/governance.py`); the rules below judge
each new step against it, and judge a `catalog.published` against the tenant's policy. An
approval names the digest of exactly the draft it approves (its catalog's meaning and its
effective time), so it can never be carried over to another version or a changed draft.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.chain import canonical
from ledger.domain.facts import Fact, reject
from schemas.catalog import meaning
from schemas.governance import TenantConfigured
from schemas.times import format_time, parse_time

OPEN = ("draft", "approved")  # a release that may still be approved, rejected or withdrawn


@dataclass(frozen=True)
class Policy:
    """The tenant's governance settings (defaults until a `tenant.configured` is recorded)."""

    approval_required: bool = False
    approvals_required: int = 1
    failed_payment_days: int = 7
    api_key_unused_days: int = 90
    signing_key_max_age_days: int = 365
    set_by: str | None = None
    set_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"approval_required": self.approval_required,
                "approvals_required": self.approvals_required,
                "failed_payment_days": self.failed_payment_days,
                "api_key_unused_days": self.api_key_unused_days,
                "signing_key_max_age_days": self.signing_key_max_age_days,
                "set_by": self.set_by, "set_at": format_time(self.set_at) if self.set_at else None}


@dataclass(frozen=True)
class Release:
    """One draft of a catalog version and what has happened to it since."""

    version: str
    author: str
    drafted_at: datetime
    effective_at: datetime
    catalog: dict[str, Any]
    digest: str
    state: str = "draft"  # draft | rejected | withdrawn | released (see `status`)
    approvals: tuple[str, ...] = ()
    steps: tuple[dict[str, Any], ...] = field(default=())

    def status(self, policy: Policy, catalogs: CatalogHistory) -> str:
        """draft, approved, rejected, withdrawn or published (a `catalog.published` of this
        version is recorded, by the workflow or by billing). A published version withdrawn
        before its effective time (`catalog.unscheduled`) is withdrawn."""
        if self.state in ("rejected", "withdrawn") or catalogs.withdrawal(self.version):
            return "rejected" if self.state == "rejected" else "withdrawn"
        if catalogs.version(self.version) is not None:
            return "published"
        return "approved" if len(self.approvals) >= policy.approvals_required else "draft"

    def as_dict(self, policy: Policy, catalogs: CatalogHistory) -> dict[str, Any]:
        return {"version": self.version, "status": self.status(policy, catalogs),
                "author": self.author, "drafted_at": format_time(self.drafted_at),
                "effective_at": format_time(self.effective_at), "digest": self.digest,
                "approvals": list(self.approvals), "approvals_required": policy.approvals_required,
                "steps": list(self.steps), "catalog": self.catalog}


def digest(catalog: dict[str, Any], effective_at: datetime) -> str:
    """What an approval approves: the catalog's meaning (however it was written) and its time."""
    body = {"catalog": meaning(catalog), "effective_at": format_time(effective_at)}
    return hashlib.sha256(canonical(body)).hexdigest()


def policy_of(facts: Iterable[Fact]) -> Policy:
    """The newest recorded `tenant.configured`, or the defaults."""
    found = Policy()
    for fact in facts:
        if fact.type == "tenant.configured":
            data = TenantConfigured.model_validate(fact.data)
            found = Policy(data.approval_required, data.approvals_required,
                           data.failed_payment_days, data.api_key_unused_days,
                           data.signing_key_max_age_days, data.actor, fact.recorded_at)
    return found


def releases_of(facts: Iterable[Fact]) -> dict[str, Release]:
    """Each version's newest draft and its steps, from the steps in recorded order. Redrafting a
    rejected or withdrawn version starts a new release: earlier approvals do not carry over."""
    found: dict[str, Release] = {}
    for fact in facts:
        step = {"type": fact.type, "actor": fact.data.get("actor"),
                "at": format_time(fact.recorded_at), "reason": fact.data.get("reason")}
        if fact.type == "catalog.drafted":
            at = parse_time(fact.data["effective_at"])
            found[fact.subject] = Release(fact.subject, fact.data["actor"], fact.recorded_at, at,
                                          fact.data["catalog"], digest(fact.data["catalog"], at),
                                          steps=(step,))
            continue
        release = found.get(fact.subject)
        if release is None or fact.type == "tenant.configured":
            continue
        changes: dict[str, Any] = {"steps": (*release.steps, step)}
        if fact.type == "catalog.approved":
            changes["approvals"] = (*release.approvals, fact.data["actor"])
        elif fact.type in ("catalog.rejected", "catalog.withdrawn"):
            changes["state"] = fact.type.removeprefix("catalog.")
        elif fact.type == "catalog.unscheduled":
            changes["state"] = "withdrawn"
        elif fact.type == "catalog.released":
            changes["state"] = "released"
        found[fact.subject] = replace(release, **changes)
    return found


def judge_step(facts: list[Fact], catalogs: CatalogHistory, new: Fact) -> None:
    """Accept a release step only if it follows the workflow and the four-eyes rule; raises
    RuleBrokenError with the rule's code otherwise."""
    if new.type == "tenant.configured":
        return
    policy, releases = policy_of(facts), releases_of(facts)
    version, actor = new.subject, new.data["actor"]
    release = releases.get(version)
    if new.type == "catalog.drafted":
        _judge_draft(new, release, policy, catalogs)
        return
    if release is None:
        raise reject("unknown_release", f"catalog version {version!r} has no draft; draft it first")
    status = release.status(policy, catalogs)
    if new.type == "catalog.unscheduled":
        _judge_unscheduling(new, status, catalogs)
        return
    if status not in OPEN:
        raise reject("release_closed", f"catalog version {version!r} is {status}; "
                     "draft a new version to change it")
    if new.type in ("catalog.approved", "catalog.released") and new.data["digest"] != release.digest:
        raise reject("stale_approval", f"digest {new.data['digest'][:12]}... is not that of the "
                     f"draft of {version!r} ({release.digest[:12]}...): preview it again")
    if new.type == "catalog.approved":
        if actor == release.author:
            raise reject("own_draft", f"{actor!r} drafted {version!r}; four eyes: another person "
                         "must approve it")
        if actor in release.approvals:
            raise reject("already_approved", f"{actor!r} already approved {version!r}; "
                         f"it needs {policy.approvals_required} different people")
    if new.type == "catalog.released" and status != "approved":
        raise reject("not_approved", f"catalog version {version!r} has {len(release.approvals)} "
                     f"of the {policy.approvals_required} approvals it needs")


def _judge_unscheduling(new: Fact, status: str, catalogs: CatalogHistory) -> None:
    """A published version may be withdrawn only while its effective time is still ahead, and
    only by naming the publication it withdraws."""
    version, published = new.subject, catalogs.version(new.subject)
    if status != "published" or published is None:
        raise reject("release_closed" if status not in OPEN else "not_published",
                     f"catalog version {version!r} is {status}: only a published version whose "
                     "effective time is still ahead is withdrawn this way")
    if published.effective_at <= new.recorded_at:
        raise reject("already_in_force", f"catalog version {version!r} took effect at "
                     f"{format_time(published.effective_at)}; a version in force is immutable: "
                     "publish another version to change it")
    if new.data["digest"] != digest(published.data, published.effective_at):
        raise reject("stale_approval", f"digest {new.data['digest'][:12]}... is not that of the "
                     f"published {version!r}")


def _judge_draft(new: Fact, release: Release | None, policy: Policy,
                 catalogs: CatalogHistory) -> None:
    version = new.subject
    if new.data["catalog"].get("version") != version:
        raise reject("invalid_event", f"field 'data.catalog.version': must equal the version "
                     f"{version!r} being drafted")
    if catalogs.version(version) is not None:
        raise reject("catalog_version_exists", f"catalog version {version!r} is already "
                     "published (or was, and was withdrawn); versions are immutable, draft a "
                     "new version")
    if release is not None and release.status(policy, catalogs) in OPEN:
        raise reject("catalog_version_exists", f"catalog version {version!r} already has an open "
                     "draft with other content; withdraw it or draft a new version")


def judge_publication(facts: list[Fact], catalogs: CatalogHistory, new: Fact) -> None:
    """A `catalog.published` (from the workflow or from billing) of a version that has a draft,
    or of any version under a policy that requires approval, is accepted only for an approved
    draft, with its approved content and time: review cannot be sidestepped by sending it in."""
    policy = policy_of(facts)
    release = releases_of(facts).get(new.subject)
    if release is None and not policy.approval_required:
        return
    if release is None or release.status(policy, catalogs) != "approved":
        state = "without a draft" if release is None else release.status(policy, catalogs)
        rule = (f"tenant {new.tenant!r} requires approval of every catalog change"
                if policy.approval_required else "a drafted version is published once approved")
        raise reject("approval_required", f"{rule}; version {new.subject!r} is {state}: it needs "
                     f"a draft approved by {policy.approvals_required} other person(s)")
    if digest(new.data, new.effective_at) != release.digest:
        raise reject("approval_required", f"catalog version {new.subject!r} was approved with "
                     f"other content or for {format_time(release.effective_at)}; publish exactly "
                     "the approved draft")
