"""Which partition of the outbound topic a relayed record goes to, worked out once per key.

The relay's producer places a record by kafka-python's default partitioner: murmur2 of the key
(pure Python, for every record: about 7 % of the relay's CPU under py-spy), modulo the topic's
partitions in sorted order. A license's facts go out under the same key again and again (a
usage-heavy license many times a page), so the relay keeps each key's hash and passes the
partition with the record: the one the partitioner would have chosen (a property test compares
them), so the order per license and what each projector's partition holds do not change. Only
for a producer with that partitioner; any other producer places its records itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka.partitioner.default import DefaultPartitioner, murmur2

KEPT = 100_000  # keys whose hash is kept; past that the table starts again (a bound, not a cache policy)


class KeyPlacement:
    """The relay's table of key hashes, kept for the process's life."""

    def __init__(self, kept: int = KEPT):
        self.kept = kept
        self.hashes: dict[bytes, int] = {}

    def partitioner(self, producer: Any, topic: str) -> Callable[[bytes], int] | None:
        """key -> partition of `topic` as `producer`'s default partitioner places it, with the
        partitions it knows now (asked once per page: a topic given more partitions is seen on
        the next page, as by the producer); None if the producer places records otherwise."""
        config = getattr(producer, "config", None)
        if not isinstance(config, dict) or not isinstance(config.get("partitioner"), DefaultPartitioner):
            return None
        partitions = sorted(producer.partitions_for(topic) or ())
        if not partitions:
            return None
        hashes, count = self.hashes, len(partitions)

        def place(key: bytes) -> int:
            found = hashes.get(key)
            if found is None:
                if len(hashes) >= self.kept:
                    hashes.clear()
                found = hashes[key] = murmur2(key) & 0x7FFFFFFF
            return partitions[found % count]

        return place
