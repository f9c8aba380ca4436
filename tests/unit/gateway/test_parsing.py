"""The gateway's reading of a body: its media type, one error per field of a refused event, and a
repeated JSON key refused on its line as the worker's parse_event does (issue 11)."""

from __future__ import annotations

import json

import pytest

from ledger.events import InvalidEvent, parse_event
from streams.gateway.parsing import CSV, JSON, NDJSON, field_errors, media_type, parse
from tests.support.builders import enrolment, timesheet

MESSAGE = 'duplicate key "{}" in a JSON object: each key must appear once'


def text_with(event: dict, extra: str) -> str:
    return json.dumps(event)[:-1] + extra + "}"


@pytest.mark.parametrize("extra, key", [(', "hours": 24', "hours"), (', "hours" \\n: 8', "hours"),
                                        (', "x": [{"a": 1, "a": 2}]', "a"), (', "x": {"y": {"b": 1, "b" : 1}}', "b")])
def test_a_repeated_key_is_refused_on_its_line(extra, key):
    extra = extra.replace("\\n", "\n")
    good, bad = json.dumps(enrolment()), text_with(timesheet(), extra)
    lines, errors = parse(f"[{good}, {bad}]".encode(), JSON, single=False, max_lines=10)
    assert [line.line for line in lines] == [1]
    assert [(e.line, e.reason, e.message) for e in errors] == [(2, "invalid_json", MESSAGE.format(key))]
    lines, errors = parse(f"{good}\n{bad.replace(chr(10), ' ')}\n".encode(), NDJSON, single=False, max_lines=10)
    assert [line.line for line in lines] == [1] and [(e.line, e.reason) for e in errors] == [(2, "invalid_json")]
    lines, errors = parse(bad.encode(), JSON, single=True, max_lines=1)
    assert not lines and errors[0].message == MESSAGE.format(key)


def test_an_event_without_repeated_keys_goes_through_as_before():
    lines, errors = parse(json.dumps([timesheet(), enrolment()]).encode(), JSON, single=False, max_lines=10)
    assert not errors and [line.event.type for line in lines] == ["timesheet.submitted", "beneficiary.enrolled"]


@pytest.mark.parametrize("header, kind", [
    ("application/json", JSON), ("Application/JSON; charset=utf-8", JSON), ("application/jsonl", NDJSON),
    ("application/x-jsonlines", NDJSON), ("application/x-ndjson", NDJSON), ("text/csv; header=present", CSV),
    (None, ""), ("", ""), ("text/plain", "text/plain")])
def test_the_media_type_is_read_without_its_parameters_and_jsonl_aliases_are_one(header, kind):
    assert media_type(header) == kind


def refusal(event: dict) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as refused:
        parse_event(json.dumps(event).encode())
    return refused.value


def test_a_refused_event_gets_one_error_per_field_on_its_line():
    event = dict(timesheet(), hours=25, work_date="2024-13-01")
    errors = field_errors(7, event, refusal(event))
    assert {(e.line, e.field, e.reason) for e in errors} == {(7, "hours", "invalid_event"),
                                                             (7, "work_date", "invalid_event")}
    assert any("less than or equal to 24" in e.message for e in errors)


def test_an_unknown_type_is_an_error_on_the_type_field():
    event = dict(timesheet(), type="timesheet.submited")
    errors = field_errors(1, event, refusal(event))
    assert [(e.field, e.reason) for e in errors] == [("type", "invalid_event")]
