"""The recorder remembers a tenant's compact range after a batch commits, and uses it for the
next batch only when it is for exactly the chain head read under the tenant's lock: a batch
that rolled back leaves nothing behind, and a batch another process wrote in between is read
from the store, so the stored tree stays RFC 9162's tree of the chain either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.bootstrap import Wiring
from ledger.proofs import VerifiableLog
from tests import rfc9162
from tests.conftest import unique
from tests.integration.test_proofs_store import leaves
from tests.integration.test_tree_in_ingest import implied, opening, stored_nodes, use


def exact(wiring: Wiring, url: str, tenant: str, size: int) -> None:
    log = VerifiableLog(wiring.store)
    assert stored_nodes(url, tenant) == implied(size)
    assert log.root(tenant, size) == rfc9162.mth(leaves(wiring, tenant)).hex()
    assert log.audit(tenant) is None


def test_a_committed_batch_leaves_its_range_for_the_next_one(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring, tenant = wiring_factory(database_url), unique("acme")
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 19, 0)], None)
    assert wiring.store.recorder._trees[tenant][0].size == 21
    wiring.ledger.ingest(use(tenant, 30, 19), None)  # from the remembered range
    assert wiring.store.recorder._trees[tenant][0].size == 51
    exact(wiring, database_url, tenant, 51)


def test_a_rolled_back_batch_leaves_no_range_even_when_another_writer_reaches_its_size(
        database_url: str, wiring_factory: Callable[..., Wiring],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ours, other = wiring_factory(database_url), wiring_factory(database_url)
    tenant = unique("acme")
    ours.ledger.ingest([*opening(tenant), *use(tenant, 20, 0)], None)
    recorder: Any = ours.store.recorder
    extend = recorder.extend_trees

    def extend_then_fail(leaves: Any) -> None:
        extend(leaves)
        raise RuntimeError("the batch fails after its tree was worked out")

    monkeypatch.setattr(recorder, "extend_trees", extend_then_fail)
    with pytest.raises(RuntimeError):
        ours.ledger.ingest(use(tenant, 5, 20), None)  # rolled back: 22 + 5 never committed
    monkeypatch.undo()
    assert recorder._trees[tenant][0].size == 22
    # another process records 5 other events: the chain is now 27 long, as the rolled-back
    # batch's range was, but with other hashes
    other.ledger.ingest(use(tenant, 5, 100), None)
    ours.ledger.ingest(use(tenant, 30, 200), None)  # 22 remembered, head 27: read as before
    exact(ours, database_url, tenant, 57)
    other.ledger.ingest(use(tenant, 3, 300), None)  # between two batches of ours again
    ours.ledger.ingest(use(tenant, 9, 400), None)
    exact(ours, database_url, tenant, 69)


def test_a_remembered_range_of_the_right_size_is_not_used_for_another_chain_head(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    """A range of the same size but for another last event (a store rewound or replaced under
    a running process) is read afresh: here it is made wrong on purpose, and the tree stays
    exact because its head does not match the chain the batch builds on."""
    wiring, tenant = wiring_factory(database_url), unique("acme")
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 19, 0)], None)
    recorder: Any = wiring.store.recorder
    compact, _ = recorder._trees[tenant]
    wrong = type(compact)(compact.size, [bytes(32) for _ in compact.stack])
    recorder._trees[tenant] = (wrong, "another chain's last hash")
    wiring.ledger.ingest(use(tenant, 30, 19), None)
    exact(wiring, database_url, tenant, 51)


def test_nodes_dropped_under_a_remembered_range_are_not_built_on_past_the_gap(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    """The remembered range still matches the chain, but the stored nodes were dropped to be
    rebuilt: the batch's node insert finds them not reaching 16 leaves, writes nothing, and
    the batch reads the store afresh (which leaves the tree to the catch-up)."""
    wiring, tenant = wiring_factory(database_url), unique("acme")
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 19, 0)], None)
    log = VerifiableLog(wiring.store)
    assert log.tables.shape(tenant) == (16, 1)
    log.tables.forget_nodes(tenant)
    wiring.ledger.ingest(use(tenant, 30, 19), None)  # would complete blocks 1 and 2 of 16
    assert log.tables.shape(tenant) == (0, 0)
    assert log.sync(tenant) == 51
    exact(wiring, database_url, tenant, 51)


def test_the_guarded_node_insert_writes_only_when_the_stored_nodes_reach_as_expected(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring, tenant = wiring_factory(database_url), unique("acme")
    recorder: Any = wiring.store.recorder
    log = VerifiableLog(wiring.store)
    node = [(4, 1, bytes(32))]
    with recorder.writing([tenant]):
        assert recorder._insert_nodes_reaching(tenant, node, 16) is False
    assert log.tables.shape(tenant) == (0, 0)
    log.tables.add_nodes(tenant, [(4, 0, bytes(32))])
    with recorder.writing([tenant]):
        assert recorder._insert_nodes_reaching(tenant, node, 16) is True
    assert log.tables.shape(tenant) == (32, 2)


def test_two_writers_taking_turns_keep_the_tree_exact(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    """Two processes on one tenant (two `consume` workers) take turns: each batch finds the
    head moved by the other, so every batch reads its range afresh; at batch sizes that stop
    before, on and after the 16-leaf blocks the stored nodes begin at, the tree stays exact."""
    writers = [wiring_factory(database_url), wiring_factory(database_url)]
    tenant = unique("acme")
    writers[0].ledger.ingest(opening(tenant), None)
    done = 0
    for turn, count in enumerate([1, 15, 16, 3, 13, 17, 32, 5, 1, 40]):
        writers[turn % 2].ledger.ingest(use(tenant, count, done), None)
        done += count
    size = len(opening(tenant)) + done
    exact(writers[0], database_url, tenant, size)
