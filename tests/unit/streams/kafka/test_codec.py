"""The ledger topic's messages: one table per message, under the size the broker takes, pending
records before the entries they release."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.kafka.codec import (MAX_MESSAGE_BYTES, TABLE_HEADER, TABLE_OF_RECORD, encode_ledger, encode_lines,
                                 encode_record, loading_order)


def test_a_record_is_one_compact_json_line_with_its_kind_first():
    line = encode_record({"hours": "7.50", "record": "entry", "note": "a\nb"})
    assert line == b'{"record":"entry","hours":"7.50","note":"a\\nb"}'
    assert b"\n" not in line and json.loads(line) == {"record": "entry", "hours": "7.50", "note": "a\nb"}


def test_pending_records_are_loaded_before_the_entries_they_release():
    tables = ["ledger_entries", "contract_registrations", "pending_timesheets", "claim_resolutions"]
    assert loading_order(tables) == ["pending_timesheets", "ledger_entries", "contract_registrations",
                                     "claim_resolutions"]
    assert loading_order(["ledger_entries"]) == ["ledger_entries"]


def test_lines_become_one_message_per_table_each_under_the_limit():
    entry = b'{"record":"entry","pad":"' + b"x" * 100_000 + b'"}'
    lines = [("entry", entry)] * 20 + [("pending", b'{"record":"pending"}'), ("contract", b'{"record":"contract"}')]
    messages = encode_lines(lines)
    tables = [dict(headers)[TABLE_HEADER].decode() for _, headers in messages]
    # pending first, then the others in the order they first appear; the entries cut in parts
    assert tables[0] == "pending_timesheets" and tables[-1] == "contract_registrations"
    assert set(tables[1:-1]) == {"ledger_entries"} and len(tables) - 2 == -(-20 * (len(entry) + 1) // MAX_MESSAGE_BYTES)
    assert all(len(value) <= MAX_MESSAGE_BYTES for value, _ in messages)
    # nothing lost, nothing repeated, order kept within a table
    entries = [line for value, headers in messages if dict(headers)[TABLE_HEADER] == b"ledger_entries"
               for line in value.split(b"\n")]
    assert entries == [entry] * 20


def test_every_record_kind_has_a_table_and_encode_ledger_names_it():
    records = [{"record": kind, "id": n} for n, kind in enumerate(TABLE_OF_RECORD)]
    messages = encode_ledger(records)
    assert sorted(dict(h)[TABLE_HEADER].decode() for _, h in messages) == sorted(TABLE_OF_RECORD.values())


def _messages_line_by_line(lines: list[bytes]) -> list[bytes]:
    """The cut as it was made line by line until 2026-12-05: a line goes in while the message's
    lines, each with a newline, stay within MAX_MESSAGE_BYTES; a longer line alone."""
    out, part, size = [], [], 0
    for line in lines:
        if part and size + len(line) + 1 > MAX_MESSAGE_BYTES:
            out.append(b"\n".join(part))
            part, size = [], 0
        part.append(line)
        size += len(line) + 1
    if part:
        out.append(b"\n".join(part))
    return out


_sizes = st.sampled_from([0, 1, 2, 100, MAX_MESSAGE_BYTES // 3, MAX_MESSAGE_BYTES // 2 - 1, MAX_MESSAGE_BYTES // 2,
                          MAX_MESSAGE_BYTES - 2, MAX_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 5])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(TABLE_OF_RECORD)), _sizes), max_size=12))
def test_records_are_cut_into_messages_as_line_by_line(specs):
    """encode_ledger groups records by table (pending first) and cuts each table's lines by bisection
    over their running size: the same messages as `encode_lines` over the records' lines, and as
    the line-by-line cut, at every boundary (a line of the limit alone, one byte under, over)."""
    records = [{"record": kind, "n": n, "pad": "x" * size} if n % 3 else {"n": n, "record": kind, "pad": "x" * size}
               for n, (kind, size) in enumerate(specs)]  # its kind first, or not (written first all the same)
    messages = encode_ledger(records)
    assert messages == encode_lines((r["record"], encode_record(r)) for r in records)
    by_table: dict[bytes, list[bytes]] = {}
    for record in records:
        by_table.setdefault(TABLE_OF_RECORD[record["record"]].encode(), []).append(encode_record(record))
    for table, lines in by_table.items():
        assert [value for value, headers in messages if dict(headers)[TABLE_HEADER] == table] == \
            _messages_line_by_line(lines)


@settings(max_examples=300, deadline=None)
@given(st.lists(_sizes | st.integers(0, 3000), max_size=10))
def test_a_table_s_lines_are_cut_as_line_by_line_at_every_boundary(sizes):
    from streams.kafka.codec import _messages

    lines = [bytes([65 + n % 26]) * size for n, size in enumerate(sizes)]
    assert [value for value, _ in _messages("ledger_entries", lines)] == _messages_line_by_line(lines)
