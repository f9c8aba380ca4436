"""The desk (ledger.desk): one decision per delivery, deterministic ids, duplicates, malformed bytes,
pending timesheets, and who may act on what.

Most tests drive the worker's PartitionProcessor through the unit kit (tests.support.kit.Ledger: topic
"intake", partition 0, one offset per message); those about the desk's own contract (its Outcome,
its Book, a restart) call `Desk.decide` directly with opaque origins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import entries as model
from ledger.book import Book, Memo
from ledger.desk import MAX_KEPT_PAYLOAD, BooksUnavailable, Desk, Outcome, content_of, digest_of, failed, rejection_id
from ledger.entries import RETRYABLE, EntryKind, EntryStatus, PendingState, Reason
from streams.worker import records
from streams.worker.records import Position
from ledger.rulebook import Rulebook
from tests.support.builders import (
    CONTRACTOR_SIRET,
    OTHER_CONTRACTOR_SIRET,
    contract,
    correction,
    enrolment,
    programme,
    raw,
    retraction,
    timesheet,
)
from tests.support.kit import T0, Decision, Ledger

RULEBOOK = Rulebook()
NOW = T0.timestamp()
A, B = CONTRACTOR_SIRET, OTHER_CONTRACTOR_SIRET


def at(offset: int, partition: int = 0, index: int = 0) -> str:
    """An origin as the routing layer writes it (the desk treats it as an opaque name)."""
    return f"intake/{partition}@{offset}#{index}"


def position(offset: int, partition: int = 0, index: int = 0) -> Position:
    return Position(topic="intake", partition=partition, offset=offset, index=index)


class GeneralPathOnly(Desk):
    """A desk whose every timesheet takes the general path. Methods are overridden in subclasses,
    not patched: compiled (setup.py), Desk is an extension type, whose methods cannot be replaced."""

    def _first_of_its_day(self, sheet, origin):
        return None


class Failing(Desk):
    """A desk whose timesheet handlers raise `failure` while it is set."""

    failure: Exception | None = None

    def _timesheet(self, event, raw, origin):
        if self.failure is not None:
            raise self.failure
        return Desk._timesheet(self, event, raw, origin)

    def _first_of_its_day(self, sheet, origin):  # the common timesheet's own path
        if self.failure is not None:
            raise self.failure
        return Desk._first_of_its_day(self, sheet, origin)


def loaded_desk(contract_changes=None, enrolment_changes=None, desk_class=Desk) -> Desk:
    """A desk holding one programme, one contract (2024) and one beneficiary (from 2024-03-15)."""
    desk = desk_class(Book(), RULEBOOK)
    for offset, event in enumerate([programme(), contract(**(contract_changes or {})),
                                    enrolment(**(enrolment_changes or {}))]):
        (outcome,) = desk.decide(raw(event), at(offset, partition=9), NOW)
        assert outcome.accepted and outcome.entries == [] and outcome.rejection is None
    return desk


def loaded(contract_changes=None, enrolment_changes=None, extra=()) -> Ledger:
    """The same reference data through the kit, at offsets 0, 1, 2 (then `extra`)."""
    ledger = Ledger()
    for event in [programme(), contract(**(contract_changes or {})), enrolment(**(enrolment_changes or {})),
                  *extra]:
        d = ledger.one(event)
        assert d.accepted and d.entries == () and d.rejection is None, d
    return ledger


def decide1(desk: Desk, event: dict | bytes, where: str, now: float | None = NOW) -> Decision:
    """The delivery's own decision, as the kit's models."""
    return Decision.of(desk.decide(event if isinstance(event, bytes) else raw(event), where, now)[0])


# -------------------------------------------------------------------------------------- reference data

def test_reference_events_are_accepted_and_kept():
    desk = Desk(Book(), RULEBOOK)
    c, e = contract(), enrolment()
    (first,) = desk.decide(raw(c), at(0), NOW)
    (second,) = desk.decide(raw(e), at(1), NOW)
    assert first.accepted and first.entries == [] and first.event_id == c["event_id"]
    assert first.event_type == "contract.registered"
    assert second.accepted and second.entries == [] and second.pending is None
    assert desk.book.contracts["gpe-c001"].contractor_siret == CONTRACTOR_SIRET
    assert desk.book.contracts["gpe-c001"].buyer_id == "buyer-sgp"
    assert desk.book.enrolments["b-3f9a1c2e7d"].eligible_from == dt.date(2024, 3, 15).toordinal()
    assert desk.book.enrolments["b-3f9a1c2e7d"].facilitator_id == "fac-01"
    assert Memo(desk.book.memos[c["event_id"]]).origin == "intake/0@0#0"
    assert Memo(desk.book.memos[e["event_id"]]).origin == "intake/0@1#0"
    # The records the store keeps hold the effective values (defaults applied).
    assert first.reference["record"] == "contract" and first.reference["target_hours"] == "833.33"
    assert second.reference["record"] == "beneficiary" and second.reference["eligible_until"] == "2026-03-14"
    # A contract is reference data every partition learns; an enrolment stays with its person.
    assert json.loads(first.learned) == c and second.learned is None


@pytest.mark.parametrize("kind, record, learned", [("programme", "programme", True), ("pooling", "pooling", False),
                                                   ("outcome", "outcome", False)])
def test_other_reference_events_are_accepted_without_entries(ev, kind, record, learned):
    desk = Desk(Book(), RULEBOOK)
    event = getattr(ev, kind)()
    (outcome,) = desk.decide(raw(event), at(0), NOW)
    assert outcome.accepted and outcome.entries == [] and outcome.rejection is None
    assert outcome.event_id == event["event_id"] and outcome.reference["record"] == record
    assert (outcome.learned is not None) is learned
    assert Memo(desk.book.memos[event["event_id"]]).origin == "intake/0@0#0"


def test_reference_data_learned_from_another_partition_releases_what_waited():
    desk = Desk(Book(), RULEBOOK)
    desk.decide(raw(enrolment()), at(0), NOW)
    sheet = timesheet()
    assert desk.decide(raw(sheet), at(1), NOW)[0].parked
    released = desk.learn(raw(contract()))  # decided on the contract's partition: no outcome of its own
    assert [(o.origin, o.state, o.pending["state"]) for o in released] == [("intake/0@1#0", "accepted", "resolved")]
    assert [e["hours"] for e in released[0].entries] == ["7.50"]
    assert desk.book.programmes == {} and "gpe-c001" in desk.book.contracts
    assert desk.learn(raw(programme())) == [] and desk.book.programmes == {"gpe": "buyer-sgp"}


# ------------------------------------------------------------------------------------------ timesheets

def test_a_contract_registered_again_credits_its_new_parties_from_then_on(ev):
    """The desk keeps each contract's credited parties while the book holds that registration: a
    new registration (another lot, operation or contractor) credits the timesheets after it."""
    ledger = loaded()
    first = ledger.one(ev.timesheet(work_date="2024-06-03"))
    assert ledger.one(contract(lot="GC-09", operation_id="L17", contractor_siret=ev.PARTNER_SIRET)).accepted
    second = ledger.one(ev.timesheet(work_date="2024-06-04"))
    assert [(e.lot, e.operation_id, e.contractor_siret) for e in first.entries + second.entries] == \
        [("GC-01", "L15S", first.entries[0].contractor_siret), ("GC-09", "L17", ev.PARTNER_SIRET)]
    assert first.entries[0].contractor_siret != ev.PARTNER_SIRET


def test_accepted_timesheet_credits_every_party(ev):
    ledger = loaded(contract_changes={"operation_id": "L16", "lot": "GC-07", "programme_id": "gpe"})
    sheet = ev.timesheet(mode="temp_agency_etti", siae_siret=ev.PARTNER_SIRET, hours=7.5,
                         work_date="2024-06-03", submitted_at="2024-06-04T08:30:00+02:00")
    decision = ledger.one(sheet)
    assert decision.accepted and decision.rejection is None and decision.pending is None
    assert decision.event == "timesheet.submitted" and decision.position == ledger.at(3)
    (entry,) = decision.entries
    assert entry.kind is EntryKind.CREDIT
    assert entry.status is EntryStatus.COUNTED and entry.counts and entry.reason == ""
    assert entry.source_event_type == "timesheet.submitted" and entry.reverses_entry_id is None
    assert entry.source_event_id == UUID(sheet["event_id"])
    assert entry.contract_id == "gpe-c001"
    assert entry.operation_id == "L16"
    assert entry.lot == "GC-07"
    assert entry.programme_id == "gpe"
    assert entry.contractor_siret == CONTRACTOR_SIRET
    assert entry.beneficiary_id == "b-3f9a1c2e7d"
    assert entry.siae_siret == "44306184100047"
    assert entry.mode == "temp_agency_etti"
    assert entry.work_date == dt.date(2024, 6, 3)
    assert entry.hours == Decimal("7.5")
    assert entry.rule == "eligible_on_contract"
    assert entry.rulebook_version == "2026.1"
    assert entry.submitted_at == dt.datetime(2024, 6, 4, 6, 30, tzinfo=dt.timezone.utc)
    assert entry.record == "entry"


def test_direct_hire_entry_has_no_partner():
    (entry,) = loaded().one(timesheet(mode="direct_hire")).entries
    assert entry.siae_siret is None and entry.mode == "direct_hire"


def test_entry_id_is_deterministic():
    sheet = raw(timesheet())
    # The same event decided in two independent desks, at different positions: one id.
    (one,) = decide1(loaded_desk(), sheet, at(10)).entries
    (two,) = decide1(loaded_desk(), sheet, at(777, partition=3)).entries
    assert one.entry_id == two.entry_id
    assert one.entry_id.version == 5  # derived (uuid5), never drawn at random
    assert one.entry_id != one.source_event_id
    assert one.entry_id == model.entry_id(one.source_event_id, EntryKind.CREDIT)  # the store's definition
    (other,) = decide1(loaded_desk(), timesheet(), at(10)).entries
    assert other.entry_id != one.entry_id


@pytest.mark.parametrize("changes, reason, rule", [
    ({"work_date": "2023-12-29"}, "outside_contract_period", "contract_period"),
    ({"work_date": "2025-01-02"}, "outside_contract_period", "contract_period"),
    ({"work_date": "2024-03-14"}, "not_eligible_on_work_date", "eligibility_window"),
])
def test_hours_that_do_not_count_are_recorded_with_their_reason(changes, reason, rule):
    sheet = timesheet(**changes)
    decision = loaded().one(sheet)
    assert decision.accepted and decision.rejection is None and decision.pending is None
    (entry,) = decision.entries
    assert entry.kind is EntryKind.CREDIT and entry.status is EntryStatus.NOT_COUNTED and not entry.counts
    assert (entry.reason, entry.rule, entry.hours) == (reason, rule, Decimal("7.5"))
    assert entry.source_event_id == UUID(sheet["event_id"])


# ------------------------------------------------------------------------------------------ duplicates

def test_duplicate_at_another_position_is_rejected():
    ledger = loaded()
    sheet = timesheet()
    first, again = ledger.one(sheet), ledger.one(sheet)
    assert first.accepted
    assert not again.accepted and again.entries == () and again.event is None
    assert again.rejection.reason is Reason.DUPLICATE_EVENT
    assert again.rejection.detail == "event_id already delivered at intake/0@3#0"
    assert again.rejection.event_id == sheet["event_id"]
    assert again.rejection.event_type == "timesheet.submitted"
    assert again.rejection.position == ledger.at(4)
    assert json.loads(again.rejection.payload) == sheet
    assert ledger.counted() == Decimal("7.5")


def test_the_same_content_with_other_spacing_or_key_order_is_a_duplicate():
    ledger = loaded()
    sheet = timesheet(hours=7.5)
    assert ledger.one(sheet).accepted
    reordered = json.dumps(dict(reversed(list(sheet.items()))), indent=3).encode()
    assert ledger.one(b"  \n" + reordered + b"\n").rejection.reason is Reason.DUPLICATE_EVENT
    # The values, not their spelling: 7.50 is 7.5.
    respelled = raw(sheet).replace(b'"hours": 7.5', b'"hours": 7.50')
    assert respelled != raw(sheet)
    assert ledger.one(respelled).rejection.reason is Reason.DUPLICATE_EVENT
    assert ledger.rejections() == Counter(duplicate_event=2) and ledger.counted() == Decimal("7.5")


def test_an_event_id_reused_for_other_content_is_a_conflict_that_shadows_nothing():
    ledger = loaded()
    sheet = timesheet(hours=7)
    assert ledger.one(sheet).accepted
    changed = ledger.one({**sheet, "hours": 8})
    assert changed.rejection.reason is Reason.EVENT_ID_CONFLICT and changed.event is None
    assert changed.rejection.event_id == sheet["event_id"]
    assert changed.rejection.detail == ("event_id already used at intake/0@3#0 for other content: post this event "
                                        "under a new event_id")
    # The first stands, and stays the one its id names: a third posting of it is a duplicate.
    assert Memo(ledger.book.memos[sheet["event_id"]]).origin == "intake/0@3#0"
    assert ledger.one(sheet).rejection.reason is Reason.DUPLICATE_EVENT
    assert ledger.counted() == Decimal(7) and [e.hours for e in ledger.entries] == [Decimal(7)]


def test_a_memo_written_with_the_digest_of_before_2026_12_06_still_tells_a_duplicate_from_a_conflict():
    """Memos kept in state before the digest became SHA-256 hold BLAKE2b's (ledger/hashes.py)."""
    ledger = loaded()
    sheet = timesheet(hours=7)
    assert ledger.one(sheet).accepted
    memo = Memo(ledger.book.memos[sheet["event_id"]])
    before = hashlib.blake2b(content_of(sheet), digest_size=10).hexdigest()
    assert memo.digest == digest_of(sheet) != before
    ledger.book.put("memos", sheet["event_id"], Memo.of(memo.origin, before, memo.retryable))
    assert ledger.one(sheet).rejection.reason is Reason.DUPLICATE_EVENT
    assert ledger.one({**sheet, "hours": 8}).rejection.reason is Reason.EVENT_ID_CONFLICT
    assert ledger.counted() == Decimal(7)


