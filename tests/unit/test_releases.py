"""The four-eyes law as a property: whatever steps anyone attempts, in any order, a version is
approved or publishable only with enough approvals of its current draft by people other than
its author; and every refused step is refused with a stable code."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.domain.catalogs import CatalogHistory
from ledger.domain.facts import Fact, RuleBrokenError
from ledger.domain.releases import digest, judge_publication, judge_step, policy_of, releases_of
from schemas.times import format_time
from tests.builders import CATALOG, t

PEOPLE = ["alice", "bob", "carol"]
VERSIONS = ["v1", "v2"]
START = t("2026-03-01")
CODES = {"own_draft", "already_approved", "stale_approval", "not_approved", "release_closed",
         "unknown_release", "catalog_version_exists", "approval_required"}


def catalog(version: str, limit: int) -> dict[str, Any]:
    body = copy.deepcopy(CATALOG)
    body["version"] = version
    body["plans"]["basic"]["features"]["api_calls"]["limit"] = limit
    return body


steps = st.lists(st.tuples(
    st.sampled_from(["draft", "approve", "approve_stale", "reject", "withdraw", "release", "policy"]),
    st.sampled_from(VERSIONS), st.sampled_from(PEOPLE), st.integers(1, 3)), max_size=14)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_nothing_is_approved_or_published_without_other_peoples_approvals(attempts: list[Any]) -> None:
    recorded: list[Fact] = []
    catalogs = CatalogHistory()
    for n, (kind, version, actor, number) in enumerate(attempts):
        at = START + timedelta(minutes=n)
        effective = format_time(START + timedelta(days=30))
        known = releases_of(recorded).get(version)
        data: dict[str, Any] = {"actor": actor}
        if kind == "draft":
            kind, data = "catalog.drafted", {**data, "effective_at": effective,
                                             "catalog": catalog(version, 100 * number)}
        elif kind in ("approve", "approve_stale", "release"):
            right = known.digest if known else "0" * 64
            wrong = digest(catalog(version, 7), START)
            data["digest"] = wrong if kind == "approve_stale" else right
            kind = "catalog.released" if kind == "release" else "catalog.approved"
        elif kind == "policy":
            kind, data = "tenant.configured", {**data, "approvals_required": number,
                                               "approval_required": True}
        else:
            kind, data = f"catalog.{kind}ed" if kind == "reject" else "catalog.withdrawn", {
                **data, "reason": "because"}
        fact = Fact(tenant="acme", subject=version if kind != "tenant.configured" else "acme",
                    type=kind, effective_at=at, recorded_at=at, source="ledger/releases",
                    source_event_id=f"s-{n}", data=data, sequence=n + 1)
        try:
            judge_step(recorded, catalogs, fact)
        except RuleBrokenError as exc:
            assert exc.code in CODES, exc.code
            event(f"refused {exc.code}")
            continue
        recorded.append(fact)
        if kind == "catalog.released":
            release = releases_of(recorded)[version]
            published = Fact(tenant="acme", subject=version, type="catalog.published",
                             effective_at=release.effective_at, recorded_at=at, source="x",
                             source_event_id=f"p-{n}", data=release.catalog, sequence=n + 1)
            judge_publication(recorded, catalogs, published)
            catalogs = catalogs.with_fact(published)
        policy = policy_of(recorded)
        for release in releases_of(recorded).values():
            state = release.status(policy, catalogs)
            event(state)
            if state in ("approved", "published"):
                assert release.author not in release.approvals
                assert len(set(release.approvals)) == len(release.approvals)
            if state == "approved":
                assert len(release.approvals) >= policy.approvals_required
