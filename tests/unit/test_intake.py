"""The intake desk: one decision per delivery, deterministic ids, duplicates and malformed bytes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from uuid import UUID

import pytest

from ledger.entries import RETRYABLE, EntryKind, EntryStatus, PendingState, Position, Reason, rejection_id
from ledger.intake import MAX_KEPT_PAYLOAD, Desk, MemoryBooks, decide, decide_all, split_message
from ledger.rulebook import Rulebook

RULEBOOK = Rulebook()


def at(offset: int, partition: int = 0, index: int = 0) -> Position:
    return Position(topic="ledger.events", partition=partition, offset=offset, index=index)


def loaded_books(ev, contract_changes=None, enrolment_changes=None) -> MemoryBooks:
    """Books holding one programme, one contract (2024) and one beneficiary (from 2024-03-15)."""
    books = MemoryBooks()
    for offset, event in enumerate([ev.programme(), ev.contract(**(contract_changes or {})),
                                    ev.enrolment(**(enrolment_changes or {}))]):
        decision = decide(ev.raw(event), at(offset, partition=9), books, RULEBOOK)
        assert decision.accepted and decision.entries == () and decision.rejection is None
    return books


def test_position_text():
    assert str(Position(topic="t", partition=2, offset=41, index=3)) == "t/2@41#3"
    assert str(Position(topic="t", partition=0, offset=0)) == "t/0@0#0"


def test_reference_events_are_accepted_and_kept(ev):
    books = MemoryBooks()
    contract, enrolment = ev.contract(), ev.enrolment()
    first = decide(ev.raw(contract), at(0), books, RULEBOOK)
    second = decide(ev.raw(enrolment), at(1), books, RULEBOOK)
    assert first.accepted and first.entries == () and str(first.event.event_id) == contract["event_id"]
    assert second.accepted and second.entries == () and second.pending is None
    assert books.contract("gpe-c001").contractor_siret == "73282932000074"
    assert books.beneficiary("b-3f9a1c2e7d").eligible_from == dt.date(2024, 3, 15)
    assert books.memo(UUID(contract["event_id"])).at == "ledger.events/0@0#0"
    assert books.memo(UUID(enrolment["event_id"])).at == "ledger.events/0@1#0"


@pytest.mark.parametrize("kind", ["programme", "pooling", "outcome"])
def test_other_reference_events_are_accepted_without_entries(ev, kind):
    books = MemoryBooks()
    event = getattr(ev, kind)()
    decision = decide(ev.raw(event), at(0), books, RULEBOOK)
    assert decision.accepted and decision.entries == () and decision.rejection is None
    assert str(decision.event.event_id) == event["event_id"]
    assert books.memo(UUID(event["event_id"])).at == "ledger.events/0@0#0"


def test_accepted_timesheet_credits_every_party(ev):
    books = loaded_books(ev, contract_changes={"operation_id": "L16", "lot": "GC-07", "programme_id": "gpe"})
    timesheet = ev.timesheet(mode="temp_agency_etti", siae_siret=ev.PARTNER_SIRET, hours=7.5,
                             work_date="2024-06-03", submitted_at="2024-06-04T08:30:00+02:00")
    decision = decide(ev.raw(timesheet), at(10), books, RULEBOOK)
    assert decision.accepted and decision.rejection is None and decision.pending is None
    (entry,) = decision.entries
    assert entry.kind.value == "credit"
    assert entry.status is EntryStatus.COUNTED and entry.counts and entry.reason == ""
    assert entry.source_event_type == "timesheet.submitted" and entry.reverses_entry_id is None
    assert entry.source_event_id == UUID(timesheet["event_id"])
    assert entry.contract_id == "gpe-c001"
    assert entry.operation_id == "L16"
    assert entry.lot == "GC-07"
    assert entry.programme_id == "gpe"
    assert entry.contractor_siret == "73282932000074"
    assert entry.beneficiary_id == "b-3f9a1c2e7d"
    assert entry.siae_siret == "44306184100047"
    assert entry.mode == "temp_agency_etti"
    assert entry.work_date == dt.date(2024, 6, 3)
    assert entry.hours == Decimal("7.5")
    assert entry.rule == "eligible_on_contract"
    assert entry.rulebook_version == "2026.1"
    assert entry.submitted_at == dt.datetime(2024, 6, 4, 6, 30, tzinfo=dt.timezone.utc)
    assert entry.record == "entry"


def test_direct_hire_entry_has_no_partner(ev):
    books = loaded_books(ev)
    decision = decide(ev.raw(ev.timesheet(mode="direct_hire")), at(10), books, RULEBOOK)
    (entry,) = decision.entries
    assert entry.siae_siret is None and entry.mode == "direct_hire"


def test_entry_id_is_deterministic(ev):
    timesheet = ev.raw(ev.timesheet())
    # Same event decided in two independent workers, at different positions: one id.
    (one,) = decide(timesheet, at(10), loaded_books(ev), RULEBOOK).entries
    (two,) = decide(timesheet, at(777, partition=3), loaded_books(ev), RULEBOOK).entries
    assert one.entry_id == two.entry_id
    assert one.entry_id.version == 5  # derived (uuid5), never drawn at random
    assert one.entry_id != one.source_event_id
    (other,) = decide(ev.raw(ev.timesheet()), at(11), loaded_books(ev), RULEBOOK).entries
    assert other.entry_id != one.entry_id


def test_duplicate_at_another_position_is_rejected(ev):
    books = loaded_books(ev)
    timesheet = ev.timesheet()
    first = decide(ev.raw(timesheet), at(10), books, RULEBOOK)
    again = decide(ev.raw(timesheet), at(11), books, RULEBOOK)
    assert first.accepted
    assert not again.accepted and again.entries == () and again.event is None
    assert again.rejection.reason is Reason.DUPLICATE_EVENT
    assert again.rejection.detail == "event_id already delivered at ledger.events/0@10#0"
    assert again.rejection.event_id == timesheet["event_id"]
    assert again.rejection.event_type == "timesheet.submitted"
    assert again.rejection.position == at(11)
    assert json.loads(again.rejection.payload) == timesheet


def test_same_event_id_with_other_content_is_a_duplicate(ev):
    books = loaded_books(ev)
    timesheet = ev.timesheet(hours=7)
    decide(ev.raw(timesheet), at(10), books, RULEBOOK)
    changed = decide(ev.raw({**timesheet, "hours": 8}), at(11), books, RULEBOOK)
    assert changed.rejection.reason is Reason.DUPLICATE_EVENT


def test_duplicate_of_a_parked_event_is_a_duplicate(ev):
    # The first delivery waits for its contract; a resend elsewhere is not a second timesheet.
    books = MemoryBooks()
    timesheet = ev.timesheet()
    first = decide(ev.raw(timesheet), at(0), books, RULEBOOK)
    assert first.parked and first.pending.reason == "unknown_contract"
    again = decide(ev.raw(timesheet), at(1), books, RULEBOOK)
    assert again.rejection.reason is Reason.DUPLICATE_EVENT
    assert again.rejection.detail == "event_id already delivered at ledger.events/0@0#0"
    assert len(books.pending) == 1  # still one timesheet waiting


def test_duplicate_of_a_rejected_event_is_still_a_duplicate(ev):
    # The first delivery was decided (rejected: it names another person than its original); the
    # rejection is final, not one that asks to post again: the id is spent.
    books = loaded_books(ev)
    timesheet = ev.timesheet()
    assert decide(ev.raw(timesheet), at(0), books, RULEBOOK).accepted
    correction = ev.correction(timesheet, beneficiary_id="other-00000000ff")
    first = decide(ev.raw(correction), at(1), books, RULEBOOK)
    assert first.rejection.reason is Reason.BENEFICIARY_MISMATCH and first.rejection.reason not in RETRYABLE
    again = decide(ev.raw(correction), at(2), books, RULEBOOK)
    assert again.rejection.reason is Reason.DUPLICATE_EVENT
    assert again.rejection.detail == "event_id already delivered at ledger.events/0@1#0"


def test_retryable_reasons():
    assert RETRYABLE == {Reason.ORIGINAL_NOT_FOUND}


def test_a_retryable_rejection_frees_the_event_id(ev):
    # original_not_found asks the sender to post again later: the same event posted again at another
    # position is decided afresh, not rejected as a duplicate.
    books = loaded_books(ev)
    original = ev.timesheet(hours=7)
    correction = ev.correction(original, hours=6)
    first = decide(ev.raw(correction), at(0), books, RULEBOOK)
    assert first.rejection.reason is Reason.ORIGINAL_NOT_FOUND
    # Still too early: rejected again for the same reason, as its own delivery.
    again = decide(ev.raw(correction), at(1), books, RULEBOOK)
    assert again.rejection.reason is Reason.ORIGINAL_NOT_FOUND and again.rejection.position == at(1)
    assert again.rejection.rejection_id == rejection_id(at(1)) != first.rejection.rejection_id
    assert books.memo(UUID(correction["event_id"])).at == "ledger.events/0@1#0"
    # The same delivery processed again (a restarted worker) still answers the same.
    assert decide(ev.raw(correction), at(1), books, RULEBOOK) == again
    assert decide(ev.raw(original), at(2), books, RULEBOOK).accepted
    third = decide(ev.raw(correction), at(3), books, RULEBOOK)
    assert third.accepted and third.rejection is None
    assert [(e.kind, e.hours) for e in third.entries] == [(EntryKind.REVERSAL, Decimal(-7)),
                                                          (EntryKind.CREDIT, Decimal(6))]
    # Accepted, its id is spent: a fourth posting is a duplicate.
    fourth = decide(ev.raw(correction), at(4), books, RULEBOOK)
    assert fourth.rejection.reason is Reason.DUPLICATE_EVENT
    assert fourth.rejection.detail == "event_id already delivered at ledger.events/0@3#0"


def test_a_resolution_before_its_claim_can_be_posted_again(ev):
    # claim.resolved naming a timesheet not recorded yet: original_not_found, retryable like a correction.
    books = loaded_books(ev)
    sheet = ev.timesheet(hours=7)
    resolution = ev.resolution(sheet, "count")
    assert decide(ev.raw(resolution), at(0), books, RULEBOOK).rejection.reason is Reason.ORIGINAL_NOT_FOUND
    assert decide(ev.raw(sheet), at(1), books, RULEBOOK).accepted
    # The timesheet counted (nothing to resolve): decided afresh, and rejected for that reason instead.
    retried = decide(ev.raw(resolution), at(2), books, RULEBOOK)
    assert retried.rejection.reason is Reason.NOTHING_TO_RESOLVE


def test_duplicate_reference_event_is_rejected(ev):
    books = MemoryBooks()
    contract = ev.contract()
    assert decide(ev.raw(contract), at(0), books, RULEBOOK).accepted
    assert decide(ev.raw(contract), at(0, partition=1), books, RULEBOOK).rejection.reason is Reason.DUPLICATE_EVENT


def test_same_position_replayed_gives_the_same_decision(ev):
    books = loaded_books(ev)
    timesheet = ev.raw(ev.timesheet())
    first = decide(timesheet, at(10), books, RULEBOOK)
    replay = decide(timesheet, at(10), books, RULEBOOK)  # a worker restarted before committing
    assert replay.accepted and replay == first
    assert [e.entry_id for e in replay.entries] == [e.entry_id for e in first.entries]


def test_same_position_replayed_rejection_keeps_its_id(ev):
    books = loaded_books(ev)
    early = ev.raw(ev.retraction(ev.timesheet()))  # before the timesheet it retracts
    first = decide(early, at(10), books, RULEBOOK)
    replay = decide(early, at(10), books, RULEBOOK)
    assert first.rejection.reason is Reason.ORIGINAL_NOT_FOUND
    assert replay == first
    assert replay.rejection.rejection_id == first.rejection.rejection_id


def test_same_position_replayed_correction_is_not_applied_twice(ev):
    books = loaded_books(ev)
    original = ev.timesheet(hours=7)
    decide(ev.raw(original), at(10), books, RULEBOOK)
    correction = ev.raw(ev.correction(original, hours=6))
    first = decide(correction, at(11), books, RULEBOOK)
    replay = decide(correction, at(11), books, RULEBOOK)  # the memo answers: no second reversal
    assert replay == first
    assert [(e.kind.value, e.hours) for e in first.entries] == [("reversal", Decimal(-7)), ("credit", Decimal(6))]


def test_rejection_id_names_the_delivery_not_the_content(ev):
    books = MemoryBooks()
    junk = b"not json at all"
    one = decide(junk, at(5), books, RULEBOOK).rejection
    same = decide(junk, at(5), books, RULEBOOK).rejection
    other = decide(junk, at(6), books, RULEBOOK).rejection
    elsewhere = decide(junk, at(5, index=1), books, RULEBOOK).rejection
    assert one.rejection_id == same.rejection_id
    assert len({one.rejection_id, other.rejection_id, elsewhere.rejection_id}) == 3
    assert one.rejection_id.version == 5


@pytest.mark.parametrize("changes, reason, rule", [
    ({"work_date": "2023-12-29"}, "outside_contract_period", "contract_period"),
    ({"work_date": "2025-01-02"}, "outside_contract_period", "contract_period"),
    ({"work_date": "2024-03-14"}, "not_eligible_on_work_date", "eligibility_window"),
])
def test_hours_that_do_not_count_are_recorded_with_their_reason(ev, changes, reason, rule):
    books = loaded_books(ev)
    timesheet = ev.timesheet(**changes)
    decision = decide(ev.raw(timesheet), at(10), books, RULEBOOK)
    assert decision.accepted and decision.rejection is None and decision.pending is None
    (entry,) = decision.entries
    assert entry.kind is EntryKind.CREDIT and entry.status is EntryStatus.NOT_COUNTED and not entry.counts
    assert (entry.reason, entry.rule, entry.hours) == (reason, rule, Decimal("7.5"))
    assert entry.source_event_id == UUID(timesheet["event_id"])


@pytest.mark.parametrize("changes, reason, waiting_for", [
    ({"contract_id": "gpe-c999"}, "unknown_contract", "contract:gpe-c999"),
    ({"beneficiary_id": "other-00000000ff"}, "unknown_beneficiary", "beneficiary:other-00000000ff"),
    # The contract is looked for first.
    ({"contract_id": "gpe-c999", "beneficiary_id": "other-00000000ff"}, "unknown_contract", "contract:gpe-c999"),
])
def test_unknown_reference_parks_the_timesheet(ev, changes, reason, waiting_for):
    books = loaded_books(ev)
    timesheet = ev.timesheet(**changes)
    now = dt.datetime(2024, 6, 4, 9, 0, tzinfo=dt.timezone.utc)
    decision = decide(ev.raw(timesheet), at(10), books, RULEBOOK, now)
    assert decision.parked and not decision.accepted and decision.rejection is None
    assert decision.entries == () and str(decision.event.event_id) == timesheet["event_id"]
    record = decision.pending
    assert record.state is PendingState.PENDING and record.record == "pending"
    assert (record.reason, record.waiting_for) == (reason, waiting_for)
    assert record.event_id == UUID(timesheet["event_id"]) and record.event_type == "timesheet.submitted"
    assert record.beneficiary_id == timesheet["beneficiary_id"] and record.contract_id == timesheet["contract_id"]
    # Parked at the stream time; waits pending_timeout_hours (168 h: 7 days).
    assert record.parked_at == now and record.expires_at == dt.datetime(2024, 6, 11, 9, 0, tzinfo=dt.timezone.utc)
    assert [p.record for p in books.parked(0)] == [record]


def test_enrolment_after_timesheet_releases_it(ev):
    books = MemoryBooks()
    desk = Desk(books, RULEBOOK)
    desk.decide(ev.raw(ev.contract()), at(0))
    timesheet = ev.timesheet()
    (early,) = desk.decide(ev.raw(timesheet), at(1))
    assert early.parked and early.pending.reason == "unknown_beneficiary"
    own, released = desk.decide(ev.raw(ev.enrolment()), at(2))  # the event's decision first
    assert own.accepted and own.position == at(2) and own.entries == ()
    assert released.position == at(1) and released.accepted and not released.parked
    assert released.pending.state is PendingState.RESOLVED
    (entry,) = released.entries
    assert entry.status is EntryStatus.COUNTED and entry.source_event_id == UUID(timesheet["event_id"])
    # The release is what that delivery now answers if it is processed again.
    assert desk.decide(ev.raw(timesheet), at(1))[0].entries == released.entries
    # Kept, marked as released by offset 2, until that message's outputs are durable (committed).
    assert [(p.released_by, p.record.state) for p in books.parked(0)] == [(2, PendingState.RESOLVED)]
    desk.forget_released(0, below=2)
    assert len(books.parked(0)) == 1
    desk.forget_released(0, below=3)
    assert books.parked(0) == []


def test_a_worker_restarting_before_its_last_commit_sends_the_releases_again(ev):
    """Killed after its tables recorded a release but before the outputs were sent: the enrolment
    is delivered again (its own memo replayed) and the release it made must be sent again too,
    though nothing waits any more."""
    books = MemoryBooks()
    desk = Desk(books, RULEBOOK)
    desk.decide(ev.raw(ev.contract()), at(0))
    timesheet, enrolment = ev.timesheet(), ev.enrolment()
    desk.decide(ev.raw(timesheet), at(1))
    _, released = desk.decide(ev.raw(enrolment), at(2))  # outputs lost: the worker is killed
    desk.forget_released(0, below=2)  # the last commit: offset 2 is the next to read

    restarted = Desk(books, RULEBOOK)  # the tables as the changelog restores them
    assert restarted.released_since(0, 2) == [released]
    assert restarted.decide(ev.raw(enrolment), at(2))[1:] == []  # released already: not again
    assert restarted.released_since(0, 3) == []


def test_decide_all_reads_a_history_in_order(ev):
    timesheet = ev.timesheet()
    lines = [ev.raw(e) for e in (ev.contract(), timesheet, ev.enrolment(), timesheet)]
    decisions = decide_all(lines, RULEBOOK)
    assert [d.position.offset for d in decisions] == [0, 1, 2, 1, 3]
    assert decisions[1].parked and decisions[3].pending.state is PendingState.RESOLVED
    assert decisions[4].rejection.reason is Reason.DUPLICATE_EVENT


@pytest.mark.parametrize("raw, reason, event_id, event_type", [
    # Invalid event, but valid JSON: identity peeked from the object.
    (b'{"type": "timesheet.submitted", "event_id": "not-a-uuid", "hours": 7}', Reason.INVALID_EVENT,
     "not-a-uuid", "timesheet.submitted"),
    (b'{"type": "timesheet.corrected", "event_id": "4b1e2c9a-0000-4000-8000-000000000001"}', Reason.INVALID_EVENT,
     "4b1e2c9a-0000-4000-8000-000000000001", "timesheet.corrected"),
    (b'{"type": 7, "event_id": 12}', Reason.INVALID_EVENT, None, None),  # not strings: not peeked
    (b'{"type": "timesheet.submitted", "event_id": "' + b"x" * 101 + b'"}', Reason.INVALID_EVENT,
     None, "timesheet.submitted"),  # over 100 characters: not echoed
    (b"[1, 2]", Reason.INVALID_EVENT, None, None),
    # Not JSON: nothing to peek.
    (b'{"type": "timesheet.submitted", "event_id": "abc", "hours": 7', Reason.INVALID_JSON, None, None),
    (b"\xff\xfe\x00garbage", Reason.INVALID_JSON, None, None),
    (b"", Reason.INVALID_JSON, None, None),
])
def test_malformed_bytes_are_rejected_with_payload(raw, reason, event_id, event_type):
    books = MemoryBooks()
    decision = decide(raw, at(3), books, RULEBOOK)
    assert not decision.accepted and decision.event is None and decision.entries == ()
    rejection = decision.rejection
    assert rejection.reason is reason
    assert rejection.event_id == event_id and rejection.event_type == event_type
    assert rejection.payload == raw.decode("utf-8", errors="replace")
    assert rejection.payload_truncated is False
    assert rejection.position == at(3)
    assert rejection.detail  # the validator's sentence
    assert books.memos == {}  # an invalid event spends no id


def test_invalid_event_detail_names_the_field(ev):
    decision = decide(ev.raw(ev.timesheet(hours=25)), at(0), MemoryBooks(), RULEBOOK)
    assert decision.rejection.reason is Reason.INVALID_EVENT
    assert decision.rejection.detail == "hours: Input should be less than or equal to 24"


def test_invalid_event_id_can_be_resent_once_fixed(ev):
    books = loaded_books(ev)
    timesheet = ev.timesheet(hours=25)
    assert decide(ev.raw(timesheet), at(10), books, RULEBOOK).rejection.reason is Reason.INVALID_EVENT
    fixed = decide(ev.raw({**timesheet, "hours": 8}), at(11), books, RULEBOOK)
    assert fixed.accepted and [e.hours for e in fixed.entries] == [Decimal(8)]


def test_payload_over_64_kib_is_truncated(ev):
    assert MAX_KEPT_PAYLOAD == 65536
    event = ev.timesheet(note="a" * 70_000)  # unknown field: invalid, and large
    raw = ev.raw(event)
    assert len(raw) > 70_000
    rejection = decide(raw, at(0), MemoryBooks(), RULEBOOK).rejection
    assert rejection.reason is Reason.INVALID_EVENT
    assert rejection.payload_truncated is True
    assert len(rejection.payload) == 65536
    assert rejection.payload == raw[:65536].decode()
    assert rejection.event_id == event["event_id"]  # still peeked from the whole message


@pytest.mark.parametrize("size, truncated", [(65535, False), (65536, False), (65537, True)])
def test_payload_limit_boundary(size, truncated):
    raw = b'{"x":"' + b"a" * (size - 8) + b'"}'
    assert len(raw) == size
    rejection = decide(raw, at(0), MemoryBooks(), RULEBOOK).rejection
    assert rejection.payload_truncated is truncated
    assert len(rejection.payload) == min(size, 65536)


def test_truncation_inside_a_multibyte_character_does_not_fail():
    raw = b'{"xy":"' + "é".encode() * 40_000 + b'"}'  # 7 + 80,000 + 2 bytes
    # The cut keeps 65,536 bytes: 7 + 2 x 32,764 + 1, so it falls inside the 32,765th 'é'.
    rejection = decide(raw, at(0), MemoryBooks(), RULEBOOK).rejection
    assert rejection.payload_truncated is True
    assert rejection.payload == '{"xy":"' + "é" * 32_764 + "\ufffd"


# ---------------------------------------------------------------------------------------- split_message

def test_split_message_array(ev):
    one, two = ev.timesheet(), ev.enrolment()
    items = split_message(b"  \n" + ev.raw([one, two]))
    assert items is not None and len(items) == 2
    assert [json.loads(item) for item in items] == [one, two]
    assert all(isinstance(item, bytes) for item in items)


@pytest.mark.parametrize("raw", [b'{"type": "timesheet.submitted"}', b"  {}", b"42", b"not json", b""])
def test_split_message_single(raw):
    assert split_message(raw) is None


def test_split_message_broken_array_is_left_to_the_validator():
    raw = b'[{"type": "timesheet.submitted"},'
    assert split_message(raw) is None
    assert decide(raw, at(0), MemoryBooks(), RULEBOOK).rejection.reason is Reason.INVALID_JSON


def test_split_message_empty_array():
    assert split_message(b"[]") == []


def test_array_items_are_decided_one_by_one(ev):
    books = loaded_books(ev)
    good, bad = ev.timesheet(), ev.timesheet(hours=0)
    items = split_message(ev.raw([good, bad, good]))
    decisions = [decide(item, at(20, index=i), books, RULEBOOK) for i, item in enumerate(items)]
    assert [d.accepted for d in decisions] == [True, False, False]
    assert decisions[1].rejection.reason is Reason.INVALID_EVENT
    assert decisions[2].rejection.reason is Reason.DUPLICATE_EVENT
    assert decisions[2].rejection.detail == "event_id already delivered at ledger.events/0@20#0"
    assert [e.hours for e in decisions[0].entries] == [Decimal("7.5")]


def test_a_failure_of_the_desk_is_a_rejection_that_keeps_the_event():
    from ledger.intake import failed

    raw = b'{"type": "timesheet.submitted", "event_id": "5a1f7c7e-0000-4000-8000-000000000001"}'
    position = Position(topic="t", partition=1, offset=7)
    decision = failed(raw, position, KeyError("contracts"))
    assert not decision.accepted
    assert decision.rejection.reason == Reason.PROCESSING_ERROR
    assert decision.rejection.detail == "KeyError: 'contracts'"
    assert decision.rejection.event_id == "5a1f7c7e-0000-4000-8000-000000000001"
    assert decision.rejection.payload == raw.decode()
    assert decision.rejection.rejection_id == rejection_id(position)