def test_duplicate_of_a_parked_event_is_a_duplicate():
    # The first delivery waits for its contract; a resend elsewhere is not a second timesheet.
    ledger = Ledger()
    sheet = timesheet()
    first = ledger.one(sheet)
    assert first.parked and first.pending.reason == "unknown_contract"
    again = ledger.one(sheet)
    assert again.rejection.reason is Reason.DUPLICATE_EVENT
    assert again.rejection.detail == "event_id already delivered at intake/0@0#0"
    other = ledger.one({**sheet, "hours": 3})
    assert other.rejection.reason is Reason.EVENT_ID_CONFLICT
    assert len(ledger.parked()) == 1  # still one timesheet waiting, the first
    ledger.post_all([contract(), enrolment()])
    assert [e.hours for e in ledger.entries] == [Decimal("7.5")]
    assert ledger.final[ledger.at(0)].accepted


def test_duplicate_of_a_rejected_event_is_still_a_duplicate():
    # The first delivery was decided (rejected: it names another person than its original); the
    # rejection is final, not one that asks to post again: the id is spent.
    ledger = loaded()
    sheet = timesheet()
    assert ledger.one(sheet).accepted
    fix = correction(sheet, beneficiary_id="other-00000000ff")
    first = ledger.one(fix)
    assert first.rejection.reason is Reason.BENEFICIARY_MISMATCH and first.rejection.reason not in RETRYABLE
    again = ledger.one(fix)
    assert again.rejection.reason is Reason.DUPLICATE_EVENT
    assert again.rejection.detail == "event_id already delivered at intake/0@4#0"


