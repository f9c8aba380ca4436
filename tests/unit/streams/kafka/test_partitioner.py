"""streams.kafka.partitioner as it runs (compiled from partitioner.pyx where built) against its
Python source and kafka-python's murmur2: the same partition for every key, whichever runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

import streams.kafka.partitioner as running

SOURCE = Path(running.__file__).with_name("partitioner.py")
_spec = importlib.util.spec_from_file_location("partitioner_source", SOURCE)
source = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(source)

# Any text a key may be (non-ASCII and every tail length of murmur2's 4-byte blocks among them), and
# the routing's own keys.
keys = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=70),
                 st.builds(lambda kind, key: f"{kind}:{key}", st.sampled_from(["person", "contract", "programme"]),
                           st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True)))


@given(keys, st.integers(1, 5000))
def test_a_key_goes_where_kafkas_default_partitioner_puts_it_compiled_or_not(key, partitions):
    expected = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    assert running.partition_of(key, partitions) == source.partition_of(key, partitions) == expected


def test_the_hashes_of_kafkas_own_tests():
    """Utils.murmur2 in Kafka's UtilsTest (Java, signed 32-bit results): a key's partition is the
    hash with its sign bit cleared (Utils.toPositive), modulo the count."""
    java = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
            "a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971}
    most = (1 << 31) - 1  # no positive hash but this one reaches it: the hash itself
    for key, hashed in java.items():
        for partition_of in (running.partition_of, source.partition_of):
            assert partition_of(key, most) == (hashed & 0x7FFFFFFF) % most, key
            assert partition_of(key, 12) == (hashed & 0x7FFFFFFF) % 12, key


def test_the_source_is_beside_what_runs():
    assert SOURCE.is_file() and SOURCE.with_suffix(".pyx").is_file()
