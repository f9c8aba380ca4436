"""The loader's pure parts, without a broker or a store: wire format, routing, batching, tokens."""

from __future__ import annotations

import json

import pytest

from streams.kafka.codec import (
    TABLE_HEADER,
    decode_records,
    encode_ledger,
    encode_rejection,
    ledger_rows,
    rejection_rows,
)
from streams.loader.app import Batcher, Message, batch_id
from streams.loader.sink import ClickHouseSink

ENTRY = {"record": "entry", "entry_id": "8f0c7a52-3c1e-4f57-9a43-1d8f0c2b9e61", "kind": "credit", "status": "counted",
         "reason": "", "source_event_id": "0b6f6f2e-3c0a-4c55-9b8f-0d0f4f7f5f11", "contract_id": "gpe-c001",
         "beneficiary_id": "b-1", "work_date": "2025-03-04", "hours": "7.50", "detail": "a \"quoted\" },{\"record\":\"x"}
CONTRACT = {"record": "contract", "event_id": "5b6f6f2e-3c0a-4c55-9b8f-0d0f4f7f5f11", "contract_id": "gpe-c001",
            "target_hours": "1000"}
PENDING = {"event_id": "1b6f6f2e-3c0a-4c55-9b8f-0d0f4f7f5f11", "record": "pending", "state": "pending"}


def test_encode_ledger_gives_one_table_per_message_with_its_header():
    messages = encode_ledger([ENTRY, CONTRACT, dict(ENTRY, entry_id="x"), PENDING])
    tables = [dict(headers)[TABLE_HEADER].decode() for _, headers in messages]
    # Pending records first: a released timesheet is not pending before it is accepted.
    assert tables == ["pending_timesheets", "ledger_entries", "contract_registrations"]
    entries = messages[1][0].split(b"\n")
    assert [json.loads(line) for line in entries] == [ENTRY, dict(ENTRY, entry_id="x")]
    # "record" first on every line, even when the dict put it elsewhere
    assert messages[0][0].startswith(b'{"record":"pending",')
    assert decode_records(messages[1][0]) == [ENTRY, dict(ENTRY, entry_id="x")]


def test_long_lists_are_cut_between_lines(monkeypatch):
    monkeypatch.setattr("streams.kafka.codec.MAX_MESSAGE_BYTES", 1000)
    records = [dict(ENTRY, entry_id=f"id-{n}") for n in range(20)]
    messages = encode_ledger(records)
    assert len(messages) > 1 and all(len(v) <= 1000 for v, _ in messages)
    assert [r for v, _ in messages for r in decode_records(v)] == records


def test_a_headed_message_passes_through_unchanged():
    (value, headers), = encode_ledger([ENTRY, ENTRY])
    assert ledger_rows(value, headers, version=7) == [("ledger_entries", value, 2)]


def test_reference_lines_get_the_offset_as_version():
    (value, headers), = encode_ledger([CONTRACT])
    (table, rows, n), = ledger_rows(value, headers, version=42)
    assert (table, n) == ("contract_registrations", 1)
    assert json.loads(rows) == dict(CONTRACT, version=42)


def test_todays_array_is_routed_without_decoding_and_anything_else_decoded():
    lines = [json.dumps(r, separators=(",", ":")).encode() for r in (ENTRY, ENTRY, CONTRACT)]
    compact = b"[" + b",".join(lines) + b"]"
    parts = {table: (rows, n) for table, rows, n in ledger_rows(compact, [], version=3)}
    assert parts["ledger_entries"] == (lines[0] + b"\n" + lines[1], 2)
    assert json.loads(parts["contract_registrations"][0]) == dict(CONTRACT, version=3)
    only_entries = b"[" + b",".join(lines[:2]) + b"]"
    assert ledger_rows(only_entries, None, version=0) == [("ledger_entries", lines[0] + b"\n" + lines[1], 2)]
    spaced = json.dumps([ENTRY, CONTRACT]).encode()  # another producer's JSON: decoded, then routed
    parts = {table: rows for table, rows, _ in ledger_rows(spaced, None, version=5)}
    assert json.loads(parts["ledger_entries"]) == ENTRY
    assert json.loads(parts["contract_registrations"]) == dict(CONTRACT, version=5)


