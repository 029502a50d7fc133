"""Our murmur2 partitioner equals Kafka's default partitioner (aiokafka's reference implementation)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.partitioning import Partitioner, murmur2


@given(st.binary(max_size=300))
def test_murmur2_equals_the_reference(data: bytes) -> None:
    assert murmur2(data) == reference(data)


@given(st.binary(min_size=1, max_size=80), st.integers(min_value=1, max_value=64))
def test_partition_equals_the_default_partitioner(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert Partitioner()(key, count) == DefaultPartitioner()(key, partitions, partitions)


def test_known_values_of_the_java_client() -> None:
    # Values from Kafka's own test suite (UtilsTest.testMurmur2), as signed 32-bit integers.
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF, data
