"""The worker's state log read back (streams.worker.state.restore_from): deltas applied in log order
up to the committed offset, batch after batch into one book."""

from __future__ import annotations

import orjson

from ledger.book import Book
from streams.worker.state import UPTO_HEADER, restore_from


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
