"""Kafka's default partitioner: which of `partitions` a message key goes to (murmur2 of its UTF-8
bytes, its sign bit cleared, modulo the count), as Java's and kafka-python's clients place a keyed
message, so that a producer keying by the same key agrees with the worker's routing.

This file is what runs where nothing is compiled: kafka-python's murmur2 (Python, ~3 µs a key),
its results kept per key. setup.py compiles `partitioner.pyx` in its place: the same function, the
same values, murmur2 in C over the key's own bytes (~30 ns, nothing kept: the routing's lookup of
a key among a quarter million kept ones missed the CPU's caches, 3 % of the parse path, perf
2026-12-06). tests/unit/streams/kafka/test_partitioner.py holds the two equal, and to kafka-python's.
"""

from __future__ import annotations

from kafka.partitioner.default import murmur2

from ledger.caches import remember


def partition_of(key: str, partitions: int) -> int:
    known = _PARTITIONS.get(partitions)
    if known is None:
        known = _PARTITIONS[partitions] = {}
    found = known.get(key)
    if found is None:
        found = remember(known, key, (murmur2(key.encode()) & 0x7FFFFFFF) % partitions, _MAX_KEYS)
    return found


_PARTITIONS: dict[int, dict[str, int]] = {}  # partitions -> key -> its partition
_MAX_KEYS = 262144
