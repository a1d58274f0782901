"""The tenant tree against RFC 9162: the published test vectors of transparency-dev/merkle
(Go), and, for random sizes, an independent verifier written from the RFC's text."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import merkle
from tests import rfc9162

# transparency-dev/merkle testonly/constants.go: leaf inputs and the roots of every prefix.
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# proof/verify_test.go: (1-based leaf, tree size, path) and (size1, size2, path).
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def perfect_of(leaves: list[bytes]) -> merkle.Perfect:
    """Perfect subtree hashes recomputed from the leaves (what the store keeps)."""
    return lambda level, index: rfc9162.mth(leaves[index << level:(index + 1) << level])


VECTOR_LEAVES = [rfc9162.leaf(bytes.fromhex(x)) for x in LEAF_INPUTS]


def test_the_roots_of_every_prefix_match_the_published_vectors():
    perfect = perfect_of(VECTOR_LEAVES)
    assert [merkle.root(n, perfect).hex() for n in range(1, 9)] == ROOTS
    assert merkle.root(0, perfect) == hashlib.sha256(b"").digest()


def test_inclusion_paths_match_the_published_vectors():
    perfect = perfect_of(VECTOR_LEAVES)
    for leaf, size, path in INCLUSION:
        assert [h.hex() for h in merkle.inclusion_path(leaf - 1, size, perfect)] == path


def test_consistency_paths_match_the_published_vectors():
    perfect = perfect_of(VECTOR_LEAVES)
    for first, second, path in CONSISTENCY:
        assert [h.hex() for h in merkle.consistency_path(first, second, perfect)] == path


def test_a_leaf_is_the_hash_of_zero_and_the_events_raw_hash():
    event_hash = hashlib.sha256(b"event").hexdigest()
    assert merkle.leaf_hash(event_hash) == hashlib.sha256(b"\x00" + bytes.fromhex(event_hash)).digest()


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]


sizes = st.integers(min_value=1, max_value=300)


@given(sizes, st.data())
def test_every_inclusion_proof_verifies_and_any_altered_part_fails(size, data):
    leaves = leaves_of(size)
    perfect = perfect_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    path = merkle.inclusion_path(index, size, perfect)
    root = rfc9162.mth(leaves)
    assert rfc9162.verify_inclusion(index, size, leaves[index], path, root)
    assert not rfc9162.verify_inclusion(index, size, hashlib.sha256(b"other").digest(), path, root)
    assert not rfc9162.verify_inclusion(index, size, leaves[index], path, hashlib.sha256(b"x").digest())
    if path:
        at = data.draw(st.integers(0, len(path) - 1))
        altered = list(path)
        altered[at] = bytes([altered[at][0] ^ 1]) + altered[at][1:]
        assert not rfc9162.verify_inclusion(index, size, leaves[index], altered, root)
        assert not rfc9162.verify_inclusion(index, size, leaves[index], path[:-1], root)
    assert not rfc9162.verify_inclusion(index, size, leaves[index], [*path, root], root)


@given(sizes, st.data())
def test_every_consistency_proof_verifies_and_any_altered_part_fails(size, data):
    leaves = leaves_of(size)
    perfect = perfect_of(leaves)
    first = data.draw(st.integers(1, size))
    path = merkle.consistency_path(first, size, perfect)
    old, new = rfc9162.mth(leaves[:first]), rfc9162.mth(leaves)
    assert rfc9162.verify_consistency(first, size, old, new, path)
    if first < size:
        at = data.draw(st.integers(0, len(path) - 1))
        altered = list(path)
        altered[at] = bytes([altered[at][0] ^ 1]) + altered[at][1:]
        assert not rfc9162.verify_consistency(first, size, old, new, altered)
        forged = leaves_of(first - 1) + [hashlib.sha256(b"rewritten").digest()]
        assert not rfc9162.verify_consistency(first, size, rfc9162.mth(forged), new, path)


@given(st.integers(min_value=0, max_value=300))
def test_the_compact_range_yields_every_perfect_subtree_and_the_root(size):
    leaves = leaves_of(size)
    stored: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for leaf in leaves:
        stored.update({(level, index): h for level, index, h in compact.append(leaf)})
    assert compact.root() == rfc9162.mth(leaves)
    for (level, index), h in stored.items():
        assert h == rfc9162.mth(leaves[index << level:(index + 1) << level])
    assert len(stored) == sum(size >> level for level in range(size.bit_length() + 1))
    resumed = merkle.CompactRange(size, [stored[k] for k in merkle.perfect_ranges(size)])
    assert resumed.root() == compact.root()


def test_a_proof_reads_few_perfect_subtrees_even_in_a_big_tree():
    size = 1_000_003
    wanted = merkle.needed(lambda p: merkle.inclusion_path(123_456, size, p))
    assert len(wanted) <= 2 * size.bit_length()
    wanted = merkle.needed(lambda p: merkle.consistency_path(654_321, size, p))
    assert len(wanted) <= 3 * size.bit_length()


@given(st.integers(min_value=0, max_value=200), st.lists(st.integers(min_value=0, max_value=70),
                                                          max_size=6),
       st.integers(min_value=0, max_value=6))
def test_extending_by_a_batch_completes_what_appending_each_leaf_does_from_the_lowest_level(
        size, batches, lowest):
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size + sum(batches))]
    one, batched = merkle.CompactRange(), merkle.CompactRange()
    for leaf in leaves[:size]:
        one.append(leaf)
        batched.append(leaf)
    at = size
    for count in batches:
        expected = [n for leaf in leaves[at:at + count] for n in one.append(leaf) if n[0] >= lowest]
        assert batched.extend(leaves[at:at + count], lowest) == expected
        assert (batched.size, batched.stack, batched.root()) == (one.size, one.stack, one.root())
        at += count
