"""Hostile input, end to end without a broker (issue 11): generated JSON and CSV bodies through the
gateway's parsing, then whatever it lets through (and the raw bodies themselves, as a client posting
straight to Kafka would send them) through the worker's routing and decision. Nothing raises, every
line gets exactly one outcome at the gateway, and every event exactly one at the worker, none of
them a processing error (a defect of ours, not the sender's)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.rulebook import Rulebook
from streams.gateway.parsing import CSV, NDJSON, BodyError, parse
from streams.worker.processor import PartitionProcessor
from streams.worker.routing import EVENTS, events_of, route
from tests.support import builders

FIELDS = ["type", "event_id", "schema_version", "contract_id", "beneficiary_id", "work_date", "hours", "mode",
          "submitted_at", "siae_siret", "hire_type", "hire_date", "original_event_id", "reason", "criteria",
          "facilitator_id", "eligible_from", "buyer_id", "programme_id", "operation_id", "lot",
          "contractor_siret", "start_date", "end_date", "target_hours"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["2024-06-03", "9999-12-31", "0001-01-01", "b-3f9a1c2e7d",
                                                           "gpe-c001", "timesheet.submitted", "=HYPERLINK(1)",
                                                           "\u202e", "jean@dupont.fr", "1850578006084"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5),
                           max_leaves=12)
BUILDERS = [builders.timesheet, builders.enrolment, builders.contract, builders.invoice, builders.outcome,
            builders.programme, builders.pooling]


@st.composite
def events(draw) -> dict | object:
    """A valid event with a few fields changed, dropped or added; or any JSON value."""
    if draw(st.booleans()):
        return draw(json_values)
    event = draw(st.sampled_from(BUILDERS))()
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(json_values)
    return event


def jsonl(items: list, junk: list[str]) -> bytes:
    lines = [json.dumps(i) for i in items] + junk
    return "\n".join(lines).encode()


def cell_text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def csv_body(rows: list[dict], header: list[str]) -> bytes:
    def cell(v):
        text = cell_text(v)
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text

    return ("\n".join([",".join(header)] + [",".join(cell(r.get(h, "")) for h in header) for r in rows])).encode()


def worker() -> PartitionProcessor:
    processor = PartitionProcessor(Rulebook())
    for reference in (builders.contract(), builders.enrolment()):
        processor.process(EVENTS, bytes(route(json.dumps(reference).encode(), "intake", 0, 0, None, 1)[0]), None)
    return processor


def decide_each(processor: PartitionProcessor, values: list[bytes], base: int) -> None:
    """Every message decided: one outcome for each event it carries, none a processing error."""
    for n, value in enumerate(values):
        carried = events_of(value)
        expected = 1 if carried is None else len(carried)
        outcomes = []
        for batch in route(value, "intake", 0, base + n, None, 1).values():
            outcomes += [o for o in processor.process(EVENTS, bytes(batch), None).outcomes
                         if o.origin.startswith(f"intake/0@{base + n}#")]
        assert len(outcomes) == expected, (value[:200], outcomes)
        assert all(o.rejection is None or o.rejection["reason"] != "processing_error" for o in outcomes), outcomes


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(events(), max_size=6), st.lists(st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
                                                  max_size=3))
def test_jsonl_bodies_get_one_outcome_per_line_at_the_gateway_and_per_event_at_the_worker(items, junk):
    body = jsonl(items, junk)
    try:
        lines, errors = parse(body, NDJSON, single=False, max_lines=1000)
    except BodyError:
        return  # the body as a whole is refused (not UTF-8, too many lines): nothing reaches Kafka
    numbered = body.decode("utf-8", "replace").split("\n")
    accepted, refused = {line.line for line in lines}, {e.line for e in errors}
    assert not accepted & refused  # a line is posted or refused, never both
    assert accepted | refused == {n for n, text in enumerate(numbered, start=1) if text.strip()}
    processor = worker()
    decide_each(processor, [line.value for line in lines], base=1)
    # The same body straight to Kafka (no gateway): each line a message, decided all the same.
    decide_each(processor, [text.encode() for text in numbered if text.strip()], base=10_000)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(events(), min_size=1, max_size=5),
       st.lists(st.sampled_from(FIELDS), min_size=1, max_size=10))
def test_csv_bodies_get_one_outcome_per_row(items, header):
    rows = [i for i in items if isinstance(i, dict)]
    body = csv_body(rows, header)
    try:
        lines, errors = parse(body, CSV, single=False, max_lines=1000)
    except BodyError:
        return
    accepted, refused = {line.line for line in lines}, {e.line for e in errors}
    assert not accepted & refused
    rendered = body.decode().split("\n")[1:]
    # A value holding a line break is quoted across lines (split by line, no line holds one): then
    # rows and lines differ. Hypothesis found a `type` of "\n".
    multiline = any(c in cell_text(row.get(h, "")) for row in rows for h in header for c in "\n\r")
    if len(set(header)) == len(header) and not multiline:
        # (a repeated column refuses the header, line 1, and so the body; a blank row is skipped)
        assert accepted | refused >= {n for n, row in enumerate(rendered, start=2) if row.strip(", ")}
    decide_each(worker(), [line.value for line in lines], base=1)
