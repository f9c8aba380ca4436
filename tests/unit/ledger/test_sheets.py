"""The timesheet's fast reading (ledger.sheets.fast_sheet) never says more than the event contract.

The desk reads a `timesheet.submitted` of the usual shape with plain checks and leaves everything
else to pydantic. The fast path may decline what pydantic accepts (it then costs a validation), but
whatever it accepts pydantic must accept too, with the same values: otherwise a timesheet the
contract refuses would be counted, or one it accepts counted differently.
"""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.events import MAX_EVENT_BYTES, InvalidEvent, parse_event
from ledger.sheets import _moment, _other_moment, fast_sheet, key_marks, sheet_of
from tests.support.builders import PARTNER_SIRET, timesheet

# Each field's usual values and the near misses a sender writes by mistake.
FIELDS = {
    "event_id": st.sampled_from(["7c9e6679-7425-40de-944b-e07fc1f90ae7", "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
                                 "7c9e6679742540de944be07fc1f90ae7", "not-a-uuid", "", 7]),
    "schema_version": st.sampled_from([1, 2, "1", 1.0, None, True]),
    "contract_id": st.sampled_from(["gpe-c001", "c/2024:lot-3", "-c", "c" * 65, "c d", "", None]),
    "beneficiary_id": st.sampled_from(["b-3f9a1c2e7d", "b-" + "a" * 56, "b-1234567890123", "B-3f9a1c2e7d",
                                       "b-3f9a", "1234567890123", None]),
    "work_date": st.sampled_from(["2024-06-03", "2024-02-29", "2023-02-29", "1999-12-31", "2000-01-01",
                                  "2099-12-31", "2100-01-01", "2024-6-3", "2024-06-03T00:00:00", 20240603]),
    "hours": st.one_of(st.sampled_from([7.5, 8, 24, 24.0, 24.01, 0, 0.01, -1, 7.333, 1e-3, "7.5", True, None]),
                       st.integers(-5, 30), st.floats(allow_nan=True, allow_infinity=True)),
    "mode": st.sampled_from(["direct_hire", "temp_agency_etti", "siae_placement_ai", "siae_subcontract", "geiq",
                             "training", "Direct_hire", "", ["direct_hire"], None]),
    "siae_siret": st.sampled_from([None, PARTNER_SIRET, "44306184100048", "4430618410004", 44306184100047]),
    "hire_type": st.sampled_from([None, "permanent", "fixed_term", "apprenticeship", "Permanent", 1]),
    "hire_date": st.sampled_from([None, "2024-01-15", "2024-06-03", "2024-06-04", "2024-13-01", 20240115]),
    "submitted_at": st.sampled_from(["2024-06-03T18:00:00Z", "2024-06-03T18:00:00+00:00", "2024-06-03T18:00:00+02:00",
                                     "2024-06-03T18:00:00-00:00", "2024-06-03T18:00:00.123456Z",
                                     "2024-06-03T23:30:00-05:00", "2024-06-02T23:59:59Z", "2024-06-03 18:00:00Z",
                                     "2024-06-03T24:00:00Z", "2024-06-03", 1717430400]),
}


@st.composite
def timesheets(draw) -> bytes:
    """A timesheet with some fields changed, dropped or added, as the JSON bytes a sender posts."""
    event = timesheet(event_id="7c9e6679-7425-40de-944b-e07fc1f90ae7", submitted_at="2024-06-03T18:00:00Z")
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4, unique=True)):
        value = draw(FIELDS[name])
        if value is None and draw(st.booleans()):
            event.pop(name, None)
        else:
            event[name] = value
    if draw(st.integers(0, 9)) == 0:
        event[draw(st.sampled_from(["note", "type", "beneficiary_name"]))] = draw(
            st.sampled_from(["timesheet.corrected", "x", "timesheet.submitted"]))
    text = json.dumps(event)
    if draw(st.integers(0, 9)) == 0:  # a repeated key, which parsing would silently resolve
        text = text[:-1] + ', "hours": 9}'
    return text.encode()


@settings(max_examples=1500, deadline=None)
@given(timesheets())
def test_what_the_fast_reading_accepts_the_contract_accepts_with_the_same_values(raw):
    fast = fast_sheet(raw)
    try:
        event = parse_event(raw)
    except InvalidEvent as refused:
        assert fast is None, f"the fast reading accepted what the contract refuses ({refused.detail}): {raw!r}"
        return
    if fast is not None:
        sheet, sorted_json = fast
        assert sheet == sheet_of(event), raw
        # The desk's digest of the event's content reads these bytes: the same as before msgspec read it.
        assert sorted_json == orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS), raw