def test_rejections_are_flattened_once_then_passed_through():
    rejection = {"rejection_id": "r1", "reason": "invalid_json", "detail": "x", "event_id": None, "event_type": None,
                 "position": {"topic": "t", "partition": 2, "offset": 9, "index": 1}, "payload": '{"source_offset": 1}',
                 "payload_truncated": False}
    value = encode_rejection(rejection)
    assert json.loads(value) == dict(rejection, source_topic="t", source_partition=2, source_offset=9, source_index=1)
    assert rejection_rows(value) == (value, 1)
    old = json.dumps(rejection).encode()  # today's rejection message: position only
    rows, n = rejection_rows(old)
    assert n == 1 and json.loads(rows)["source_offset"] == 9


def message(topic: str, partition: int, offset: int, rows: int = 1) -> Message:
    return Message((topic, partition), offset, [("ledger_entries", b"\n".join([b"{}"] * rows), rows)])


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_batches_are_bounded_by_rows_and_by_time():
    clock = Clock()
    batcher = Batcher(max_rows=10, max_seconds=1.0, clock=clock)
    for offset in range(4):
        batcher.add(message("l", 0, offset, rows=3))
    assert batcher.ready()  # 12 rows waiting
    batch = batcher.take()
    assert batch.rows == 9 and batch.ranges == {("l", 0): (0, 2)}  # never more than max_rows
    assert len(batcher) == 3 and not batcher.ready()
    clock.now = 1.0
    assert batcher.ready()
    assert batcher.take().ranges == {("l", 0): (3, 3)}


def test_a_single_message_above_the_bound_is_a_batch_of_its_own():
    batcher = Batcher(max_rows=10, max_seconds=1.0, clock=Clock())
    batcher.add(message("l", 0, 0, rows=25))
    assert batcher.ready() and batcher.take().rows == 25


def test_tokens_derive_from_the_ranges_only():
    a = {("l", 0): (10, 20), ("r", 1): (3, 3)}
    b = {("r", 1): (3, 3), ("l", 0): (10, 20)}
    assert batch_id(a) == batch_id(b) != batch_id({("l", 0): (10, 21), ("r", 1): (3, 3)})
    batcher = Batcher(max_rows=100, max_seconds=0, clock=Clock())
    batcher.add(message("l", 0, 10))
    batcher.add(Message(("r", 1), 3, [("rejections", b"{}", 1)]))
    assert batcher.take().tokens() == {"ledger_entries": f"ledger_entries:{batch_id({('l', 0): (10, 10), ('r', 1): (3, 3)})}",
                                       "rejections": f"rejections:{batch_id({('l', 0): (10, 10), ('r', 1): (3, 3)})}"}


def test_logged_batches_are_rebuilt_with_exactly_their_ranges():
    """After a restart the records come again, maybe in other poll sizes: the batches logged past
    the committed offsets are cut again exactly where they were, whatever arrives with them."""
    clock = Clock()
    batcher = Batcher(max_rows=1000, max_seconds=1.0, clock=clock)
    first = {("l", 0): (5, 7), ("l", 1): (2, 2)}
    second = {("l", 0): (8, 9)}
    batcher.rebuild([first, second])
    for offset in range(5, 12):
        batcher.add(message("l", 0, offset))
    assert not batcher.ready()  # partition 1's record has not come again yet
    clock.now = 5.0
    assert not batcher.ready()  # time does not cut a batch being rebuilt
    batcher.add(message("l", 1, 2))
    batcher.add(message("l", 1, 3))
    assert batcher.ready()
    one = batcher.take()
    assert one.rebuilt and one.ranges == first and sorted((m.tp, m.offset) for m in one.messages) == \
        [(("l", 0), 5), (("l", 0), 6), (("l", 0), 7), (("l", 1), 2)]
    two = batcher.take()
    assert two.ranges == second and [m.offset for m in two.messages] == [8, 9]
    rest = batcher.take()  # then normal batching of what waits
    assert not rest.rebuilt and rest.ranges == {("l", 0): (10, 11), ("l", 1): (3, 3)}


