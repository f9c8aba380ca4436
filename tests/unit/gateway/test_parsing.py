"""The gateway refuses a repeated JSON key on its line, as the worker's parse_event does (issue 11)."""

from __future__ import annotations

import json

import pytest

from streams.gateway.parsing import JSON, NDJSON, parse
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