def test_the_usual_timesheets_take_the_fast_reading():
    """Not a test that passes by declining everything: the usual shapes are read fast."""
    usual = [timesheet(), timesheet(hours=8, submitted_at="2024-06-03T18:00:00Z"),
             timesheet(mode="temp_agency_etti", siae_siret=PARTNER_SIRET),
             timesheet(hire_type="permanent", hire_date="2024-01-15")]
    for event in usual:
        raw = json.dumps(event).encode()
        fast = fast_sheet(raw)
        assert fast is not None and fast[0] == sheet_of(parse_event(raw)), event


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=64), timesheets(),
                 timesheets().map(lambda raw: json.dumps(json.loads(raw), separators=(",", ":")).encode()),
                 st.lists(st.sampled_from([b'"', b":", b'":', b" ", b"\t", b"\n", b"\r", b"a", b"{", b"}"]),
                          max_size=40).map(b"".join)))
def test_key_marks_counts_as_if_the_whitespace_were_gone(raw):
    """Messages come compact or spaced: either way each key's `":` is found, so the routing's count of
    a message's keys sees a repeated one (`"hours" :9` after `"hours":7.5`)."""
    assert key_marks(raw) == raw.translate(None, b" \t\n\r").count(b'":')


def test_a_repeated_key_is_declined_in_a_compact_text_as_in_a_spaced_one():
    compact = json.dumps(timesheet(), separators=(",", ":"))
    spaced = json.dumps(timesheet())
    for text in (compact, compact[:-1] + ',"hours":9}', compact[:-1] + ',"hours" :9}', compact[:-1] + ',"hours"\n:9}',
                 spaced[:-1] + ', "hours": 9}', compact[:-1] + ',"ho\\u0075rs":9}',
                 compact[:-1] + ',"mode":"direct_hire"}', '{"hours":9,' + compact[1:],
                 compact.replace('"mode":', '"mode":"geiq","mode":')):
        raw = text.encode()
        fast = fast_sheet(raw)
        if text == compact:
            assert fast is not None and fast[0] == sheet_of(parse_event(raw))
        else:
            assert fast is None, text


def test_a_json_bomb_in_a_timesheet_is_declined_without_reading_it_through():
    """msgspec stops at the first field it cannot take (an unknown name, an array or an object where a
    string or a number is due): nesting as deep as an event may be long is declined, and pydantic
    says why."""
    head = json.dumps(timesheet())[:-1]
    for field in ("note", "hours", "contract_id"):
        for open_, close in (("[", "]"), ('{"a":', "}")):
            depth = (MAX_EVENT_BYTES - len(head) - 40) // (len(open_) + len(close))
            raw = f'{head}, "{field}": {open_ * depth}0{close * depth}}}'.encode()
            assert len(raw) <= MAX_EVENT_BYTES  # whole and well formed: each bracket closed
            assert fast_sheet(raw) is None and fast_sheet(raw, keys_unique=True) is None


def _near(text: str, alphabet: str):
    """`text` with a few characters changed, dropped or added."""
    edits = st.lists(st.tuples(st.integers(0, len(text)), st.sampled_from(["set", "drop", "add"]),
                               st.sampled_from(alphabet)), max_size=3)
    def apply(changes):
        out = text
        for at, how, char in changes:
            at = min(at, len(out))
            out = (out[:at] + char + out[at + 1:] if how == "set" else out[:at] + out[at + 1:] if how == "drop"
                   else out[:at] + char + out[at:])
        return out
    return edits.map(apply)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(_near("2024-06-03T18:07:09Z", "0123456789TZ:+-. \u0663"),
                 _near("2024-06-03T23:59:59+00:00", "0123456789TZ:+-"),
                 st.sampled_from(["2024-06-03T24:00:00Z", "2024-06-03T18:60:00Z", "2024-02-30T10:00:00Z",
                                  "2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])))
def test_a_utc_second_read_in_one_step_reads_as_the_general_parse_reads_it(text):
    """`_moment`'s step for the usual UTC second (its day cached, its hour, minute and second looked
    up) gives what `datetime.fromisoformat` does, for near misses too."""
    assert _moment(text) == _other_moment(text)