def test_rebuild_is_abandoned_when_it_cannot_be_identical():
    clock = Clock()
    batcher = Batcher(max_rows=1000, max_seconds=1.0, clock=clock)
    batcher.rebuild([{("l", 0): (5, 7)}])
    batcher.add(message("l", 0, 4))  # a record before the logged range: not the same batch
    assert not batcher.to_rebuild
    batcher.rebuild([{("l", 1): (5, 7)}])
    batcher.drop({("l", 1)})  # partition given to another loader
    assert not batcher.to_rebuild
    batcher.rebuild([{("l", 2): (5, 7)}])
    batcher.add(message("l", 2, 5))
    clock.now = 61.0  # the rest never comes again (retention)
    assert batcher.ready() and not batcher.to_rebuild
    assert {m.offset for m in batcher.take().messages} == {4, 5}


class FakeStore:
    def __init__(self):
        self.inserts = []

    def insert_json_rows(self, table, rows, token=None):
        self.inserts.append((table, rows, token))


def test_sink_writes_one_insert_per_table_with_its_token():
    store = FakeStore()
    sink = ClickHouseSink(store)
    sink.add_rows("ledger_entries", b'{"a":1}\n{"a":2}', 2)
    sink.add_rows("ledger_entries", b'{"a":3}', 1)
    sink.add_ledger_record(dict(CONTRACT), version=4)
    assert len(sink) == 4
    assert sink.flush({"ledger_entries": "t1", "contract_registrations": "t2"}) == 4
    assert store.inserts[0] == ("ledger_entries", b'{"a":1}\n{"a":2}\n{"a":3}', "t1")
    assert store.inserts[1][0] == "contract_registrations" and store.inserts[1][2] == "t2"
    assert json.loads(store.inserts[1][1]) == dict(CONTRACT, version=4)
    assert len(sink) == 0 and sink.flush() == 0


def test_sink_stores_pending_records_before_the_entries_of_their_release():
    store = FakeStore()
    sink = ClickHouseSink(store)
    sink.add_rows("ledger_entries", b'{"a":1}', 1)
    sink.add_rows("pending_timesheets", b'{"p":1}', 1)
    sink.flush()
    assert [table for table, _, _ in store.inserts] == ["pending_timesheets", "ledger_entries"]


@pytest.mark.parametrize("value", [b"", b"   "])
def test_empty_messages_give_no_rows(value):
    assert ledger_rows(value, None, version=0) == []


# -- the group's membership, as the loader sees it (streams.loader.app.Membership) ---------------------

class Ticks:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def tps(*partitions, topic="t.ledger"):
    from kafka import TopicPartition
    return {TopicPartition(topic, p) for p in partitions}


def test_membership_hands_over_each_change_once():
    from streams.loader.app import Membership
    m = Membership(clock=Ticks())
    m.on_partitions_assigned(tps(0, 1))
    m.on_partitions_revoked(tps(1))
    assert m.take() == ({("t.ledger", 1)}, {("t.ledger", 0), ("t.ledger", 1)})
    assert m.take() == (set(), set())
    assert m.assignments == 1


def test_a_member_left_without_an_assignment_is_stalled_after_the_bound():
    from streams.loader.app import Membership
    clock = Ticks()
    m = Membership(clock=clock)
    clock.now += 29
    assert not m.stalled(30)  # subscribed, the first join still under way
    clock.now += 2
    assert m.stalled(30)  # no assignment 31 s after subscribing
    m.on_partitions_assigned(tps(0))
    assert not m.stalled(30)
    m.on_partitions_revoked(tps(0))  # a rebalance starts...
    clock.now += 20
    assert not m.stalled(30)
    m.on_partitions_revoked(tps(0))  # ...and goes on: the clock runs from its start
    clock.now += 11
    assert m.stalled(30)
    m.on_partitions_assigned(set())  # more loaders than partitions: an empty assignment ends it too
    clock.now += 100
    assert not m.stalled(30)
