"""When the read database cannot be read, the check answers from memory marked stale with
the age, /healthz says degraded, and past the bound the check refuses with a clear code."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.api.cache import EntitlementCache
from projections.embedded import Follower
from projections.readmodel import ReadModels
from tests.builders import envelope
from tests.integration.test_api_harness import running_api, sqlite


def test_a_check_answers_stale_from_memory_then_refuses_past_the_bound_and_recovers(
        tmp_path: Path) -> None:
    ticks = [0.0]
    read = tmp_path / "read"
    read.mkdir()

    def cache(models: ReadModels, _: Follower) -> EntitlementCache:
        # as `ledger serve` builds it with Kafka (the feed read on a timer), on a clock we move
        return EntitlementCache(models, poll_interval=0.1, max_stale=60.0,
                                monotonic=lambda: ticks[0])

    with running_api(sqlite(tmp_path), read_url=f"sqlite:///{read / 'read.db'}",
                     cache=cache) as api:
        api.with_catalog().record([envelope("license.granted", "2026-02-01", "lic-1",
                                            customer_id="c1", plan="pro")])
        client = api.as_role("service")
        body = {"customer_id": "c1", "feature": "sso"}
        assert client.post("/v1/check", json=body).json()["allowed"] is True
        saved = {p: p.read_bytes() for p in read.iterdir()}
        for path in saved:  # the read database is gone: every read of it fails
            path.write_bytes(b"\0not a database" * 512)

        ticks[0] = 5.0
        answer = client.post("/v1/check", json=body)
        assert answer.status_code == 200
        assert {k: answer.json()[k] for k in ("allowed", "reason", "stale", "stale_seconds")} == {
            "allowed": True, "reason": "ok", "stale": True, "stale_seconds": 5.0}
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert health.json()["checks"]["check_cache"]["ok"] is False
        unseen = client.post("/v1/check", json={"customer_id": "c2", "feature": "sso"})
        assert (unseen.status_code, unseen.json()["code"]) == (503, "read_models_unavailable")

        ticks[0] = 61.0
        refused = client.post("/v1/check", json=body)
        assert (refused.status_code, refused.json()["code"]) == (503, "read_models_unavailable")
        assert "retry" in refused.json()["message"]

        for path, content in saved.items():
            path.write_bytes(content)
        ticks[0] = 62.5
        again = client.post("/v1/check", json=body).json()
        assert again["allowed"] is True and "stale" not in again
        assert client.get("/healthz").json()["checks"]["check_cache"]["ok"] is True


def test_in_the_embedded_mode_a_failing_follower_makes_the_answers_stale(tmp_path: Path) -> None:
    read = tmp_path / "read"
    read.mkdir()

    def cache(models: ReadModels, follower: Follower) -> EntitlementCache:
        return EntitlementCache(models, hint=follower.reached, behind=follower.behind)  # as serve

    with running_api(sqlite(tmp_path), read_url=f"sqlite:///{read / 'read.db'}",
                     cache=cache) as api:
        api.with_catalog().record([envelope("license.granted", "2026-02-01", "lic-1",
                                            customer_id="c1", plan="pro")])
        client = api.as_role("service")
        body = {"customer_id": "c1", "feature": "sso"}
        assert "stale" not in client.post("/v1/check", json=body).json()
        for path in list(read.iterdir()):
            path.write_bytes(b"\0not a database" * 512)
        api.wiring.ledger.ingest([envelope("license.suspended", "2026-02-05", "lic-1",
                                           reason="payment_failed")], "acme")
        with pytest.raises(Exception, match="not a database"):
            api.follower.catch_up()  # the suspension cannot reach the read models
        answer = client.post("/v1/check", json=body).json()
        assert (answer["allowed"], answer["stale"]) == (True, True)
        assert 0 <= answer["stale_seconds"] < 60


@pytest.mark.parametrize("embedded", [True, False])
def test_the_bound_of_stale_answers_is_the_setting(tmp_path: Path, embedded: bool) -> None:
    from ledger.cli.serve import _parts
    from ledger.settings import Settings

    settings = Settings(database_url=sqlite(tmp_path), check_max_stale=5,  # type: ignore[call-arg]
                        data_dir=tmp_path / ".ledger", _env_file=None)
    with _parts(settings, embedded=embedded) as (_, _, app, _):
        assert app.state.ports.cache.max_stale == 5.0
