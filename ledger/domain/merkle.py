"""The tenant's verifiable log: a Merkle tree over its events, hashed as RFC 9162 section 2.1.

Leaf `i` is the event with `sequence = i + 1`; its leaf hash is SHA-256(0x00 || the 32 raw
bytes of the event's chain hash), an interior node SHA-256(0x01 || left || right), split at
the largest power of two smaller than the number of leaves.

Every node of such a tree is either a *perfect* subtree (2**level leaves starting at a
multiple of 2**level) or a node on the tree's right edge, whose hash folds the perfect
subtrees its range breaks into. So proofs are computed from perfect subtree hashes alone,
given as a function `perfect(level, index) -> bytes`: a store that keeps them answers any
proof with O(log n) of them, whatever the tenant's size. The control flow never depends on
hash values, so `needed_*` runs the same code to learn which perfect subtrees a proof needs,
and the caller can fetch them in one read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

Perfect = Callable[[int, int], bytes]  # (level, index) -> hash of leaves [index<<level, (index+1)<<level)


def leaf_hash(event_hash: str) -> bytes:
    """The leaf of an event, from its chain `hash` (lower-case hex of 32 bytes)."""
    raw = bytes.fromhex(event_hash)
    if len(raw) != 32:
        raise ValueError(f"an event hash is 32 bytes of hex, not {event_hash!r}")
    return hashlib.sha256(b"\x00" + raw).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


EMPTY_ROOT = hashlib.sha256(b"").digest()


def range_hash(lo: int, hi: int, perfect: Perfect) -> bytes:
    """The hash of the tree over leaves [lo, hi), for a range that is a node of some tree
    (lo a multiple of split(hi - lo) * 2, as every node's is)."""
    size = hi - lo
    if size <= 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and lo % size == 0:
        return perfect(size.bit_length() - 1, lo // size)
    k = split(size)
    return node_hash(range_hash(lo, lo + k, perfect), range_hash(lo + k, hi, perfect))


def root(size: int, perfect: Perfect) -> bytes:
    """The root hash of the tree of the first `size` leaves (RFC 9162 MTH)."""
    return range_hash(0, size, perfect)


def inclusion_path(index: int, size: int, perfect: Perfect) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1), from
    the leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            path.append(range_hash(lo + k, hi, perfect))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, perfect))
            lo = lo + k
    path.reverse()
    return path


def consistency_path(first: int, second: int, perfect: Perfect) -> list[bytes]:
    """The proof that the tree of `first` leaves is a prefix of the tree of `second`
    (RFC 9162 2.1.4.1, SUBPROOF(m, D[0:n], true))."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    path: list[bytes] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = split(hi - lo)
        if m <= k:
            path.append(range_hash(lo + k, hi, perfect))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, perfect))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        path.append(range_hash(lo, hi, perfect))
    path.reverse()
    return path


def needed(compute: Callable[[Perfect], object]) -> set[tuple[int, int]]:
    """The perfect subtrees `compute` reads: run it once with stand-in hashes."""
    seen: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        seen.add((level, index))
        return b"\x00" * 32

    compute(record)
    return seen


def perfect_hash(leaves: list[bytes]) -> bytes:
    """The hash of a perfect subtree (2**k leaf hashes), computed from its leaves."""
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()


def perfect_ranges(size: int) -> list[tuple[int, int]]:
    """The compact range of a tree of `size` leaves: the (level, index) of the perfect
    subtrees [0, size) breaks into, left to right, one per bit of `size`."""
    found, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            found.append((level, start >> level))
            start += 1 << level
    return found


class CompactRange:
    """The O(log n) state that appending needs: the hashes of the perfect subtrees the tree
    so far breaks into. Appending a leaf yields every perfect subtree it completes."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.stack: list[tuple[int, bytes]] = [
            (level, h) for (level, _), h in zip(perfect_ranges(size), hashes, strict=True)]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the (level, index, hash) of every perfect subtree
        completed, the leaf itself first."""
        return self.extend([leaf])

    def extend(self, leaves: Iterable[bytes], lowest: int = 0) -> list[tuple[int, int, bytes]]:
        """Add leaf hashes in order; returns what `append` would of each, in the same order,
        but only the subtrees of level `lowest` and up (what a store keeps): one list for the
        batch, none per leaf (ingest appends every event's leaf; the tree's cost there)."""
        completed: list[tuple[int, int, bytes]] = []
        stack, sha256, size = self.stack, hashlib.sha256, self.size
        for leaf in leaves:
            if lowest <= 0:
                completed.append((0, size, leaf))
            level, current = 0, leaf
            while stack and stack[-1][0] == level:
                current = sha256(b"\x01" + stack.pop()[1] + current).digest()  # node_hash
                level += 1
                if level >= lowest:
                    completed.append((level, size >> level, current))
            stack.append((level, current))
            size += 1
        self.size = size
        return completed

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        current = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            current = node_hash(left, current)
        return current
