"""The read models' change feed on SQLite and PostgreSQL alike: it names exactly the customers
a projected batch changed (a catalog version its whole tenant), in order, across clears, and
projectors applying concurrently never leave a reader a gap."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ledger.bootstrap import Wiring
from projections import changes
from projections.embedded import Follower
from projections.readmodel import ReadModels
from tests.builders import CATALOG, catalog_envelope, envelope


def test_the_feed_names_the_customers_a_batch_changed_and_a_catalog_its_tenant(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(database_url)
    models = ReadModels.open(database_url)
    follower = Follower(wiring.store, models)
    try:
        wiring.ledger.ingest([catalog_envelope(), *(
            envelope("license.granted", "2026-02-01", f"lic-{c}", customer_id=c, plan="pro")
            for c in ("c1", "c2"))], "acme")
        follower.catch_up()
        cursor = models.changes_end()
        wiring.ledger.ingest([envelope("usage.recorded", "2026-02-03", "lic-c2",
                                       feature="api_calls", quantity=5)], "acme")
        follower.catch_up()
        found = models.changes_since(cursor)
        assert (found.moved, found.lost) == ((("acme", "c2"),), False)
        wiring.ledger.ingest([catalog_envelope("2026-03-01", {**CATALOG, "version": "v2"})],
                             "acme")
        follower.catch_up()
        assert models.changes_since(found.cursor).moved == (("acme", None),)
        end = models.changes_end()
        models.clear()  # the feed goes on: a rebuild is told like any projection
        assert models.changes_end() == end
        assert models.changes_since(end + 5).lost is True  # a cursor from elsewhere
    finally:
        models.close()


def test_concurrent_projectors_give_readers_every_change_in_order(database_url: str) -> None:
    models = ReadModels.open(database_url)
    start = models.changes_end()
    rounds, writers = 20, 4

    def project(n: int) -> None:
        for r in range(rounds):
            with models.db.transaction() as cur:
                cur.execute("INSERT INTO rm_licenses (tenant, license_id, customer_id, facts, "
                            "first_position, last_position) VALUES (?, ?, ?, '[]', 0, 0)",
                            ("acme", f"lic-{n}-{r}", f"c-{n}-{r}"))
                changes.record(cur, models.db.postgres, [("acme", f"lic-{n}-{r}")], [])

    seen: list[tuple[str, str | None]] = []
    cursor = start
    threads = [threading.Thread(target=project, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads) or cursor < start + rounds * writers:
        found = models.changes_since(cursor)
        assert not found.lost
        seen += found.moved
        cursor = found.cursor
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(("acme", f"c-{n}-{r}") for n in range(writers)
                                  for r in range(rounds))
    models.close()

