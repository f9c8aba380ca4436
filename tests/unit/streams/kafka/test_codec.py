"""The ledger topic's messages: one table per message, under the size the broker takes, pending
records before the entries they release."""

from __future__ import annotations

import json

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
