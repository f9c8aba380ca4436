"""The worker's state log read back (streams.worker.state.restore_from): deltas applied in log order
up to the committed offset, batch after batch into one book; and when a checkpoint writes a
snapshot instead of a delta (streams.worker.state.Snapshots)."""

from __future__ import annotations

import orjson

from ledger.book import Book
from streams.worker.state import SNAPSHOT_HEADER, UPTO_HEADER, Restored, Snapshots, is_snapshot, restore_from


def record(delta: dict, upto: int | None) -> tuple[bytes, tuple]:
    headers = ((UPTO_HEADER, str(upto).encode()),) if upto is not None else ()
    return orjson.dumps(delta), headers


LOG = [
    record({"clock": {"now": 1.0}, "programmes": {"gpe": "buyer-sgp"}}, 10),
    record({"clock": {"now": 2.0}, "programmes": {"gpe-2": "buyer-b"}}, 20),
    record({"clock": {"now": 3.0}}, 35),  # written by a worker that died before committing 35
    record({"clock": {"now": 2.5}}, 30),  # its successor's, from the commit at 20
    record({"programmes": {"other": "buyer-c"}}, None),  # not the worker's: no upto
]


def test_deltas_up_to_the_committed_offset_are_applied_in_log_order():
    book, applied = restore_from(LOG, committed=30)
    assert applied == 3
    assert book.clock == {"now": 2.5} and book.programmes == {"gpe": "buyer-sgp", "gpe-2": "buyer-b"}


def test_a_delta_above_the_committed_offset_is_left_for_the_messages_decided_again():
    book, applied = restore_from(LOG, committed=20)
    assert applied == 2 and book.clock == {"now": 2.0}


def test_batches_applied_one_after_another_give_the_whole_log():
    whole, _ = restore_from(LOG, committed=40)
    book, total = Book(), 0
    for batch in (LOG[:1], LOG[1:3], LOG[3:]):
        book, applied = restore_from(batch, committed=40, book=book)
        total += applied
    assert total == 4 and book.snapshot() == whole.snapshot()
    assert book.clock == {"now": 2.5}  # the last delta in log order wins, whatever its upto


def test_a_snapshot_is_due_once_the_deltas_since_the_last_weigh_as_much_as_it():
    policy = Snapshots(min_bytes=100)
    policy.wrote(60, snapshot=False)
    assert not policy.due()  # under the minimum
    policy.wrote(40, snapshot=False)
    assert policy.due()
    policy.wrote(500, snapshot=True)  # the whole state
    assert (policy.last, policy.since) == (500, 0) and not policy.due()
    policy.wrote(499, snapshot=False)
    assert not policy.due()  # past the minimum, not yet the snapshot's weight
    policy.wrote(1, snapshot=False)
    assert policy.due()


def test_a_restored_log_counts_as_deltas_since_a_snapshot():
    """A worker that restored a long log writes a snapshot at its next checkpoints."""
    assert Snapshots(min_bytes=100, since=150).due()
    assert not Snapshots(min_bytes=100, since=50).due()


def test_a_snapshot_record_is_told_by_its_header():
    assert is_snapshot(((UPTO_HEADER, b"10"), (SNAPSHOT_HEADER, b"1")))
    assert not is_snapshot(((UPTO_HEADER, b"10"),)) and not is_snapshot(None)


def test_a_restore_counts_the_last_snapshot_and_the_deltas_after_it():
    """So that a worker which restored from a snapshot waits for as many deltas before the next
    (not a snapshot at its first commit), and one that read a long log without any writes one."""
    delta = ((UPTO_HEADER, b"1"),)
    snapshot = ((UPTO_HEADER, b"1"), (SNAPSHOT_HEADER, b"1"))
    restored = Restored(Book())
    restored.count([(b"x" * 7, delta), (b"x" * 50, snapshot), (b"x" * 40, snapshot), (b"x" * 5, delta)])
    restored.count([(b"x" * 3, delta)])
    assert (restored.snapshot_bytes, restored.since_snapshot, restored.bytes, restored.read) == (90, 8, 105, 5)
    restored.count([(b"x" * 30, snapshot), (b"x", delta)])  # a later snapshot
    assert (restored.snapshot_bytes, restored.since_snapshot) == (30, 1)
    assert not Snapshots(100, since=restored.since_snapshot, last=restored.snapshot_bytes).due()
    without = Restored(Book())
    without.count([(b"x" * 150, delta)])
    assert (without.snapshot_bytes, without.since_snapshot) == (0, 150)
    assert Snapshots(100, since=without.since_snapshot, last=without.snapshot_bytes).due()
