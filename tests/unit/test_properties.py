"""Properties of the intake desk over random histories (hypothesis).

The oracle is the synthetic generator's ground truth (`expected`, decided by construction and not by
the ledger's rules) or, for the hand-built histories, a few lines of date comparisons written here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import Decimal
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.entries import Position
from ledger.intake import MemoryBooks, decide, split_message
from ledger.rules import Rulebook
from ledger.synthetic import Size, generate

SMALL = Size(operations=2, contracts=5, contractors=2, partners=3, beneficiaries=8, days_per_beneficiary=6,
             months=3, malformed_lines=3, duplicate_rate=0.1, unknown_contract_rate=0.05,
             ineligible_rate=0.05, outside_contract_rate=0.05)
RULEBOOK = Rulebook()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@lru_cache(maxsize=64)
def programme(seed: int):
    return generate(seed, SMALL)


def encode(item: dict | str) -> bytes:
    return (json.dumps(item) if isinstance(item, dict) else item).encode()


class Run:
    """Deliver messages in order, one position each, and tally what the desk decided."""

    def __init__(self) -> None:
        self.books = MemoryBooks()
        self.offset = 0
        self.delivered = 0
        self.decisions = []

    def deliver(self, raw: bytes, offset: int | None = None) -> None:
        if offset is None:
            offset, self.offset = self.offset, self.offset + 1
        items = split_message(raw)
        if items is None:
            self.decisions.append(decide(raw, Position(topic="t", partition=0, offset=offset), self.books, RULEBOOK))
            self.delivered += 1
        else:
            for i, item in enumerate(items):
                self.decisions.append(
                    decide(item, Position(topic="t", partition=0, offset=offset, index=i), self.books, RULEBOOK))
                self.delivered += 1

    def hours_by_contract(self, contract_ids) -> dict[str, Decimal]:
        # The store keeps one row per entry id: a replayed entry is the same row.
        entries = {d.entry.entry_id: d.entry for d in self.decisions if d.entry is not None}
        totals = {cid: Decimal(0) for cid in contract_ids}
        for entry in entries.values():
            totals[entry.contract_id] += entry.hours
        return totals

    @property
    def accepted(self) -> int:
        return sum(d.accepted for d in self.decisions)

    @property
    def rejected(self) -> int:
        return sum(not d.accepted for d in self.decisions)


def contract_ids(prog) -> list[str]:
    return [e["contract_id"] for e in prog.reference if e["type"] == "contract.registered"]


def check_decisions_are_exclusive(run: Run) -> None:
    """(b) each delivered event is accepted or rejected, never both, never neither."""
    assert len(run.decisions) == run.delivered
    assert run.accepted + run.rejected == run.delivered
    for d in run.decisions:
        assert (d.event is None) != (d.rejection is None)
        assert d.entry is None or d.event is not None


def check_no_negative(totals: dict[str, Decimal], run: Run) -> None:
    """(d) no contract total is negative; every entry credits a positive amount."""
    assert all(total >= 0 for total in totals.values())
    assert all(d.entry.hours > 0 for d in run.decisions if d.entry is not None)


# ------------------------------------------------------------------------- the synthetic programme

@FAST
@given(seeds)
def test_synthetic_programme_totals_match_ground_truth(seed):
    prog = programme(seed)
    run = Run()
    for line in prog.lines():
        run.deliver(line.encode())
    totals = run.hours_by_contract(contract_ids(prog))
    # (c) credited hours are the generator's hours, contract by contract
    assert totals == prog.expected.hours_by_contract
    entries = Counter(d.entry.contract_id for d in run.decisions if d.entry is not None)
    assert {cid: entries.get(cid, 0) for cid in totals} == prog.expected.entries_by_contract
    # (b) and the counts of accepted and rejected are the generator's too
    check_decisions_are_exclusive(run)
    assert run.delivered == len(prog.reference) + len(prog.activity)
    assert run.accepted == prog.expected.accepted
    by_reason = Counter(d.rejection.reason.value for d in run.decisions if d.rejection is not None)
    assert by_reason == prog.expected.rejections_by_reason + prog.expected.malformed_by_reason
    check_no_negative(totals, run)


@FAST
@given(seeds, st.data())
def test_reordering_and_duplicating_activity_changes_no_total(seed, data):
    prog = programme(seed)
    activity = list(prog.activity)
    shuffled = data.draw(st.permutations(activity), label="order")
    extra = data.draw(st.lists(st.sampled_from(activity), max_size=len(activity)), label="resent")
    for item in extra:  # a resent line lands anywhere after the reference events
        shuffled.insert(data.draw(st.integers(0, len(shuffled)), label="where"), item)
    run = Run()
    for event in prog.reference:
        run.deliver(encode(event))
    for item in shuffled:
        run.deliver(encode(item))
    totals = run.hours_by_contract(contract_ids(prog))
    # (a) + (c): whatever the order and the retries, the totals are the generator's
    assert totals == prog.expected.hours_by_contract
    check_decisions_are_exclusive(run)
    assert run.delivered == len(prog.reference) + len(activity) + len(extra)
    assert run.accepted == prog.expected.accepted  # every resend is rejected, never counted twice
    check_no_negative(totals, run)


@FAST
@given(seeds, st.data())
def test_replaying_deliveries_at_their_positions_changes_nothing(seed, data):
    """A worker that restarts re-decides deliveries at the same positions: same decisions, same rows."""
    prog = programme(seed)
    lines = [line.encode() for line in prog.lines()]
    run = Run()
    replays = data.draw(st.lists(st.integers(0, len(lines) - 1), max_size=20), label="restarts")
    first_decision = {}
    for offset, raw in enumerate(lines):
        run.deliver(raw, offset=offset)
        first_decision[offset] = run.decisions[-1]
        for replayed in (r for r in replays if r == offset):
            run.deliver(lines[replayed], offset=replayed)
            assert run.decisions[-1] == first_decision[replayed]
    totals = run.hours_by_contract(contract_ids(prog))
    assert totals == prog.expected.hours_by_contract
    rejection_ids = {d.rejection.rejection_id for d in run.decisions if d.rejection is not None}
    assert len(rejection_ids) == prog.expected.rejected + sum(prog.expected.malformed_by_reason.values())
    check_decisions_are_exclusive(run)


@FAST
@given(seeds, st.data())
def test_batching_events_into_arrays_changes_no_total(seed, data):
    prog = programme(seed)
    run = Run()
    for event in prog.reference:
        run.deliver(encode(event))
    pending: list[dict] = []
    for item in prog.activity:
        if isinstance(item, str):  # a malformed line cannot be put in an array: sent alone
            run.deliver(item.encode())
            continue
        pending.append(item)
        if data.draw(st.booleans(), label="flush"):
            run.deliver(json.dumps(pending).encode())
            pending = []
    if pending:
        run.deliver(json.dumps(pending).encode())
    totals = run.hours_by_contract(contract_ids(prog))
    assert totals == prog.expected.hours_by_contract
    assert run.delivered == len(prog.reference) + len(prog.activity)
    check_decisions_are_exclusive(run)


# ------------------------------------------------------------------------- hand-built histories

CONTRACT_START, CONTRACT_END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
ELIGIBLE_FROM = dt.date(2024, 3, 15)
ELIGIBLE_UNTIL = dt.date(2024, 9, 30)

# Every boundary of the contract and of the eligibility, and the days either side, drawn often.
BOUNDARIES = sorted({edge + dt.timedelta(days=shift) for edge in (CONTRACT_START, CONTRACT_END, ELIGIBLE_FROM,
                                                                  ELIGIBLE_UNTIL) for shift in (-1, 0, 1)})
timesheets = st.lists(st.tuples(
    st.sampled_from(BOUNDARIES) | st.dates(min_value=dt.date(2023, 11, 1), max_value=dt.date(2025, 2, 28)),
    st.integers(min_value=1, max_value=2400).map(lambda cents: Decimal(cents) / 100),
    st.sampled_from(["b-enrolled-1", "b-stranger-1"]),
    st.sampled_from(["gpe-c001", "gpe-c999"]),
), max_size=30)


@settings(max_examples=60, deadline=None)
@given(timesheets, st.randoms(use_true_random=False))
def test_random_timesheets_against_a_hand_oracle(rows, rnd):
    reference = [
        {"type": "contract.registered", "event_id": "00000000-0000-4000-8000-000000000001", "schema_version": 1,
         "contract_id": "gpe-c001", "programme_id": "gpe", "operation_id": "L15S", "lot": "GC-01",
         "contractor_siret": "73282932000074", "start_date": str(CONTRACT_START), "end_date": str(CONTRACT_END),
         "target_hours": 1000},
        {"type": "beneficiary.enrolled", "event_id": "00000000-0000-4000-8000-000000000002", "schema_version": 1,
         "beneficiary_id": "b-enrolled-1", "facilitator_id": "fac-01", "criteria": ["rqth"],
         "eligible_from": str(ELIGIBLE_FROM), "eligible_until": str(ELIGIBLE_UNTIL)},
    ]
    events = [{"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-8000-{n + 10:012d}",
               "schema_version": 1, "contract_id": contract, "beneficiary_id": who, "work_date": str(day),
               "hours": float(hours), "mode": "direct_hire", "submitted_at": f"{day}T18:00:00+00:00"}
              for n, (day, hours, who, contract) in enumerate(rows)]
    # The oracle: the hours count when the contract is known and covers the day, and the person is
    # enrolled and eligible that day. Written here with plain comparisons.
    expected = sum((Decimal(str(e["hours"])) for e, (day, _, who, contract) in zip(events, rows)
                    if contract == "gpe-c001" and CONTRACT_START <= day <= CONTRACT_END
                    and who == "b-enrolled-1" and ELIGIBLE_FROM <= day <= ELIGIBLE_UNTIL), Decimal(0))
    delivered = events + [rnd.choice(events) for _ in range(len(events) // 2)] if events else []
    rnd.shuffle(delivered)
    run = Run()
    for event in reference + delivered:
        run.deliver(encode(event))
    totals = run.hours_by_contract(["gpe-c001"])
    assert totals == {"gpe-c001": expected}
    check_decisions_are_exclusive(run)
    assert run.accepted == len(reference) + sum(1 for d in run.decisions if d.entry is not None)
    check_no_negative(totals, run)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_bytes_get_exactly_one_decision_each(raw):
    run = Run()
    run.deliver(raw)
    check_decisions_are_exclusive(run)
    assert run.rejected == run.delivered  # none of this is a valid event
    items = split_message(raw)
    assert run.delivered == (1 if items is None else len(items))
    for d, item in zip(run.decisions, [raw] if items is None else items):
        assert d.rejection.reason.value in {"invalid_json", "invalid_event"}
        assert d.rejection.payload == item.decode("utf-8", errors="replace")
        assert d.rejection.payload_truncated is False