def test_retryable_reasons():
    assert RETRYABLE == {Reason.ORIGINAL_NOT_FOUND}


def test_a_retryable_rejection_frees_the_event_id():
    # original_not_found asks the sender to post again later: the same event posted again at another
    # position is decided afresh, not rejected as a duplicate.
    ledger = loaded()
    original = timesheet(hours=7)
    fix = correction(original, hours=6)
    first = ledger.one(fix)
    assert first.rejection.reason is Reason.ORIGINAL_NOT_FOUND
    # Still too early: rejected again for the same reason, as its own delivery.
    again = ledger.one(fix)
    assert again.rejection.reason is Reason.ORIGINAL_NOT_FOUND and again.rejection.position == ledger.at(4)
    assert again.rejection.rejection_id == records.rejection_id(ledger.at(4)) != first.rejection.rejection_id
    assert Memo(ledger.book.memos[fix["event_id"]]).origin == "intake/0@4#0"
    # The same delivery routed again: decided already, nothing new.
    assert ledger.post(fix, offset=4) == []
    assert ledger.one(original).accepted
    third = ledger.one(fix)
    assert third.accepted and third.rejection is None
    assert [(e.kind, e.hours) for e in third.entries] == [(EntryKind.REVERSAL, Decimal(-7)),
                                                          (EntryKind.CREDIT, Decimal(6))]
    # Accepted, its id is spent: a fourth posting is a duplicate.
    fourth = ledger.one(fix)
    assert fourth.rejection.reason is Reason.DUPLICATE_EVENT
    assert fourth.rejection.detail == "event_id already delivered at intake/0@6#0"


def test_a_resolution_before_its_claim_can_be_posted_again():
    # claim.resolved naming a timesheet not recorded yet: original_not_found, retryable like a correction.
    ledger = loaded()
    sheet = timesheet(hours=7)
    resolved = _resolution(sheet)
    assert ledger.one(resolved).rejection.reason is Reason.ORIGINAL_NOT_FOUND
    assert ledger.one(sheet).accepted
    # The timesheet counted (nothing to resolve): decided afresh, and rejected for that reason instead.
    assert ledger.one(resolved).rejection.reason is Reason.NOTHING_TO_RESOLVE


def _resolution(flagged: dict, decision: str = "count", **changes) -> dict:
    from tests.support.builders import resolution
    return resolution(flagged, decision, **changes)


def test_duplicate_reference_event_is_rejected():
    desk = Desk(Book(), RULEBOOK)
    c = contract()
    assert desk.decide(raw(c), at(0), NOW)[0].accepted
    (again,) = desk.decide(raw(c), at(0, partition=1), NOW)
    assert again.rejection["reason"] == "duplicate_event"
    assert again.rejection["detail"] == "event_id already delivered at intake/0@0#0"


# ------------------------------------------------------------------- routed twice, restarted: decided once

def test_a_delivery_routed_twice_is_decided_once():
    desk = loaded_desk()
    sheet = raw(timesheet())
    (first,) = desk.decide(sheet, at(10), NOW)
    desk.book.take_delta()
    (repeat,) = desk.decide(sheet, at(10), NOW)  # the router sent it again (a retried send)
    assert first.accepted and len(first.entries) == 1
    assert repeat.state == "repeated" and repeat.origin == at(10) and repeat.event_id == first.event_id
    assert repeat.entries == [] and repeat.rejection is None and repeat.pending is None and repeat.reference is None
    assert desk.book.take_delta() is None  # and the book is untouched


def test_through_the_kit_a_repeat_gives_nothing():
    ledger = loaded()
    sheet = timesheet()
    assert ledger.one(sheet).accepted
    assert ledger.post(sheet, offset=3) == []
    assert len(ledger.entries) == 1 and ledger.accounting() == Counter(accepted=4)


def test_a_rejection_routed_twice_is_decided_once():
    desk = loaded_desk()
    early = raw(retraction(timesheet()))  # before the timesheet it retracts
    (first,) = desk.decide(early, at(10), NOW)
    assert first.rejection["reason"] == "original_not_found"
    (repeat,) = desk.decide(early, at(10), NOW)
    assert repeat.state == "repeated" and repeat.rejection is None


def test_a_correction_routed_twice_is_not_applied_twice():
    ledger = loaded()
    original = timesheet(hours=7)
    ledger.one(original)
    fix = correction(original, hours=6)
    first = ledger.one(fix)
    assert ledger.post(fix, offset=4) == []  # the memo answers: no second reversal
    assert [(e.kind.value, e.hours) for e in first.entries] == [("reversal", Decimal(-7)), ("credit", Decimal(6))]
    assert ledger.counted() == Decimal(6)


def test_malformed_bytes_routed_twice_are_the_same_rejection():
    # No id to remember: rejected again, under the same rejection id (the store keeps one row).
    desk = Desk(Book(), RULEBOOK)
    junk = b"not json at all"
    (one,), (same,) = desk.decide(junk, at(5), NOW), desk.decide(junk, at(5), NOW)
    assert one.rejection == same.rejection


def test_rejection_id_names_the_delivery_not_the_content():
    desk = Desk(Book(), RULEBOOK)
    junk = b"not json at all"
    one = decide1(desk, junk, at(5)).rejection
    other = decide1(desk, junk, at(6)).rejection
    elsewhere = decide1(desk, junk, at(5, index=1)).rejection
    assert len({one.rejection_id, other.rejection_id, elsewhere.rejection_id}) == 3
    assert one.rejection_id.version == 5
    assert str(one.rejection_id) == rejection_id(at(5)) == str(records.rejection_id(position(5)))


def _history():
    """A little of everything: parked, released, accepted, corrected, rejected, expired."""
    original = timesheet(hours=7, work_date="2024-06-04")
    return [programme(), timesheet(), contract(), original, enrolment(), correction(original, hours=6),
            b"junk", timesheet(beneficiary_id="late-0000000001"), timesheet(contract_id="gpe-c404"),
            retraction(timesheet()), enrolment(beneficiary_id="late-0000000001"), "tick", timesheet(hours=2)]


def _run(desk: Desk, history, start: int = 0) -> list[Outcome]:
    out = []
    for n, item in enumerate(history[start:], start=start):
        now = NOW + 3600 * n + (200 * 3600 if n >= 11 else 0)  # the tick is past every deadline
        if item == "tick":
            out += desk.tick(now)
        else:
            out += desk.decide(item if isinstance(item, bytes) else raw(item), at(n), now)
    return out


@pytest.mark.parametrize("checkpoint", range(13))
def test_a_desk_restarted_from_a_snapshot_decides_the_same(checkpoint):
    """A restarted worker restores its book at its last checkpoint and decides what follows again:
    the same outcomes, the same ids."""
    history = _history()
    desk = Desk(Book(), RULEBOOK)
    _run(desk, history[:checkpoint])
    saved = desk.book.snapshot()
    first = _run(desk, history, checkpoint)
    restored = Book()
    restored.apply(saved)
    again = Desk(restored, RULEBOOK)
    again.reindex()
    assert _run(again, history, checkpoint) == first
    assert restored.snapshot() == desk.book.snapshot() or _maps(restored) == _maps(desk.book)


def _maps(book: Book) -> dict:
    from ledger.book import MAPS
    return {name: getattr(book, name) for name in MAPS}


