"""The cache law: whatever is projected and however the clock moves, the cache never answers
differently from the read models asked directly at the same moment."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.api.cache import EntitlementCache
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from projections.embedded import Follower
from projections.readmodel import ReadModels
from tests.builders import catalog_envelope, envelope
from tests.unit.test_laws import LICENSES, START, envelopes
from tests.unit.test_typed_state import usage_envelopes

# licenses to start from, so that most steps have states to get wrong: a term that ends (with
# and without grace), a trial, monthly limits
GRANTS = [
    envelope("license.granted", "2026-01-01", "lic-1", customer_id="c1", plan="pro",
             ends_at="2026-03-15T00:00:00Z"),
    envelope("license.granted", "2026-01-02", "lic-2", customer_id="c2", plan="basic",
             ends_at="2026-07-01T00:00:00Z"),
    envelope("license.trial_started", "2026-01-03", "lic-3", customer_id="c1", plan="enterprise",
             ends_at="2026-01-25T00:00:00Z"),
]

steps = st.lists(st.one_of(
    envelopes().map(lambda e: ("ingest", e)),
    st.tuples(usage_envelopes, st.sampled_from(LICENSES)).map(
        lambda pair: ("ingest", {**pair[0], "subject": pair[1]})),
    st.integers(1, 60 * 24 * 40).map(lambda minutes: ("wait", minutes)),
    st.sampled_from(["c1", "c2", "nobody"]).map(lambda c: ("check", c)),
), min_size=5, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_the_cache_answers_as_the_read_models_do_at_every_moment(
        plan: list[tuple[str, Any]], hinted: bool) -> None:
    directory = Path(tempfile.mkdtemp(prefix="cache-law-"))
    url = f"sqlite:///{directory / 'l.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    models = ReadModels.open(url)
    follower = Follower(wiring.store, models)
    # no max_age: only the feed and `changes_at` may end an entry here
    cache = EntitlementCache(models, hint=follower.reached if hinted else None,
                             max_age=timedelta(days=3650))
    now: datetime = START
    wiring.ledger.ingest([catalog_envelope(), *GRANTS], "acme")
    try:
        for n, (step, value) in enumerate(plan):
            if step == "ingest":
                wiring.ledger.ingest([{**value, "id": f"e{n}"}], "acme")
                follower.catch_up()
            elif step == "wait":
                now += timedelta(minutes=value)
            for customer in (value,) if step == "check" else ("c1", "c2"):
                served = [s.as_dict() for s in cache.states("acme", customer, now).states]
                assert served == models.customer_states("acme", customer, now), (n, customer, now)
    finally:
        models.close()
        wiring.close()
