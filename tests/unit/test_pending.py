"""The index of pending timesheets (ledger.pending): a release finds through it exactly what a
look at every parked timesheet would find, and a desk whose books changed under it reads them again."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entries import PendingRecord, PendingState, Position
from ledger.intake import Desk, MemoryBooks
from ledger.pending import Parked, PendingTimesheets
from ledger.rulebook import Rulebook

T0 = dt.datetime(2024, 6, 3, tzinfo=dt.timezone.utc)
REFERENCES = [f"beneficiary:B{i}" for i in range(4)] + ["contract:C1", "contract:C2"]


def parked(n: int, waiting_for: str, expires_in: int, released_by: int | None = None, offset: int | None = None) -> Parked:
    record = PendingRecord(event_id=UUID(int=n), event_type="timesheet.submitted", state=PendingState.PENDING,
                           reason="unknown_beneficiary", waiting_for=waiting_for, beneficiary_id="B0",
                           contract_id="C1", parked_at=T0, expires_at=T0 + dt.timedelta(hours=expires_in))
    return Parked(position=Position(topic="intake", partition=0, offset=n if offset is None else offset),
                  raw="{}", record=record, released_by=released_by)


def test_due_are_those_whose_reference_arrived_or_whose_deadline_passed_in_delivery_order():
    index = PendingTimesheets.of([parked(3, "beneficiary:B1", 10), parked(1, "beneficiary:B1", 50),
                                  parked(2, "contract:C1", 5), parked(4, "contract:C2", 100)])
    arrived = {"beneficiary:B1"}.__contains__
    assert [p.position.offset for p in index.due(T0, arrived)] == [1, 3]
    assert [p.position.offset for p in index.due(T0 + dt.timedelta(hours=5), arrived)] == [1, 2, 3]
    assert [p.position.offset for p in index.due(None, lambda _: False)] == []
    assert index.next_deadline() == T0 + dt.timedelta(hours=5)


def test_a_released_timesheet_waits_no_more_and_is_kept_until_removed():
    index = PendingTimesheets.of([parked(1, "beneficiary:B1", 5), parked(2, "beneficiary:B1", 10)])
    index.put(parked(1, "beneficiary:B1", 5, released_by=7))
    assert [p.position.offset for p in index.due(T0 + dt.timedelta(hours=100), lambda _: True)] == [2]
    assert index.next_deadline() == T0 + dt.timedelta(hours=10)
    assert [(p.position.offset, p.released_by) for p in index.released()] == [(1, 7)]
    index.remove(UUID(int=1))
    assert index.released() == [] and len(index) == 1


operations = st.lists(st.one_of(
    st.tuples(st.just("park"), st.integers(0, 15), st.sampled_from(REFERENCES), st.integers(0, 48)),
    st.tuples(st.just("release"), st.integers(0, 15), st.integers(0, 30)),
    st.tuples(st.just("remove"), st.integers(0, 15)),
    st.tuples(st.just("due"), st.sets(st.sampled_from(REFERENCES)), st.none() | st.integers(0, 48)),
), max_size=60)


@settings(max_examples=300)
@given(operations)
def test_the_index_finds_what_a_full_scan_finds(ops):
    index, everything = PendingTimesheets(), {}
    for op in ops:
        if op[0] == "park":
            _, n, reference, hours = op
            everything[n] = parked(n, reference, hours)
            index.put(everything[n])
        elif op[0] == "release" and op[1] in everything:
            everything[op[1]] = everything[op[1]].model_copy(update={"released_by": op[2]})
            index.put(everything[op[1]])
        elif op[0] == "remove":
            everything.pop(op[1], None)
            index.remove(UUID(int=op[1]))
        elif op[0] == "due":
            _, arrived, hours = op
            now = None if hours is None else T0 + dt.timedelta(hours=hours)
            scan = sorted((p for p in everything.values() if p.waiting and (
                p.record.waiting_for in arrived or (now is not None and p.record.expires_at <= now))),
                key=lambda p: p.position.offset)
            assert index.due(now, arrived.__contains__) == scan
        waiting = [p.record.expires_at for p in everything.values() if p.waiting]
        assert index.next_deadline() == (min(waiting) if waiting else None)
        assert index.released() == sorted((p for p in everything.values() if not p.waiting),
                                          key=lambda p: (p.released_by, p.position.offset))
        assert len(index) == len(everything)


def test_a_resumed_partition_is_read_again_from_its_books(ev):
    """A worker that gets a partition back finds its tables restored from the changelog, with
    timesheets other workers parked meanwhile: the desk reads them again instead of trusting
    what it read before."""
    books = MemoryBooks()
    desk = Desk(books, Rulebook())
    desk.decide(ev.raw(ev.contract()), Position(topic="intake", partition=0, offset=0))
    timesheet = ev.timesheet()
    assert desk.decide(ev.raw(timesheet), Position(topic="intake", partition=0, offset=1))[0].parked

    elsewhere = Desk(books, Rulebook())  # another worker, on the same (restored) state
    later = ev.timesheet(work_date="2024-06-04")
    assert elsewhere.decide(ev.raw(later), Position(topic="intake", partition=0, offset=2))[0].parked

    assert desk.resume(0, 3) == []  # nothing released since offset 3
    released = desk.decide(ev.raw(ev.enrolment()), Position(topic="intake", partition=0, offset=3))[1:]
    assert [str(d.event.event_id) for d in released] == [timesheet["event_id"], later["event_id"]]
    assert all(d.accepted and d.entries for d in released)