def test_the_history_covers_what_it_says():
    states = Counter(o.state for o in _run(Desk(Book(), RULEBOOK), _history()))
    pending = Counter(o.pending["state"] for o in _run(Desk(Book(), RULEBOOK), _history()) if o.pending)
    assert pending == Counter(pending=4, resolved=3, expired=1)
    assert states["rejected"] == 3  # the junk, the early retraction, the expired one


# --------------------------------------------------------------------------------------------- pending

@pytest.mark.parametrize("changes, reason, waiting_for", [
    ({"contract_id": "gpe-c999"}, "unknown_contract", "contract:gpe-c999"),
    ({"beneficiary_id": "other-00000000ff"}, "unknown_beneficiary", "beneficiary:other-00000000ff"),
    # The contract is looked for first.
    ({"contract_id": "gpe-c999", "beneficiary_id": "other-00000000ff"}, "unknown_contract", "contract:gpe-c999"),
])
def test_unknown_reference_parks_the_timesheet(changes, reason, waiting_for):
    ledger = loaded()
    sheet = timesheet(**changes)
    now = dt.datetime(2024, 6, 4, 9, 0, tzinfo=dt.timezone.utc)
    decision = ledger.one(sheet, now=now)
    assert decision.parked and not decision.accepted and decision.rejection is None
    assert decision.entries == () and decision.event == "timesheet.submitted"
    record = decision.pending
    assert record.state is PendingState.PENDING and record.record == "pending"
    assert (record.reason, record.waiting_for) == (reason, waiting_for)
    assert record.event_id == UUID(sheet["event_id"]) and record.event_type == "timesheet.submitted"
    assert record.beneficiary_id == sheet["beneficiary_id"] and record.contract_id == sheet["contract_id"]
    # Parked at the stream time; waits pending_timeout_hours (168 h: 7 days).
    assert record.parked_at == now and record.expires_at == dt.datetime(2024, 6, 11, 9, 0, tzinfo=dt.timezone.utc)
    (parked,) = ledger.parked()
    assert (parked.origin, parked.event_id, parked.waiting_for) == ("intake/0@3#0", sheet["event_id"], waiting_for)
    assert json.loads(parked.raw) == sheet
    assert ledger.accounting() == Counter(accepted=3, pending=1)


def test_enrolment_after_timesheet_releases_it():
    ledger = Ledger()
    ledger.one(contract())
    sheet = timesheet()
    early = ledger.one(sheet)
    assert early.parked and early.pending.reason == "unknown_beneficiary"
    own, released = ledger.post(enrolment())  # the event's decision first
    assert own.accepted and own.position == ledger.at(2) and own.entries == ()
    assert released.position == ledger.at(1) and released.accepted and not released.parked
    assert released.pending.state is PendingState.RESOLVED
    (entry,) = released.entries
    assert entry.status is EntryStatus.COUNTED and entry.source_event_id == UUID(sheet["event_id"])
    # Released, it waits no more; its delivery routed again is decided already.
    assert ledger.parked() == [] and Memo(ledger.book.memos[sheet["event_id"]]).origin == "intake/0@1#0"
    assert ledger.post(sheet, offset=1) == []
    assert ledger.accounting() == Counter(accepted=3)


def test_a_worker_restarting_before_its_checkpoint_sends_the_releases_again():
    """Killed after it decided an enrolment that released a timesheet, before its checkpoint: the new
    owner restores the book of the checkpoint and decides the enrolment again, releasing the
    timesheet again with the same entries."""
    desk = Desk(Book(), RULEBOOK)
    desk.decide(raw(contract()), at(0), NOW)
    sheet, enrolled = timesheet(), raw(enrolment())
    desk.decide(raw(sheet), at(1), NOW)
    saved = desk.book.snapshot()  # the last checkpoint
    lost = desk.decide(enrolled, at(2), NOW + 60)  # outputs lost: the worker is killed

    book = Book()
    book.apply(saved)
    restarted = Desk(book, RULEBOOK)
    restarted.reindex()
    again = restarted.decide(enrolled, at(2), NOW + 60)
    assert again == lost and [o.origin for o in again] == [at(2), at(1)]
    assert restarted.decide(enrolled, at(2), NOW + 60)[0].state == "repeated"  # released already: not again
    assert restarted.book.parked == {}


def test_the_kit_reads_a_history_in_order():
    sheet = timesheet()
    ledger = Ledger()
    ledger.post_all([contract(), sheet, enrolment(), sheet])
    assert [d.position.offset for d in ledger.decisions] == [0, 1, 2, 1, 3]
    assert ledger.decisions[1].parked and ledger.decisions[3].pending.state is PendingState.RESOLVED
    assert ledger.decisions[4].rejection.reason is Reason.DUPLICATE_EVENT


def test_a_parked_timesheet_expires_with_the_reason_it_waited_for():
    ledger = loaded()
    sheet = timesheet(contract_id="gpe-c404")
    ledger.one(sheet)
    assert ledger.later(hours=167) == []
    (expired,) = ledger.later(hours=1)
    assert expired.position == ledger.at(3) and expired.rejection.reason is Reason.UNKNOWN_CONTRACT
    assert expired.pending.state is PendingState.EXPIRED and expired.pending.reason == "unknown_contract"
    assert expired.rejection.event_id == sheet["event_id"] and json.loads(expired.rejection.payload) == sheet
    assert ledger.parked() == [] and ledger.accounting() == Counter(accepted=3, rejected=1)
    # Its id is spent (unknown_contract is not retryable).
    assert ledger.one(sheet).rejection.reason is Reason.DUPLICATE_EVENT


def test_a_timesheet_waiting_for_both_waits_for_the_enrolment_once_its_contract_came():
    ledger = Ledger()
    sheet = timesheet()
    assert ledger.one(sheet).pending.waiting_for == "contract:gpe-c001"
    assert ledger.post(contract()) == [ledger.decisions[-1]]  # nothing released yet
    (parked,) = ledger.parked()
    assert (parked.reason, parked.waiting_for) == ("unknown_beneficiary", "beneficiary:b-3f9a1c2e7d")
    own, released = ledger.post(enrolment())
    assert released.accepted and released.pending.waiting_for == "beneficiary:b-3f9a1c2e7d"


# ---------------------------------------------------------------------------------------- malformed bytes

