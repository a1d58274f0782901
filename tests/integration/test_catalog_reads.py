"""Every batch reads its tenants' catalogs (and a release step its governance facts): those reads
go through partial indexes of their kinds, not through all the tenant's rows (which made each
batch's read grow with the ledger), and a store created before the indexes gets them on open
and answers the same."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.bootstrap import Wiring
from ledger.store.database import library_settings
from ledger.store.factstable import SPARSE_KINDS
from tests.builders import catalog_envelope, envelope, t
from tests.integration import tampering


def _ingested(wiring: Wiring) -> None:
    outcomes = wiring.ledger.ingest([
        catalog_envelope("2026-01-01"),
        *(envelope("license.granted", "2026-01-02", f"lic-{n}", customer_id="c", plan="pro")
          for n in range(20)),
        *(envelope("usage.recorded", "2026-01-03", f"lic-{n}", feature="api_calls", quantity=1)
          for n in range(20)),
    ], "acme")
    assert all(o.status == "accepted" for o in outcomes)


def _plan(url: str, kind: str) -> str:
    query = (f"SELECT f.subject, f.position FROM ledger_facts f WHERE f.tenant = 'acme' AND "
             f"f.kind = '{kind}' ORDER BY f.sequence")
    if library_settings(url)["PERSISTENCE_MODULE"].endswith("sqlite"):
        return " ".join(str(r[-1]) for r in tampering.run(url, f"EXPLAIN QUERY PLAN {query}"))
    import psycopg

    settings = library_settings(url)
    # a table this small is cheaper to scan: the planner is asked whether the index serves
    with psycopg.connect(host=settings["POSTGRES_HOST"], port=settings["POSTGRES_PORT"],
                         user=settings["POSTGRES_USER"], password=settings["POSTGRES_PASSWORD"],
                         dbname=settings["POSTGRES_DBNAME"], autocommit=True,
                         options=f"-csearch_path={settings['POSTGRES_SCHEMA']} "
                                 "-cenable_seqscan=off") as conn:
        return " ".join(r[0] for r in conn.execute(f"EXPLAIN {query}").fetchall())


@pytest.mark.parametrize("kind", SPARSE_KINDS)
def test_a_tenants_catalogs_and_steps_are_read_through_their_own_index(
        kind: str, database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(database_url)
    _ingested(wiring)
    wiring.close()
    assert f"ledger_facts_{kind}" in _plan(database_url, kind)


def test_a_store_without_the_indexes_gets_them_and_answers_the_same(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(database_url)
    _ingested(wiring)
    before = (wiring.store.catalogs("acme"), wiring.store.governance_facts("acme"),
              wiring.ledger.state("acme", "lic-3", t("2026-02-01")))
    wiring.close()
    for kind in SPARSE_KINDS:  # the table as main@05fb736 created it
        tampering.run(database_url, f"DROP INDEX ledger_facts_{kind}")

    reopened = wiring_factory(database_url)
    assert (reopened.store.catalogs("acme"), reopened.store.governance_facts("acme"),
            reopened.ledger.state("acme", "lic-3", t("2026-02-01"))) == before
    names = {r[0] for r in tampering.run(database_url, _index_names(database_url))}
    assert {f"ledger_facts_{kind}" for kind in SPARSE_KINDS} <= names


def _index_names(url: str) -> str:
    if library_settings(url)["PERSISTENCE_MODULE"].endswith("sqlite"):
        return "SELECT name FROM sqlite_master WHERE type = 'index'"
    return ("SELECT indexname FROM pg_indexes WHERE tablename = 'ledger_facts' AND "
            "schemaname = current_schema()")


def test_a_tenants_catalogs_are_read_once_while_no_newer_catalog_is_recorded(
        database_url: str, wiring_factory: Callable[..., Wiring],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept as of the newest catalog fact: a read with none newer reads no catalog record and
    parses no version again; one recorded since, by another process, is read at once."""
    reader, writer = wiring_factory(database_url), wiring_factory(database_url)
    _ingested(writer)
    reads: list[str] = []
    stored_facts = reader.store.recorder.stored_facts

    def counted(tenant: str, kind: str, *args: object) -> object:
        reads.append(kind)
        return stored_facts(tenant, kind, *args)

    monkeypatch.setattr(reader.store.recorder, "stored_facts", counted)
    first = reader.store.catalogs("acme")
    assert first.in_force(t("2026-02-01")) is not None
    assert reader.store.catalogs("acme") is first and reads == ["catalog"]

    newer = {"version": "2026-04", "plans": {"pro": {"tier": 1, "features": {"sso": {}}}}}
    [outcome] = writer.ledger.ingest([catalog_envelope("2026-04-01", newer)], "acme")
    assert outcome.status == "accepted"
    again = reader.store.catalogs("acme")
    assert reads == ["catalog", "catalog"]
    assert again.in_force(t("2026-05-01")).version == "2026-04"  # type: ignore[union-attr]
    assert again.in_force(t("2026-02-01")) == first.in_force(t("2026-02-01"))
    assert reader.store.catalogs("nobody").facts == ()


def test_catalogs_read_inside_a_write_are_not_kept(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    """The writer may have added a catalog it then rolls back: what it read is not kept."""
    wiring = wiring_factory(database_url)
    _ingested(wiring)
    store = wiring.store
    with store.recorder.writing(["acme"]):
        newest = store.catalogs("acme").facts[-1].sequence
    assert store.remembered_catalogs.get("acme", newest) is None
    kept = store.catalogs("acme")  # outside the write: kept
    assert store.remembered_catalogs.get("acme", newest) is kept
