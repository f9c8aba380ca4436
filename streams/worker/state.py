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
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from ledger.book import Book

log = logging.getLogger(__name__)

UPTO_HEADER = "ledger-upto"


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


async def restore(bootstrap_servers, topic: str, partition: int, committed: int,
                  timeout: float = 120.0) -> tuple[Book, int]:
    """The partition's Book as of the committed offset, each fetched batch of the state log applied
    as it comes: the log is never held whole beside the book it builds (at the Grand Paris size it is
    hundreds of MB of deltas)."""
    book, applied = Book(), 0
    async for records in read_state(bootstrap_servers, topic, partition, timeout):
        book, n = restore_from(records, committed, book)
        applied += n
    return book, applied


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
            records = [(r.value, tuple(r.headers or ())) for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
                       if r.offset < end]
            if records:
                deadline = time.monotonic() + timeout
                yield records
            position = await consumer.position(tp)
    finally:
        await consumer.stop()
