"""The worker's state log: one delta record per routed partition per commit, and its restore.

Faust tables write one changelog record per key set (`Table.on_key_set` -> `send_changelog`), and
cannot merge writes of the same key: at one record per key and event the worker wrote ~2 changelog
records per intake event (issue 10). Here the partition's Book collects its changed keys, and at
each commit the worker writes their last values as ONE record, tagged with the routed offset it
covers up to (`upto`), before it commits that offset. So a message of 500 events costs O(1) state
records, and the state log is the history of the commits.

Restore (a partition assigned): apply, in log order, every delta whose `upto` is at or below the
partition's committed offset. A delta above it was written by a worker that died before its commit:
the new owner decides those messages again from the commit, and the desk decides deterministically
(same book, same messages, same outputs and ids), so its own next delta covers the same keys with
the same values; applying the orphan as well, once a later commit covers it, changes nothing.

Snapshots bound what a restore reads. The deltas of a busy partition add up to several times its
state (every second rewrites the keys it touched), and the log is kept forever: at the Grand Paris
size a partition's log passed 200 MB in a run. So once the deltas written since the last snapshot
reach the size of that snapshot (and at least `LEDGER_WORKER_SNAPSHOT_MIN_BYTES`), the worker
writes the whole book (`Book.snapshot_parts`, cut in records like a delta and tagged
`ledger-snapshot: <its id>`), a few records at each checkpoint after its delta, one partition at a
time. The snapshot is fuzzy: each record holds its keys' values when it was cut, tagged with the
routed offset decided then, and every key changed after its record is in a later delta. Once the
offset of its last record is committed, the records before its first are deleted from the log
(Kafka's DeleteRecords). A restore then reads at most about twice the state, and the snapshots
cost at most as many bytes as the deltas. Nothing before a snapshot is deleted until its last
offset is committed: a worker killed in between leaves records above the committed offset, which
a restore skips like any orphan delta, with the whole history before them still there; the
records of a snapshot cut short (its partition changed hands) are state like any other.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from ledger.book import Book

log = logging.getLogger(__name__)

UPTO_HEADER = "ledger-upto"
SNAPSHOT_HEADER = "ledger-snapshot"


class Snapshots:
    """When one partition's next checkpoint writes a snapshot instead of a delta: once the deltas
    since the last snapshot (or those a restore read) weigh as much as it, and at least `min_bytes`."""

    def __init__(self, min_bytes: int, since: int = 0, last: int = 0) -> None:
        self.min_bytes = min_bytes
        self.since = since  # bytes of deltas written since the last snapshot
        self.last = last  # bytes of the last snapshot

    def due(self) -> bool:
        return self.since >= max(self.min_bytes, self.last)

    def wrote(self, size: int, snapshot: bool) -> None:
        """`size` bytes of deltas, or a snapshot of that size, were written."""
        if snapshot:
            self.last, self.since = size, 0
        else:
            self.since += size


@dataclass
class Restored:
    book: Book
    applied: int = 0  # records applied
    read: int = 0  # records read
    bytes: int = 0  # bytes read
    from_snapshot: bool = False  # the log began with a snapshot (the history before it deleted)
    snapshot_bytes: int = 0  # of the last snapshot read
    since_snapshot: int = 0  # bytes of deltas read after it (all of them, without a snapshot)
    snapshot_id: bytes | None = None  # the last snapshot's header value

    def count(self, records) -> None:
        for value, headers in records:
            size = len(value or b"")
            if not self.read:
                self.from_snapshot = is_snapshot(headers)
            snapshot = snapshot_of(headers)
            if snapshot is not None:
                # A later snapshot begins: another id, or (logs written before the ids, all b"1")
                # a snapshot record after deltas. A snapshot's own records have deltas among them.
                if snapshot != self.snapshot_id or (snapshot == b"1" and self.since_snapshot) or not self.snapshot_bytes:
                    self.snapshot_bytes, self.since_snapshot, self.snapshot_id = 0, 0, snapshot
                self.snapshot_bytes += size
            else:
                self.since_snapshot += size
            self.bytes += size
            self.read += 1


def upto_of(headers) -> int | None:
    for key, value in headers or ():
        if key == UPTO_HEADER:
            return int(value)
    return None


def restore_from(records, committed: int, book: Book | None = None) -> tuple[Book, int]:
    """`book` (a new one if None) with the state records (value, headers) applied in log order, up
    to the committed offset; and how many were applied."""
    book, applied = book if book is not None else Book(), 0
    for value, headers in records:
        upto = upto_of(headers)
        if upto is not None and upto <= committed and value:
            book.apply(value)
            applied += 1
    return book, applied


def is_snapshot(headers) -> bool:
    return snapshot_of(headers) is not None


def snapshot_of(headers) -> bytes | None:
    """The snapshot a state record belongs to (its header's value), or None for a delta."""
    for key, value in headers or ():
        if key == SNAPSHOT_HEADER:
            return bytes(value)
    return None


async def restore(bootstrap_servers, topic: str, partition: int, committed: int,
                  timeout: float = 120.0) -> Restored:
    """The partition's Book as of the committed offset, each fetched batch of the state log applied
    as it comes: the log is never held whole beside the book it builds. The log starts at the last
    snapshot whose offset was committed, or at the beginning of the history."""
    for attempt in range(3):
        restored = Restored(Book())
        try:
            async for records in read_state(bootstrap_servers, topic, partition, timeout):
                _, n = restore_from(records, committed, restored.book)
                restored.applied += n
                restored.count(records)
            return restored
        except LogTruncated:
            # The previous owner deleted the log before its last snapshot while this read it, and
            # the read jumped over records (a removal among them would be missed). Read from the new
            # start again: a log read whole and in order is right however its start moves after.
            log.warning("state log %s[%d] truncated while it was read: reading it again", topic, partition)
    raise LogTruncated(f"state log {topic}[{partition}] kept moving its start while it was read")


class LogTruncated(Exception):
    """The state log's start moved past records not read yet while it was read."""


async def forget_before_snapshots(admin: AIOKafkaAdminClient, group: str, routed_topic: str, state_topic: str,
                                  snapshots: dict[int, tuple[int, int]]) -> dict[int, int]:
    """Delete each partition's state log before its snapshot ({partition: (first offset of the
    snapshot, the routed offset it covers)}), where the group's committed routed offset, read back
    from the broker, covers the snapshot: a restore then starts at it. Returns what was deleted."""
    committed = await admin.list_consumer_group_offsets(
        group, partitions=[TopicPartition(routed_topic, p) for p in snapshots])
    covered = {}
    for partition, (first, upto) in snapshots.items():
        found = committed.get(TopicPartition(routed_topic, partition))
        if found is not None and found.offset >= upto:
            covered[partition] = first
    if covered:
        await admin.delete_records({TopicPartition(state_topic, p): RecordsToDelete(first)
                                    for p, first in covered.items()})
    return covered


async def read_state(bootstrap_servers, topic: str, partition: int, timeout: float = 120.0):
    """The partition's state log from its start to its end as of now, in fetched batches of
    (value, headers); TimeoutError when no record came for `timeout` seconds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=16 * 1024 * 1024)
    tp = TopicPartition(topic, partition)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout
        position = await consumer.position(tp)
        while position < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}[{partition}]: nothing for {timeout:.0f} s at offset {position}")
            fetched = (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
            if fetched and fetched[0].offset > position:
                raise LogTruncated(f"{topic}[{partition}]: offset {fetched[0].offset} read after {position}")
            records = [(r.value, tuple(r.headers or ())) for r in fetched if r.offset < end]
            if records:
                deadline = time.monotonic() + timeout
                yield records
            position = await consumer.position(tp)
    finally:
        await consumer.stop()
