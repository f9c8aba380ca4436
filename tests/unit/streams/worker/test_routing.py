"""Routing (streams.worker.routing): which partition decides each event of an intake message, and
the routed batch format that carries them there exactly as they were posted."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

from ledger.book import Book
from ledger.desk import Desk
from ledger.registry import key_of
from ledger.rulebook import Rulebook
from streams.worker.routing import (
    _split,
    events_of,
    has_duplicate_keys,
    lines,
    origin,
    pack,
    parse_origin,
    partition_of,
    route,
)
from tests.support.builders import contract, enrolment, programme, raw, timesheet

STAMP_MS = 1_717_437_600_123


def routed(value: bytes, partition: int = 0, partitions: int = 8, offset: int = 41,
           stamp_ms: int | None = STAMP_MS) -> list[tuple[int, str, float | None, bytes]]:
    """Every routed record as (target partition, origin, stream time, event bytes), in array order."""
    out = []
    for target, batch in route(value, "intake", partition, offset, stamp_ms, partitions).items():
        out += [(target, *record) for record in lines(bytes(batch))]
    return sorted(out, key=lambda r: parse_origin(r[1])["index"])


# ---------------------------------------------------------------------------------------------- events_of

def test_events_of_an_array(ev):
    one, two = ev.timesheet(), ev.enrolment()
    items = events_of(b"  \n" + ev.raw([one, two]))
    assert items is not None and len(items) == 2
    assert [json.loads(item) for item in items] == [one, two]
    assert all(isinstance(item, bytes) for item in items)


@pytest.mark.parametrize("value", [b'{"type": "timesheet.submitted"}', b"  {}", b"42", b'"text"', b"null",
                                   b"not json", b"", b"\xff\xfe"])
def test_events_of_a_single_message_is_none(value):
    assert events_of(value) is None


def test_events_of_a_broken_array_is_left_to_the_validator():
    assert events_of(b'[{"type": "timesheet.submitted"},') is None
    (record,) = routed(b'[{"type": "timesheet.submitted"},', partition=3)
    assert record == (3, "intake/3@41#0", STAMP_MS / 1000, b'[{"type": "timesheet.submitted"},')


def test_events_of_an_empty_array():
    assert events_of(b"[]") == []
    assert route(b"[]", "intake", 0, 0, None, 4) == {}  # no event: nothing to decide


def test_events_of_keeps_what_orjson_cannot_read_for_the_validator():
    # An integer past 64 bits, NaN: Python's parser reads them; each item is written back as it holds.
    items = events_of(b'[{"n": 123456789012345678901234567890}, {"x": NaN}]')
    assert items == [b'{"n":123456789012345678901234567890}', b'{"x":NaN}']


def test_events_of_keeps_a_repeated_key():
    items = events_of(b'[{"hours": 1, "hours": 24}, {"a": {"b": 1, "b": 2}}]')
    assert items == [b'{"hours":1,"hours":24}', b'{"a":{"b":1,"b":2}}']


# ------------------------------------------------------------------------------------------- route, lines

@settings(max_examples=500)
@given(st.binary(max_size=300), st.integers(0, 63), st.integers(1, 64), st.integers(0, 2**40),
       st.none() | st.integers(1, 2**45))
@example(b"\r0", 0, 1, 0, None)  # found by hypothesis: one JSON value with whitespace around it
@example(b' {"type": "x"}\n', 2, 4, 9, 1)
def test_any_bytes_that_are_not_an_array_travel_as_they_were_posted(value, partition, partitions, offset, stamp):
    if events_of(value) is not None:  # an array of items (rare here): see the other tests
        return
    records = routed(value, partition, partitions, offset, stamp)
    assert len(records) == 1
    ((target, where, stream_time, data),) = records
    assert where == origin("intake", partition, offset, 0)
    assert stream_time == (stamp / 1000 if stamp else None)
    try:
        json.loads(value)
        is_json = True
    except (ValueError, RecursionError):
        is_json = False
    # Not JSON: exactly as posted (the rejection's payload); JSON: its surrounding whitespace taken off.
    assert data == (value.strip() if is_json else value)
    if not is_json:
        assert target == partition % partitions


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200) | st.just(raw(timesheet())), max_size=8), st.integers(0, 2**40))
def test_a_batch_of_records_reads_back_exactly(values, stamp):
    batch = b"".join(pack(origin("intake", 7, 100 + n, n), stamp, v) for n, v in enumerate(values))
    assert lines(batch) == [(origin("intake", 7, 100 + n, n), stamp / 1000 if stamp else None, v)
                            for n, v in enumerate(values)]


def test_a_message_with_a_timestamp_of_none_has_no_stream_time():
    ((_, _, stream_time, _),) = routed(raw(timesheet()), stamp_ms=None)
    assert stream_time is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300)
@given(st.lists(json_values, max_size=6), st.integers(0, 15), st.integers(1, 16))
def test_an_arrays_items_are_routed_one_by_one_in_order(items, partition, partitions):
    value = json.dumps(items).encode()
    records = routed(value, partition, partitions)
    assert [json.loads(r[3]) for r in records] == items
    assert [r[1] for r in records] == [origin("intake", partition, 41, n) for n in range(len(items))]
    for (target, _, _, _), item in zip(records, items):
        key = key_of(item)
        assert target == (partition_of(key, partitions) if key is not None else partition % partitions)


def test_an_arrays_items_go_to_the_partition_of_their_key():
    people = [f"b-{n:010x}" for n in range(20)]
    items = [timesheet(beneficiary_id=p) for p in people] + [contract(), programme()]
    records = routed(raw(items), partition=0, partitions=8)
    keys = [f"person:{p}" for p in people] + ["reference:gpe-c001", "reference:gpe"]
    assert [r[0] for r in records] == [partition_of(k, 8) for k in keys]
    assert len({r[0] for r in records}) > 1  # the people really are spread
    assert [json.loads(r[3]) for r in records] == items
    # A person's events all go to one partition, whatever partition they were posted to.
    for read_from in range(8):
        ((target, *_),) = routed(raw(enrolment(beneficiary_id=people[0])), partition=read_from)
        assert target == partition_of(f"person:{people[0]}", 8)


def test_partition_of_is_kafkas_default_partitioner():
    for key in ["person:b-3f9a1c2e7d", "reference:gpe", "", "é"]:
        assert partition_of(key, 12) == (murmur2(key.encode()) & 0x7FFFFFFF) % 12


@pytest.mark.parametrize("item", [
    {"type": "no.such.type", "beneficiary_id": "b-3f9a1c2e7d"},
    {"type": "timesheet.submitted"},  # no key
    {"type": "timesheet.submitted", "beneficiary_id": ""},
    {"type": "timesheet.submitted", "beneficiary_id": 42},
    {"beneficiary_id": "b-3f9a1c2e7d"},  # no type
    42, "text", None, [1, 2],
])
def test_an_unkeyable_item_stays_on_its_read_partition(item):
    keyed = timesheet()
    records = routed(raw([keyed, item]), partition=13, partitions=8)
    assert [r[0] for r in records] == [partition_of("person:b-3f9a1c2e7d", 8), 13 % 8]
    assert json.loads(records[1][3]) == item
    alone = routed(raw(item), partition=13, partitions=8)  # alone, the same (an array: each of its items)
    assert {target for target, *_ in alone} == {5}


def test_repeated_keys_stay_in_the_routed_bytes_so_the_validator_refuses_them():
    sheet = raw(timesheet(hours=1)).replace(b'"hours": 1', b'"hours": 1, "hours": 24')
    assert has_duplicate_keys(sheet)
    desk = Desk(Book(), Rulebook())
    for value in (sheet, b"[" + sheet + b"]", b'[{"a": 1}, ' + sheet + b"]"):
        records = routed(value)
        event = records[-1][3]
        assert event.count(b'"hours"') == 2 and has_duplicate_keys(event)
        (outcome,) = desk.decide(event, records[-1][1])
        assert outcome.rejection["reason"] == "invalid_json"
        assert outcome.rejection["detail"].startswith('duplicate key "hours"')
    # The key is read from the item as a whole (the last beneficiary_id, as orjson reads it).
    two = raw(timesheet(beneficiary_id="b-1111111111")).replace(
        b'"beneficiary_id": "b-1111111111"', b'"beneficiary_id": "b-1111111111", "beneficiary_id": "b-2222222222"')
    ((target, _, _, event),) = routed(b"[" + two + b"]", partitions=64)
    assert event.count(b"beneficiary_id") == 2 and target in {partition_of("person:b-1111111111", 64),
                                                            partition_of("person:b-2222222222", 64)}


def test_the_routing_vouches_for_the_keys_of_items_it_wrote_back_and_for_nothing_else():
    """`route(...).keys_unique` (sent as the routed batch's `ledger-keys: unique` header) is what
    lets the deciding side skip counting an event's keys: true only when every event carried was
    written back from its parsed object, so that none can repeat a key."""
    sheet = raw(timesheet(hours=1))
    repeated = sheet.replace(b'"hours": 1', b'"hours": 1, "hours": 24')
    compact = json.dumps([timesheet(), enrolment()], separators=(",", ":")).encode()
    vouched = [b"[" + sheet + b"]", raw([timesheet(), enrolment(), contract()]), b"[1, {}, []]",
               b'[{"a": {"b": 1}}]', b'[{"n": 123456789012345678901234567890}]', compact.replace(b",", b", ", 1)]
    for value in vouched:
        assert route(value, "intake", 0, 0, None, 4).keys_unique, value
    # A compact array is cut as it was posted (_split), never written back: its items may repeat a key.
    for value in [sheet, repeated, b"[" + repeated + b"]", b'[{"a": 1}, {"a": {"b": 1, "b": 2}}]', compact,
                  compact.replace(b'"hours":', b'"hours":1,"hours":'), b"not json", b"[", b"[]" * 2, b"42"]:
        assert not route(value, "intake", 0, 0, None, 4).keys_unique, value
    # Those it vouches for, and those it does not, are decided as if the desk counted the keys itself.
    for value in vouched + [b"[" + repeated + b"]", compact, compact.replace(b'"hours":', b'"hours":1,"hours":')]:
        batches = route(value, "intake", 0, 0, None, 1)
        for where, _, event in lines(bytes(batches.get(0, b""))):
            checked = Desk(Book(), Rulebook()).decide(event, where)
            trusted = Desk(Book(), Rulebook()).decide(event, where, keys_unique=batches.keys_unique)
            assert [(o.state, o.rejection, o.entries) for o in trusted] == \
                [(o.state, o.rejection, o.entries) for o in checked]


# ------------------------------------------------------------------------------ compact arrays, cut as posted

def test_a_compact_array_is_cut_into_its_items_as_they_were_posted():
    items = [timesheet(hours=7.5), enrolment(), contract()]
    value = json.dumps(items, separators=(",", ":")).encode().replace(b'"hours":7.5', b'"hours":7.50')
    assert _split(value) is not None
    records = routed(value, partitions=8)
    cut = [r[3] for r in records]
    assert b"[" + b",".join(cut) + b"]" == value  # each item's bytes exactly as posted, 7.50 and all
    assert b'"hours":7.50' in cut[0]
    assert [json.loads(r) for r in cut] == items
    assert [r[0] for r in records] == [partition_of(key_of(i), 8) for i in items]
    assert events_of(value) == cut


@pytest.mark.parametrize("value", [
    b'[{"type":"timesheet.submitted", "beneficiary_id":"b-3f9a1c2e7d"}]',  # whitespace
    b'[{"type":"timesheet.submitted",\n"beneficiary_id":"b-3f9a1c2e7d"}]',
    '[{"type":"timesheet.submitted","beneficiary_id":"b-3f9a1c2e7d","note":"\u00e9t\u00e9"}]'.encode(),  # not ASCII
    b'[{"type":"timesheet.submitted","beneficiary_id":"b-3f9a1c2e7d","note":"\\u00e9"}]',  # an escape
    b'[{"type":"timesheet.submitted","beneficiary_id":"b-3f9a1c2e7d"},42]',  # an item that is no object
    b'[{"x":NaN}]', b'{"type":"timesheet.submitted"}', b'[{"a":1},', b"[" * 2000 + b"]" * 2000,
])
def test_any_other_message_is_parsed_and_its_items_written_back(value):
    assert _split(value) is None


# JSON values written compact in ASCII without a backslash or whitespace: what _split cuts. (Integers
# within 64 bits: orjson reads one below -2**63 as a float, which the item written back then holds;
# cut as posted, it keeps its digits.)
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'), max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "b", "type"]), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=300)
@given(st.lists(st.dictionaries(st.sampled_from(["type", "beneficiary_id", "contract_id", "programme_id",
                                                 "agreement_id", "hours", "x"]),
                                plain_values | st.sampled_from(["timesheet.submitted", "contract.registered",
                                                                "programme.defined", "pooling.agreed",
                                                                "b-3f9a1c2e7d", ""])), max_size=6),
       st.integers(0, 15), st.integers(1, 16))
def test_cut_as_posted_or_written_back_an_arrays_items_go_to_the_same_partitions(items, partition, partitions):
    """The two ways of reading an array agree: the same items (once parsed), in order, each routed
    to the partition of the key `key_of` reads in it."""
    value = json.dumps(items, separators=(",", ":")).encode()
    assert _split(value) is not None  # cut as posted; with a space after it, parsed and written back
    written_back = [(target, json.loads(raw)) for target, _, _, raw in routed(value + b" ", partition, partitions)]
    cut = [(target, json.loads(raw)) for target, _, _, raw in routed(value, partition, partitions)]
    assert cut == written_back
    assert [item for _, item in cut] == items


# ---------------------------------------------------------------------------------------- duplicate keys

@pytest.mark.parametrize("value", [
    b'{"a": 1, "a": 2}',
    b'{"a": 1, "a" : 1}',
    b'{"x": {"a": 1, "a": 2}}',
    b'[{"a": 1}, {"b": 1, "b": 2}]',
    b'{"a": "\\":", "a": 1}',  # a `":` inside a string does not hide the repeat
    b'{"a\\":": 1, "a\\":": 2}',
    b'[[{"k": [1, {"z": 0, "z": 0}]}]]',
])
def test_has_duplicate_keys_true(value):
    assert has_duplicate_keys(value)


@pytest.mark.parametrize("value", [
    b'{"a": 1, "b": 2}',
    b'{"a": "b\\": c"}',  # `":` inside a string: more matches than keys, but no repeat
    b'{"a": "\\":\\":\\":"}',
    b'["x\\":y", "\\":"]',
    b'{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}',  # the same key in different objects
    b'{"A": 1, "a": 2}',
    b"[]", b"{}", b"42", b'"\\":"',
    b"not json", b'{"a": 1, "a": 2',  # not JSON: the validator says why
])
def test_has_duplicate_keys_false(value):
    assert not has_duplicate_keys(value)


# ----------------------------------------------------------------------------------------------- origins

@given(st.from_regex(r"[a-zA-Z0-9._-]{1,40}", fullmatch=True), st.integers(0, 10_000), st.integers(0, 2**62),
       st.integers(0, 100_000))
def test_origin_round_trip(topic, partition, offset, index):
    assert parse_origin(origin(topic, partition, offset, index)) == {
        "topic": topic, "partition": partition, "offset": offset, "index": index}


def test_origin_text():
    assert origin("intake", 2, 41, 3) == "intake/2@41#3"
    assert origin("intake", 0, 0) == "intake/0@0#0"
