"""The relay places each record where the producer's default partitioner would have."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from consumers.placement import KeyPlacement


class Cluster:
    def __init__(self, topic: str, partitions: set[int]):
        self.topic, self.partitions = topic, partitions

    def topics(self) -> set[str]:
        return {self.topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


class Producer:
    def __init__(self, partitions: set[int], partitioner: Any = None):
        self.config = {"partitioner": partitioner or DefaultPartitioner()}
        self.partitions = partitions

    def partitions_for(self, topic: str) -> set[int]:
        return self.partitions


@given(keys=st.lists(st.binary(max_size=40), min_size=1, max_size=60),
       partitions=st.sets(st.integers(0, 200), min_size=1, max_size=12),
       kept=st.integers(1, 8))
def test_each_key_goes_to_the_default_partitioners_partition(keys: list[bytes], partitions: set[int],
                                                              kept: int) -> None:
    placement = KeyPlacement(kept=kept)  # a small table: it also starts again while placing
    place = placement.partitioner(Producer(partitions), "out")
    assert place is not None
    cluster = Cluster("out", partitions)
    for key in keys + keys:  # the second time from the table
        assert place(key) == DefaultPartitioner().partition("out", key, key, b"", b"", cluster)
    assert len(placement.hashes) <= kept


def test_a_topic_given_more_partitions_is_placed_over_all_of_them_on_the_next_page() -> None:
    placement, producer = KeyPlacement(), Producer({0, 1})
    keys = [f"lic-{n}".encode() for n in range(50)]
    before = placement.partitioner(producer, "out")
    producer.partitions = {0, 1, 2, 3}
    after = placement.partitioner(producer, "out")
    assert before is not None and after is not None
    cluster = Cluster("out", {0, 1, 2, 3})
    assert [after(k) for k in keys] == [DefaultPartitioner().partition("out", k, k, b"", b"", cluster)
                                        for k in keys]
    assert {before(k) for k in keys} == {0, 1}


def test_a_producer_that_places_records_otherwise_is_left_to_do_so() -> None:
    class Other:
        def __call__(self, *args: Any) -> int:
            return 0

    assert KeyPlacement().partitioner(Producer({0, 1}, partitioner=Other()), "out") is None
    assert KeyPlacement().partitioner(object(), "out") is None  # a fake without a config
    assert KeyPlacement().partitioner(Producer(set()), "out") is None  # no partitions known

