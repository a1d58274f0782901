"""Ingest appends each tenant's Merkle tree in the transaction that records its events: with
no catch-up, after every batch (of any size, several tenants at once) the stored nodes are
exactly the tree's perfect subtrees of 16 leaves and more, and every root and proof, its lower
nodes computed from the chain, is RFC 9162's. A tree left behind is caught up and then kept
by ingest; a store that kept every level (main@9cb1041) drops the lower ones on open and
answers the same."""

from __future__ import annotations

import random
from collections.abc import Callable

from ledger.bootstrap import Wiring
from ledger.proofs import VerifiableLog
from ledger.store.treeindex import STORED_FROM
from tests import rfc9162
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique
from tests.integration import tampering
from tests.integration.test_proofs_store import leaves


def use(tenant: str, count: int, start: int) -> list[dict[str, object]]:
    return [envelope("usage.recorded", "2026-02-02", "lic-1", id=f"{tenant}-{start + i}",
                     tenant=tenant, feature="api_calls", quantity=1) for i in range(count)]


def opening(tenant: str) -> list[dict[str, object]]:
    return [catalog_envelope(tenant=tenant), envelope("license.granted", "2026-02-01", "lic-1",
                                                      tenant=tenant, customer_id="c", plan="pro")]


def stored_nodes(url: str, tenant: str) -> int:
    return int(tampering.run(url, "SELECT COUNT(*) FROM merkle_nodes WHERE tenant = %s",
                             (tenant,))[0][0])


def implied(size: int) -> int:
    return sum(size >> level for level in range(STORED_FROM, size.bit_length()))


def test_ingest_keeps_the_stored_tree_exact_after_every_batch(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring = wiring_factory(database_url)
    log = VerifiableLog(wiring.store)
    rng = random.Random(11)
    tenants = [unique("a"), unique("b")]
    wiring.ledger.ingest([e for t in tenants for e in opening(t)], None)
    done = dict.fromkeys(tenants, 0)
    for count in (1, 13, 16, 17, 1, 40, 15, 64, 2):
        batch = [e for t in tenants for e in use(t, count + (t == tenants[1]), done[t])]
        assert {o.status for o in wiring.ledger.ingest(batch, None)} == {"accepted"}
        for tenant in tenants:
            done[tenant] += count + (tenant == tenants[1])
            size = done[tenant] + 2
            assert log.tables.size(tenant) == size - size % 16  # no catch-up asked for
            assert stored_nodes(database_url, tenant) == implied(size)
            all_leaves = leaves(wiring, tenant)
            assert log.root(tenant, size) == rfc9162.mth(all_leaves).hex()
            for sequence in rng.sample(range(1, size + 1), 3):
                smaller = rng.randrange(sequence, size + 1)
                proof = log.inclusion(tenant, sequence, smaller)
                assert rfc9162.verify_inclusion(
                    sequence - 1, smaller, all_leaves[sequence - 1],
                    [bytes.fromhex(h) for h in proof["audit_path"]],
                    rfc9162.mth(all_leaves[:smaller]))
    assert all(log.audit(t) is None for t in tenants)


def test_a_tree_left_behind_is_caught_up_then_kept_by_ingest(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring, tenant = wiring_factory(database_url), unique("acme")
    log = VerifiableLog(wiring.store)
    wiring.store.recorder.extends_trees = False
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 50, 0)], None)
    assert log.tables.size(tenant) == 0
    wiring.store.recorder.extends_trees = True
    wiring.ledger.ingest(use(tenant, 20, 50), None)  # the tree lags: left to the catch-up
    assert log.tables.size(tenant) == 0
    assert log.sync(tenant) == 72 and log.tables.size(tenant) == 64
    wiring.ledger.ingest(use(tenant, 30, 70), None)
    assert log.tables.size(tenant) == 96 and stored_nodes(database_url, tenant) == implied(102)
    assert log.root(tenant, 102) == rfc9162.mth(leaves(wiring, tenant)).hex()
    assert log.audit(tenant) is None


def test_a_store_that_kept_every_level_drops_the_lower_ones_on_open(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    wiring, tenant = wiring_factory(database_url), unique("acme")
    wiring.ledger.ingest([*opening(tenant), *use(tenant, 38, 0)], None)
    log = VerifiableLog(wiring.store)
    before = (log.root(tenant, 40), log.inclusion(tenant, 5), log.consistency(tenant, 17))
    from ledger.domain import merkle

    compact, low = merkle.CompactRange(), []
    for event_hash in wiring.store.event_hashes(tenant):  # every level, as main@9cb1041 kept it
        low += [n for n in compact.append(merkle.leaf_hash(event_hash)) if n[0] < STORED_FROM]
    log.tables.add_nodes(tenant, low)
    assert stored_nodes(database_url, tenant) == 40 + 20 + 10 + 5 + implied(40)
    wiring.close()
    reopened = wiring_factory(database_url)
    assert stored_nodes(database_url, tenant) == implied(40)
    log = VerifiableLog(reopened.store)
    assert (log.root(tenant, 40), log.inclusion(tenant, 5), log.consistency(tenant, 17)) == before
    assert log.audit(tenant) is None