@pytest.mark.parametrize("data, reason, event_id, event_type", [
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
def test_malformed_bytes_are_rejected_with_payload(data, reason, event_id, event_type):
    desk = Desk(Book(), RULEBOOK)
    decision = decide1(desk, data, at(3))
    assert not decision.accepted and decision.event is None and decision.entries == ()
    rejection = decision.rejection
    assert rejection.reason is reason
    assert rejection.event_id == event_id and rejection.event_type == event_type
    assert rejection.payload == data.decode("utf-8", errors="replace")
    assert rejection.payload_truncated is False
    assert rejection.position == position(3)
    assert rejection.detail  # the validator's sentence
    assert desk.book.memos == {}  # an invalid event spends no id


@pytest.mark.parametrize("data", [b"not json at all", b"\xff\xfe\x00garbage", b"  {broken", b"\x0c{}"])
def test_malformed_bytes_through_the_kit_keep_their_exact_payload(data):
    ledger = Ledger()
    (decision,) = ledger.post(data)
    assert decision.rejection.reason is Reason.INVALID_JSON
    assert decision.rejection.payload == data.decode("utf-8", errors="replace")


def test_invalid_event_detail_names_the_field():
    decision = Ledger().one(timesheet(hours=25))
    assert decision.rejection.reason is Reason.INVALID_EVENT
    assert decision.rejection.detail == "hours: Input should be less than or equal to 24"


def test_invalid_event_id_can_be_resent_once_fixed():
    ledger = loaded()
    sheet = timesheet(hours=25)
    assert ledger.one(sheet).rejection.reason is Reason.INVALID_EVENT
    fixed = ledger.one({**sheet, "hours": 8})
    assert fixed.accepted and [e.hours for e in fixed.entries] == [Decimal(8)]


def test_payload_over_64_kib_is_truncated():
    assert MAX_KEPT_PAYLOAD == 65536
    event = timesheet(note="a" * 70_000)  # unknown field: invalid, and large
    data = raw(event)
    assert len(data) > 70_000
    rejection = decide1(Desk(Book(), RULEBOOK), data, at(0)).rejection
    assert rejection.reason is Reason.INVALID_EVENT
    assert rejection.payload_truncated is True
    assert len(rejection.payload) == 65536
    assert rejection.payload == data[:65536].decode()
    assert rejection.event_id == event["event_id"]  # still peeked from the whole message
    assert rejection.event_type == "timesheet.submitted"


@pytest.mark.parametrize("size, truncated", [(65535, False), (65536, False), (65537, True)])
def test_payload_limit_boundary(size, truncated):
    data = b'{"x":"' + b"a" * (size - 8) + b'"}'
    assert len(data) == size
    rejection = decide1(Desk(Book(), RULEBOOK), data, at(0)).rejection
    assert rejection.payload_truncated is truncated
    assert len(rejection.payload) == min(size, 65536)


def test_truncation_inside_a_multibyte_character_does_not_fail():
    data = b'{"xy":"' + "é".encode() * 40_000 + b'"}'  # 7 + 80,000 + 2 bytes
    # The cut keeps 65,536 bytes: 7 + 2 x 32,764 + 1, so it falls inside the 32,765th 'é'.
    rejection = decide1(Desk(Book(), RULEBOOK), data, at(0)).rejection
    assert rejection.payload_truncated is True
    assert rejection.payload == '{"xy":"' + "é" * 32_764 + "\ufffd"


# ------------------------------------------------------------------------------------------------ arrays

def test_array_items_are_decided_one_by_one():
    ledger = loaded()
    good, bad = timesheet(), timesheet(hours=0)
    decisions = ledger.post([good, bad, good])
    assert [d.position for d in decisions] == [ledger.at(3, index=i) for i in range(3)]
    assert [d.accepted for d in decisions] == [True, False, False]
    assert decisions[1].rejection.reason is Reason.INVALID_EVENT
    assert decisions[2].rejection.reason is Reason.DUPLICATE_EVENT
    assert decisions[2].rejection.detail == "event_id already delivered at intake/0@3#0"
    assert [e.hours for e in decisions[0].entries] == [Decimal("7.5")]
    assert json.loads(decisions[1].rejection.payload) == bad  # each item's own payload


def test_a_broken_array_is_left_to_the_validator():
    (decision,) = Ledger().post(b'[{"type": "timesheet.submitted"},')
    assert decision.rejection.reason is Reason.INVALID_JSON
    assert decision.rejection.payload == '[{"type": "timesheet.submitted"},'


def test_an_array_item_repeating_a_key_is_refused():
    ledger = loaded()
    sheet = raw(timesheet(hours=7)).replace(b'"hours": 7', b'"hours": 7, "hours": 24')
    (decision,) = ledger.post(b"[" + sheet + b"]")
    assert decision.rejection.reason is Reason.INVALID_JSON
    assert "duplicate key \"hours\"" in decision.rejection.detail
    assert ledger.entries == []


# ------------------------------------------------------------------------------------- the common timesheet's path

def test_the_common_timesheets_own_path_decides_as_the_general_path():
    """`Desk._first_of_its_day` decides nearly every timesheet without the general path's calls: the
    same sequence through both gives the same outcomes, the same ids and the same book."""
    from tests.support.builders import PARTNER_SIRET

    day1 = {"work_date": "2024-06-03"}
    sheets = [
        timesheet(**day1),  # counted
        timesheet(work_date="2024-06-04", submitted_at="2024-06-05T07:30:00Z"),  # a UTC second
        timesheet(work_date="2024-06-05", submitted_at="2024-06-05T20:00:00+00:00", hours=12),  # over the maximum
        timesheet(work_date="2024-03-01"),  # before the eligibility window
        timesheet(work_date="2024-06-06", mode="direct_hire", hire_type="permanent", hire_date="2023-01-02"),
        timesheet(work_date="2024-06-07", mode="direct_hire", hire_type="permanent", hire_date="2024-05-02"),
        timesheet(work_date="2024-06-10", mode="siae_placement_ai", siae_siret=PARTNER_SIRET, hours=3.25),
        timesheet(work_date="2024-06-11", mode="training"),
        timesheet(**day1, hours=2),  # a second claim of day 1
        timesheet(work_date="2024-06-12", beneficiary_id="b-0000000abc"),  # not enrolled: parked
    ]
    sheets.append(dict(sheets[1]))  # a duplicate
    sheets.append(enrolment(beneficiary_id="b-0000000abc"))  # releases the parked one (_release)
    sheets.append(timesheet(work_date="2025-01-06", submitted_at="2025-01-07T08:00:00Z"))  # after the contract

    reference = [programme(), contract(), enrolment()]

    def run(desk_class):
        desk = desk_class(Book(), RULEBOOK)
        outcomes = [desk.decide(raw(s), at(100 + n), NOW) for n, s in enumerate(reference + sheets)]
        return [[(o.state, o.entries, o.rejection, o.pending, o.origin) for o in out] for out in outcomes[3:]], desk.book.snapshot()

    taken = []

    class Counted(Desk):
        def _first_of_its_day(self, sheet, origin):
            outcome = Desk._first_of_its_day(self, sheet, origin)
            taken.append(outcome is not None)
            return outcome

    fast = run(Counted)
    # Taken by the first claims of a day, outside training, within the maximum, whose person is known.
    assert taken == [True, True, False, True, True, True, True, False, False, False, True, True]
    general = run(GeneralPathOnly)
    assert fast == general
    states = [out[0][0] for out in fast[0]]
    assert states == ["accepted"] * 9 + ["pending", "rejected", "accepted", "accepted"]
    released = fast[0][-2][1]
    assert released[0] == "accepted" and released[1][0]["status"] == "counted" and released[3]["state"] == "resolved"
    assert released[4] == fast[0][9][0][4]  # where it was delivered
    statuses = [out[0][1][0]["status"] for out in fast[0][:8]]
    assert statuses == ["counted", "counted", "flagged", "not_counted", "not_counted", "counted", "counted", "counted"]
    reasons = [out[0][1][0]["reason"] for out in (fast[0][3], fast[0][4], fast[0][-1])]
    assert reasons == ["not_eligible_on_work_date", "permanent_hire_cap_reached", "outside_contract_period"]


def test_training_claims_take_the_one_step_path_when_last_and_within_the_cap_and_decide_as_the_general_path():
    """A training claim dated after its person's other training claims, within what the cap leaves,
    changes no other claim: `_first_of_its_day` decides it in one step (its person's cap shared out
    once by the general path). The same sequence through the general path alone gives the same
    outcomes, ids and book: in date order up to the cap and past it (a day split), one dated
    before the others (the cap shared out again), a correction and a retraction (room given back),
    a second claim of a day, and a new desk on the same book (as after a restart: nothing shared out)."""
    from tests.support.builders import correction, retraction

    def training(n: int, hours: float = 8, **changes) -> dict:
        return timesheet(mode="training", hours=hours, work_date=(dt.date(2024, 6, 3) + dt.timedelta(days=n)).isoformat(),
                         submitted_at="2024-09-30T18:00:00Z", **changes)

    run_in_order = [training(n) for n in range(12)]  # 96 h
    late = training(40, hours=7)
    wrong = training(41, hours=6)
    events = [*run_in_order, late, wrong, correction(wrong, hours=4), training(42, hours=5),
              retraction(run_in_order[3]), training(43, hours=8), training(50), training(12),  # dated before
              training(51), training(51, hours=1, contract_id="gpe-c001"), training(52, hours=2)]
    events += [training(60 + n) for n in range(6)]  # past the cap: split, then nothing counted
    reference = [programme(), contract(), enrolment()]

    def run(desk_class):
        desk = desk_class(Book(), RULEBOOK)
        restarted = None
        outcomes = []
        for n, event in enumerate(reference + events):
            if n == len(reference) + 20:  # a restart: a new desk on the same book
                restarted = desk_class(desk.book, RULEBOOK)
                desk = restarted
            outcomes.append(desk.decide(raw(event), at(100 + n), NOW))
        decided = [[(o.state, o.entries, o.rejection, o.pending) for o in out] for out in outcomes[3:]]
        return decided, desk.book.snapshot()

    taken = []

    class Counted(Desk):
        def _first_of_its_day(self, sheet, origin):
            outcome = Desk._first_of_its_day(self, sheet, origin)
            if sheet.mode == "training":
                taken.append(outcome is not None)
            return outcome

    fast = run(Counted)
    general = run(GeneralPathOnly)
    assert fast == general
    # The first of the person's training claims, the one dated before, the second of a day, the
    # one after the restart and those past the cap take the general path; the others one step.
    assert 10 <= taken.count(True) < len(taken) and taken[0] is False
    states = [out[0][0] for out in fast[0]]
    assert states == ["accepted"] * len(events)
    hours = Counter()
    for out in fast[0]:
        for entry in out[0][1]:
            hours[entry["status"]] += Decimal(entry["hours"])
    assert hours["counted"] == 150 and hours["not_counted"] > 0


def test_a_training_claim_dated_before_its_persons_others_takes_the_general_path_even_within_its_cap():
    """The cap of a claim is its own day's (a rulebook may lower it from a date). A claim dated
    before the others can fit under its own cap and still push a later claim over that claim's
    lower cap: only the general path, sharing the cap out by work date again, sees it."""
    lowered = Rulebook().with_overrides(training_cap_hours=[{"until": "2024-06-30", "value": 150},
                                                           {"from": "2024-07-01", "value": 60}])

    def training(day: str, hours: float = 8) -> dict:
        return timesheet(mode="training", hours=hours, work_date=day, submitted_at="2024-09-30T18:00:00Z")

    # 56 h under a cap of 150; July 15: 4 + 4 under 60; then 8 h dated before it.
    cut_short = [*(training(f"2024-06-0{n}") for n in range(3, 10)), training("2024-07-15"), training("2024-06-10")]
    # 24 h; July 15 (cap 60) counted whole, last; 24 h dated before it, within 60 in all; then 8 h
    # more dated before it, past 60.
    within = [*(training(f"2024-06-0{n}") for n in range(3, 6)), training("2024-07-15"),
              *(training(f"2024-06-0{n}") for n in range(6, 9)), training("2024-06-09")]

    def run(events, desk_class=Desk):
        desk = desk_class(Book(), lowered)
        return [desk.decide(raw(e), at(100 + n), NOW) for n, e in enumerate([programme(), contract(), enrolment(), *events])]

    def seen(outcomes):
        return [[(o.state, o.entries) for o in out] for out in outcomes]

    fast = [run(cut_short), run(within)]
    assert [seen(f) for f in fast] == [seen(run(cut_short, GeneralPathOnly)), seen(run(within, GeneralPathOnly))]
    # June 10 counts 8 h; July 15's 4 counted hours are reversed: none left under 60. June 9 counts
    # 8 h; July 15 is cut to 4.
    for outcomes, reversed_, credited in ((fast[0], [("counted", "-4.00"), ("not_counted", "-4.00")],
                                           [("not_counted", "8.00")]),
                                          (fast[1], [("counted", "-8.00")], [("counted", "4.00"), ("not_counted", "4.00")])):
        last = [(e["kind"], e["status"], e["hours"]) for e in outcomes[-1][0].entries]
        assert last == [("credit", "counted", "8.00"), *(("reversal", *r) for r in reversed_),
                        *(("credit", *c) for c in credited)]


# ------------------------------------------------------------------------------------- the desk failing

def test_a_failure_of_the_desk_is_a_rejection_that_keeps_the_event():
    data = b'{"type": "timesheet.submitted", "event_id": "5a1f7c7e-0000-4000-8000-000000000001"}'
    outcome = failed(data, "t/1@7#0", KeyError("contracts"))
    assert outcome.state == "rejected" and outcome.entries == []
    assert outcome.rejection["reason"] == Reason.PROCESSING_ERROR
    assert outcome.rejection["detail"] == "KeyError: 'contracts'"
    assert outcome.rejection["event_id"] == "5a1f7c7e-0000-4000-8000-000000000001"
    assert outcome.rejection["event_type"] == "timesheet.submitted"
    assert outcome.rejection["payload"] == data.decode()
    assert outcome.rejection["rejection_id"] == rejection_id("t/1@7#0") == str(
        records.rejection_id(Position(topic="t", partition=1, offset=7)))


def test_a_handler_failing_costs_its_event_a_visible_rejection_not_the_worker():
    desk = loaded_desk(desk_class=Failing)
    sheet = timesheet()
    desk.failure = ZeroDivisionError("division by zero")
    failure = decide1(desk, sheet, at(10))
    assert failure.rejection.reason is Reason.PROCESSING_ERROR
    assert failure.rejection.detail == "ZeroDivisionError: division by zero"
    assert json.loads(failure.rejection.payload) == sheet and failure.rejection.event_id == sheet["event_id"]
    assert sheet["event_id"] not in desk.book.memos  # its id is not spent: it can be posted again once fixed
    desk.failure = None
    assert decide1(desk, sheet, at(11)).accepted
    assert decide1(desk, timesheet(work_date="2024-06-04"), at(12)).accepted  # and the desk goes on


def test_the_books_failing_is_not_a_rejection():
    desk = loaded_desk(desk_class=Failing)
    desk.failure = BooksUnavailable("store down")
    with pytest.raises(BooksUnavailable):
        desk.decide(raw(timesheet()), at(10), NOW)


def test_a_detail_is_cut_to_its_limit():
    outcome = failed(b"{}", at(0), ValueError("x" * 10_000))
    assert outcome.rejection["detail"] == ("ValueError: " + "x" * 10_000)[:500]


# -------------------------------------------------------------------------------------- who may act on what
#
# Issue 11: the gateway checks a poster's token; the worker checks, on its own state, that what an
# event acts on belongs to whoever acted on it first, so that a forged or replayed event cannot take
# over another party's timesheets, beneficiaries, contracts or programmes.

C_A, C_B = "gpe-c001", "gpe-c002"  # contractor A's and contractor B's contracts


def two_contractors(*extra) -> Ledger:
    return loaded(extra=[contract(contract_id=C_B, contractor_siret=B, lot="GC-02"), *extra])


def test_a_correction_on_another_contractors_contract_is_not_yours():
    ledger = two_contractors()
    sheet = timesheet(hours=7, contract_id=C_A)
    ledger.one(sheet)
    taken = ledger.one(correction(sheet, contract_id=C_B, hours=9))
    assert taken.rejection.reason is Reason.TIMESHEET_NOT_YOURS and taken.entries == ()
    assert ledger.totals() == {(C_A, "counted"): Decimal(7)}
    # The holder can still correct it.
    assert ledger.one(correction(sheet, hours=6)).accepted
    assert ledger.totals() == {(C_A, "counted"): Decimal(6)}


def test_a_correction_to_another_contract_of_the_same_contractor_is_allowed():
    ledger = two_contractors(contract(contract_id="gpe-c003", lot="GC-03"))
    sheet = timesheet(hours=7)
    ledger.one(sheet)
    assert ledger.one(correction(sheet, contract_id="gpe-c003")).accepted
    assert ledger.totals() == {("gpe-c003", "counted"): Decimal(7)}


def test_a_retraction_by_another_contractor_is_not_yours():
    ledger = two_contractors()
    sheet = timesheet(hours=7, contract_id=C_A)
    ledger.one(sheet)
    taken = ledger.one(retraction(sheet, contract_id=C_B))
    assert taken.rejection.reason is Reason.TIMESHEET_NOT_YOURS
    assert ledger.totals() == {(C_A, "counted"): Decimal(7)}
    unknown = ledger.one(retraction(sheet, contract_id="gpe-c404"))  # a retraction never waits
    assert unknown.rejection.reason is Reason.TIMESHEET_NOT_YOURS
    assert ledger.one(retraction(sheet, contract_id=C_A)).accepted
    assert ledger.totals() == {}


def test_entries_carry_the_submission_time_of_the_event_that_caused_them():
    """A reversal says when the correction or retraction came (auditing.md reads it as
    `corrected_at`), and the live ingest lag is measured from it, not from the original's day."""
    utc = dt.timezone.utc
    ledger = loaded()
    first = timesheet(mode="training", hours=7, work_date="2024-06-03", submitted_at="2024-06-03T18:00:00+02:00")
    sheet = timesheet(hours=7, work_date="2024-06-04", submitted_at="2024-06-04T18:00:00+02:00")
    ledger.post_all([first, sheet])
    (credit,) = ledger.entries_of(sheet)
    assert credit.submitted_at == dt.datetime(2024, 6, 4, 16, tzinfo=utc)

    fix = correction(sheet, hours=6, submitted_at="2024-06-20T09:30:00+02:00")
    reversal, replacement = sorted(ledger.one(fix).entries, key=lambda e: e.kind.value, reverse=True)
    assert reversal.kind is EntryKind.REVERSAL and replacement.kind is EntryKind.CREDIT
    assert reversal.submitted_at == replacement.submitted_at == dt.datetime(2024, 6, 20, 7, 30, tzinfo=utc)

    (undone,) = ledger.one(retraction(first, submitted_at="2024-07-01T10:00:00+00:00")).entries
    assert undone.kind is EntryKind.REVERSAL and undone.submitted_at == dt.datetime(2024, 7, 1, 10, tzinfo=utc)
    assert ledger.totals() == {("gpe-c001", "counted"): Decimal(6)}


def test_a_correction_waiting_for_a_contract_that_turns_out_anothers_is_not_yours():
    ledger = loaded()
    sheet = timesheet(hours=7)
    ledger.one(sheet)
    fix = correction(sheet, contract_id="gpe-c020", hours=9)
    assert ledger.one(fix).pending.waiting_for == "contract:gpe-c020"
    own, released = ledger.post(contract(contract_id="gpe-c020", contractor_siret=B))
    assert own.accepted and released.position == ledger.at(4)
    assert released.rejection.reason is Reason.TIMESHEET_NOT_YOURS
    assert released.pending.state is PendingState.RESOLVED
    assert ledger.totals() == {("gpe-c001", "counted"): Decimal(7)}
    assert ledger.parked() == [] and ledger.accounting()["rejected"] == 1


def test_issue_11_a_decoy_reusing_anothers_event_id_shadows_nothing():
    """Contractor A posts a decoy timesheet.submitted under B's event_id X (other content), then
    retracts X from its own contract: neither touches B's hours."""
    ledger = two_contractors()
    x = timesheet(hours=7, contract_id=C_B)  # B's real timesheet
    assert ledger.one(x).accepted
    decoy = ledger.one({**x, "contract_id": C_A, "hours": 1})
    assert decoy.rejection.reason is Reason.EVENT_ID_CONFLICT and decoy.rejection.event_id == x["event_id"]
    assert ledger.totals() == {(C_B, "counted"): Decimal(7)}
    retracted = ledger.one(retraction(x, contract_id=C_A))
    assert retracted.rejection.reason is Reason.TIMESHEET_NOT_YOURS
    assert ledger.totals() == {(C_B, "counted"): Decimal(7)}
    corrected = ledger.one(correction(x, contract_id=C_A, hours=1))
    assert corrected.rejection.reason is Reason.TIMESHEET_NOT_YOURS
    assert ledger.totals() == {(C_B, "counted"): Decimal(7)}
    # B's own retraction still works: X is B's.
    assert ledger.one(retraction(x, contract_id=C_B)).accepted
    assert ledger.totals() == {}


def test_issue_11_squatting_an_event_id_is_visible_and_counts_for_the_squatter_only():
    """A posts X first (its own timesheet under the id B will use): B's real X is refused as a
    conflict, visibly, and A's hours count on A's contract only."""
    ledger = two_contractors()
    x = timesheet(hours=7, contract_id=C_B)
    squat = {**x, "contract_id": C_A, "hours": 3}
    assert ledger.one(squat).accepted
    real = ledger.one(x)
    assert real.rejection.reason is Reason.EVENT_ID_CONFLICT
    assert real.rejection.event_id == x["event_id"] and json.loads(real.rejection.payload) == x
    assert ledger.rejections() == Counter(event_id_conflict=1)
    assert ledger.totals() == {(C_A, "counted"): Decimal(3)}
    assert {e.contractor_siret for e in ledger.entries} == {A}
    # Nor can B take the squatted timesheet over with a retraction from its own contract.
    assert ledger.one(retraction(x, contract_id=C_B)).rejection.reason is Reason.TIMESHEET_NOT_YOURS
    assert ledger.totals() == {(C_A, "counted"): Decimal(3)}


def test_a_re_enrolment_by_another_facilitator_is_not_yours():
    ledger = loaded()
    again = ledger.one(enrolment(facilitator_id="fac-02", eligible_from="2020-01-01"))
    assert again.rejection.reason is Reason.BENEFICIARY_NOT_YOURS
    enrolled = ledger.book.enrolments["b-3f9a1c2e7d"]
    assert (enrolled.facilitator_id, enrolled.eligible_from) == ("fac-01", dt.date(2024, 3, 15).toordinal())
    assert ledger.one(enrolment(eligible_from="2024-01-01")).accepted  # the enrolling facilitator may
    assert ledger.book.enrolments["b-3f9a1c2e7d"].eligible_from == dt.date(2024, 1, 1).toordinal()


def test_an_outcome_by_another_facilitator_is_not_yours():
    from tests.support.builders import outcome
    ledger = loaded()
    assert ledger.one(outcome(facilitator_id="fac-02")).rejection.reason is Reason.BENEFICIARY_NOT_YOURS
    assert ledger.one(outcome()).accepted


def test_a_resolution_by_another_facilitator_is_not_yours():
    ledger = two_contractors()
    mine, theirs = timesheet(hours=7, contract_id=C_A), timesheet(hours=7, contract_id=C_B)
    ledger.post_all([mine, theirs])
    assert ledger.totals() == {(C_A, "flagged"): Decimal(7), (C_B, "flagged"): Decimal(7)}
    other = ledger.one(_resolution(mine, "count", facilitator_id="fac-02"))
    assert other.rejection.reason is Reason.BENEFICIARY_NOT_YOURS and other.entries == ()
    assert ledger.totals() == {(C_A, "flagged"): Decimal(7), (C_B, "flagged"): Decimal(7)}
    assert ledger.one(_resolution(mine, "count")).accepted


def test_a_contract_registered_again_by_another_buyer_is_not_yours():
    ledger = loaded()
    hijack = ledger.one(contract(buyer_id="buyer-other", contractor_siret=B))
    assert hijack.rejection.reason is Reason.CONTRACT_NOT_YOURS
    assert ledger.book.contracts["gpe-c001"].contractor_siret == A
    assert ledger.book.contracts["gpe-c001"].buyer_id == "buyer-sgp"
    assert ledger.one(contract(end_date="2025-06-30")).accepted  # its buyer may amend it


def test_a_contract_moved_to_another_programme_is_not_yours():
    ledger = loaded(extra=[programme(programme_id="other")])
    moved = ledger.one(contract(programme_id="other"))
    assert moved.rejection.reason is Reason.CONTRACT_NOT_YOURS
    assert "belongs to programme gpe" in moved.rejection.detail
    assert ledger.book.contracts["gpe-c001"].programme_id == "gpe"


def test_a_programme_defined_again_by_another_buyer_is_not_yours():
    ledger = loaded()
    assert ledger.one(programme(buyer_id="buyer-other", name="Mine now")).rejection.reason \
        is Reason.PROGRAMME_NOT_YOURS
    assert ledger.book.programmes == {"gpe": "buyer-sgp"}
    assert ledger.one(programme(name="Grand Paris Express (amended)")).accepted


def test_a_contract_into_anothers_programme_is_not_yours():
    ledger = loaded()
    into = ledger.one(contract(contract_id="gpe-c777", buyer_id="buyer-other"))
    assert into.rejection.reason is Reason.PROGRAMME_NOT_YOURS
    assert "gpe-c777" not in ledger.book.contracts
    # A timesheet on it waits (and expires): the refused contract is not known.
    assert ledger.one(timesheet(contract_id="gpe-c777")).parked


# ----------------------------------------------------------- pending: every release against an oracle
#
# Random sequences of timesheets naming contracts and beneficiaries that may not be known yet, the
# references arriving, and time passing (ticks, or later deliveries). A parked timesheet is released
# exactly when all it names is known (accepted, resolved) or, before that, when its deadline passes
# (rejected, expired, for the first thing still missing), in delivery order; a desk rebuilt from a
# snapshot of the book releases the same.

TIMEOUT = 168 * 3600  # rules/2026.1.toml: pending_timeout_hours
CONTRACTS = ["pc-0", "pc-1", "pc-2"]  # pc-0 is known from the start
PEOPLE = ["pb-0000000000", "pb-0000000001", "pb-0000000002", "pb-0000000003"]  # the first too

pending_ops = st.lists(st.one_of(
    st.tuples(st.just("sheet"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("contract"), st.integers(1, 2)),
    st.tuples(st.just("enrol"), st.integers(1, 3)),
    st.tuples(st.just("tick"), st.integers(0, 3)),
), max_size=40)


def _pending_history(ops, waits) -> list[tuple[str, bytes | None, float]]:
    """(kind, event bytes, stream time) per step; stream time moves on by `waits` (seconds)."""
    steps, now = [], NOW
    for n, op in enumerate(ops):
        now += waits[n]
        if op[0] == "sheet":
            event = timesheet(contract_id=CONTRACTS[op[1]], beneficiary_id=PEOPLE[op[2]])
        elif op[0] == "contract":
            event = contract(contract_id=CONTRACTS[op[1]])
        elif op[0] == "enrol":
            event = enrolment(beneficiary_id=PEOPLE[op[1]])
        else:
            now += (0, 3600, 100 * 3600, TIMEOUT)[op[1]]
            event = None
        steps.append((op[0], raw(event) if event is not None else None, now))
    return steps


def _pending_desk() -> Desk:
    desk = Desk(Book(), RULEBOOK)
    for n, event in enumerate([programme(), contract(contract_id="pc-0"), enrolment(beneficiary_id=PEOPLE[0])]):
        assert desk.decide(raw(event), at(n, partition=1), NOW)[0].accepted
    return desk


def _step(desk: Desk, n: int, step) -> list[Outcome]:
    kind, data, now = step
    return desk.tick(now) if kind == "tick" else desk.decide(data, at(n), now)


def _check_against_the_oracle(steps) -> tuple[Desk, list[list[Outcome]]]:
    desk = _pending_desk()
    known = {"contract:pc-0", f"beneficiary:{PEOPLE[0]}"}
    parked: dict[str, tuple[int, list[str], float]] = {}  # event id -> (delivery, what it names, deadline)
    history = []
    for n, step in enumerate(steps):
        kind, data, now = step
        outcomes = _step(desk, n, step)
        history.append(outcomes)
        if kind != "tick":
            event = json.loads(data)
            own, outcomes = outcomes[0], outcomes[1:]
            assert (own.origin, own.event_id) == (at(n), event["event_id"])
            if kind == "sheet":
                names = [f"contract:{event['contract_id']}", f"beneficiary:{event['beneficiary_id']}"]
                missing = [r for r in names if r not in known]
                if missing:
                    assert own.state == "pending" and own.pending["waiting_for"] == missing[0]
                    parked[event["event_id"]] = (n, names, now + TIMEOUT)
                else:
                    assert own.state == "accepted" and own.pending is None and len(own.entries) >= 1
            else:
                assert own.state == "accepted"
                known.add(f"contract:{event['contract_id']}" if kind == "contract"
                          else f"beneficiary:{event['beneficiary_id']}")
        expected = []
        for event_id, (delivery, names, deadline) in sorted(parked.items(), key=lambda p: p[1][0]):
            missing = [r for r in names if r not in known]
            if not missing:
                expected.append((event_id, at(delivery), "accepted", "resolved", None))
            elif now >= deadline:
                expected.append((event_id, at(delivery), "rejected", "expired", f"unknown_{missing[0].split(':')[0]}"))
        for event_id, *_ in expected:
            del parked[event_id]
        assert [(o.event_id, o.origin, o.state, o.pending["state"],
                 o.rejection["reason"] if o.rejection else None) for o in outcomes] == expected
        assert set(desk.book.parked) == set(parked)
        for event_id, (_, names, deadline) in parked.items():
            waiting = desk.book.parked[event_id]
            assert waiting.waiting_for == next(r for r in names if r not in known)
            assert waiting.expires_at == deadline
    return desk, history


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pending_ops, st.data())
def test_every_parked_timesheet_is_released_when_its_references_arrive_or_its_deadline_passes(ops, data):
    waits = data.draw(st.lists(st.sampled_from([1, 60, 3600, 50 * 3600]), min_size=len(ops), max_size=len(ops)),
                      label="waits")  # at least a second between deliveries (see test_desk_bugs.py)
    _check_against_the_oracle(_pending_history(ops, waits))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pending_ops, st.data())
def test_a_desk_rebuilt_from_a_snapshot_releases_the_same(ops, data):
    waits = data.draw(st.lists(st.sampled_from([0, 1, 3600, 50 * 3600]), min_size=len(ops), max_size=len(ops)),
                      label="waits")
    checkpoint = data.draw(st.integers(0, len(ops)), label="checkpoint")
    steps = _pending_history(ops, waits)
    desk = _pending_desk()
    for n, step in enumerate(steps[:checkpoint]):
        _step(desk, n, step)
    saved = desk.book.snapshot()
    first = [_step(desk, n, step) for n, step in enumerate(steps[checkpoint:], start=checkpoint)]
    book = Book()
    book.apply(saved)
    rebuilt = Desk(book, RULEBOOK)
    rebuilt.reindex()
    assert [_step(rebuilt, n, step) for n, step in enumerate(steps[checkpoint:], start=checkpoint)] == first
    assert _maps(book) == _maps(desk.book)
