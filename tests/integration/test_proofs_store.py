"""The verifiable log over the real stores (SQLite and PostgreSQL): the stored tree follows
the chain, and its heads and proofs verify with the RFC 9162 text and the public key only."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.bootstrap import Wiring
from ledger.licensefile import KeyRing, SigningKey
from ledger.licensefile.proofs import ProofError, verify_proof, verify_tree_head
from ledger.proofs import NoSuchEventError, ProofRequestError, VerifiableLog
from tests import rfc9162
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique


def grant_and_use(wiring: Wiring, tenant: str, usage: int, first_id: int = 0) -> None:
    if first_id == 0:
        wiring.ledger.ingest([catalog_envelope(), envelope(
            "license.granted", "2026-02-01", "lic-1", customer_id="cust-7", plan="pro")], tenant)
    events = [envelope("usage.recorded", "2026-02-02", "lic-1", id=f"use-{first_id + i}",
                       feature="api_calls", quantity=1) for i in range(usage)]
    outcomes = wiring.ledger.ingest(events, tenant)
    assert {o.status for o in outcomes} <= {"accepted"}


def leaves(wiring: Wiring, tenant: str) -> list[bytes]:
    return [rfc9162.leaf(bytes.fromhex(h)) for h in wiring.store.event_hashes(tenant)]


@pytest.fixture
def keyring() -> KeyRing:
    key = SigningKey.generate()
    return KeyRing([key], key.key_id)


def test_heads_and_proofs_verify_as_the_log_grows(database_url: str, wiring_factory: Callable[..., Wiring],
                                                  keyring: KeyRing) -> None:
    wiring, tenant = wiring_factory(database_url), unique("acme")
    log = VerifiableLog(wiring.store, keyring)
    public = keyring.active.public_key_base64()
    grant_and_use(wiring, tenant, 5)  # 7 events: read one by one
    first = log.tree_head(tenant)
    assert verify_tree_head(first, public)["tree_size"] == 7
    assert first["tree_head"]["root_hash"] == rfc9162.mth(leaves(wiring, tenant)).hex()
    grant_and_use(wiring, tenant, 40, first_id=100)  # 40 more: one read of the chain
    second = log.tree_head(tenant)
    all_leaves = leaves(wiring, tenant)
    assert second["tree_head"]["tree_size"] == 47
    assert second["tree_head"]["root_hash"] == rfc9162.mth(all_leaves).hex()
    for sequence in (1, 7, 30, 47):
        proof = log.inclusion(tenant, sequence)
        assert verify_proof(proof, [second], public) == proof
        assert rfc9162.verify_inclusion(sequence - 1, 47, all_leaves[sequence - 1],
                                        [bytes.fromhex(h) for h in proof["audit_path"]],
                                        bytes.fromhex(second["tree_head"]["root_hash"]))
    old = log.inclusion(tenant, 3, tree_size=7)
    verify_proof(old, [first], public)
    consistency = log.consistency(tenant, 7)
    assert consistency["second"] == 47
    verify_proof(consistency, [first, second], public)
    assert log.tree_head(tenant) == second  # a head once signed is handed out again
    assert log.audit(tenant) is None


def test_proofs_name_events_by_source_and_id_and_refuse_sizes_out_of_range(
        sqlite_url: str, wiring_factory: Callable[..., Wiring], keyring: KeyRing) -> None:
    wiring, tenant = wiring_factory(sqlite_url), unique("acme")
    log = VerifiableLog(wiring.store, keyring)
    with pytest.raises(NoSuchEventError):
        log.tree_head(tenant)
    grant_and_use(wiring, tenant, 3)
    assert log.sequence_of(tenant, "billing/test", "use-2") == 5
    assert wiring.store.fact_at_sequence(tenant, 5).source_event_id == "use-2"  # type: ignore[union-attr]
    assert wiring.store.fact_at_sequence(tenant, 6) is None
    with pytest.raises(NoSuchEventError):
        log.sequence_of(tenant, "billing/test", "nope")
    with pytest.raises(ProofRequestError, match="tree_size"):
        log.inclusion(tenant, 2, tree_size=6)
    with pytest.raises(ProofRequestError, match="tree_size >= sequence"):
        log.inclusion(tenant, 4, tree_size=3)
    with pytest.raises(ProofRequestError, match="from"):
        log.consistency(tenant, 0)
    with pytest.raises(ProofRequestError):
        log.consistency(tenant, 3, 9)


def test_a_proof_against_another_head_or_key_is_refused_with_its_reason(
        sqlite_url: str, wiring_factory: Callable[..., Wiring], keyring: KeyRing) -> None:
    wiring, tenant = wiring_factory(sqlite_url), unique("acme")
    log = VerifiableLog(wiring.store, keyring)
    public = keyring.active.public_key_base64()
    grant_and_use(wiring, tenant, 4)
    small = log.tree_head(tenant)
    grant_and_use(wiring, tenant, 1, first_id=50)
    big = log.tree_head(tenant)
    proof = log.inclusion(tenant, 2)
    cases = {
        "bad_proof": (proof, [small]),  # the proof is for size 7, the head for 6
        "unknown_key": (proof, [{**big, "key_id": "k-other"}]),
        "bad_signature": (proof, [{**big, "tree_head": {**big["tree_head"], "tree_size": 7,
                                                        "root_hash": "0" * 64}}]),
        "root_mismatch": ({**proof, "audit_path": [("1" * 64), *proof["audit_path"][1:]]}, [big]),
    }
    keys = {keyring.active.key_id: public}
    for reason, (candidate, heads) in cases.items():
        with pytest.raises(ProofError) as caught:
            verify_proof(candidate, heads, keys)
        assert caught.value.reason == reason


def test_a_big_first_build_in_chunks_gives_the_same_tree(sqlite_url: str, wiring_factory: Callable[..., Wiring],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import ledger.proofs.log

    monkeypatch.setattr(ledger.proofs.log, "CHUNK", 7)  # boundaries that are not powers of two
    wiring, tenant = wiring_factory(sqlite_url), unique("acme")
    wiring.store.recorder.extends_trees = False  # a tree left behind (ingest keeps it otherwise)
    grant_and_use(wiring, tenant, 40)
    log = VerifiableLog(wiring.store)
    assert log.tables.size(tenant) == 0
    assert log.sync(tenant) == 42 and log.tables.size(tenant) == 32
    assert log.root(tenant, 42) == rfc9162.mth(leaves(wiring, tenant)).hex()
    assert log.audit(tenant) is None


def test_every_event_s_inclusion_proof_names_its_own_chain_hash_at_every_tree_size(
        database_url: str, wiring_factory: Callable[..., Wiring]) -> None:
    """The event a proof names is read with its lower nodes when they lie in its block, else
    on its own (the last event alone in a partial block, a tree of one): either way its own."""
    wiring, tenant = wiring_factory(database_url), unique("every")
    log = VerifiableLog(wiring.store)
    grant_and_use(wiring, tenant, 35)  # 37 events: two whole blocks of 16 and 5 more
    hashes = wiring.store.event_hashes(tenant)
    all_leaves = leaves(wiring, tenant)
    for size in (1, 2, 15, 16, 17, 32, 33, 37):
        root = rfc9162.mth(all_leaves[:size])
        for sequence in range(1, size + 1):
            proof = log.inclusion(tenant, sequence, tree_size=size)
            assert (proof["event_hash"], proof["leaf_hash"]) == (
                hashes[sequence - 1], all_leaves[sequence - 1].hex())
            assert rfc9162.verify_inclusion(sequence - 1, size, all_leaves[sequence - 1],
                                            [bytes.fromhex(h) for h in proof["audit_path"]], root)
