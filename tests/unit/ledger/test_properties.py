"""Properties of the intake desk over random histories (hypothesis).

The oracles are the synthetic generator's ground truth (`expected`, decided by construction and not
by the ledger's rules) and, for the hand-built histories, a few lines of plain comparisons written
here. Properties checked:
(a) duplicating or reordering the same activity events (after the reference events) changes no total
    per contract and status;
(b) a correction nets to the corrected value, a retraction to nothing;
(c) the counted entries sum to what the rules allow;
(d) no contract's counted total is ever negative;
(e) posted = accepted + rejected + pending, and nothing is pending once the timeout has passed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from decimal import Decimal
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.entries import EntryKind, EntryStatus, Withheld
from ledger.rulebook import Rulebook
from ledger.rulebook import add_months
from ledger.synthetic import Size, generate
from tests.support.kit import Ledger, encode

SMALL = Size(operations=2, contracts=5, contractors=2, partners=3, beneficiaries=8, days_per_beneficiary=6,
             months=6, malformed_lines=3, duplicate_rate=0.1, unknown_contract_rate=0.05,
             ineligible_rate=0.05, outside_contract_rate=0.05)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIMEOUT = dt.timedelta(hours=168)  # rules/2026.1.toml: pending_timeout_hours

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@lru_cache(maxsize=64)
def programme(seed: int):
    return generate(seed, SMALL)


def contract_ids(prog) -> list[str]:
    return [e["contract_id"] for e in prog.reference if e["type"] == "contract.registered"]


def check_accounting(ledger: Ledger, delivered: int, settled: bool = False) -> None:
    """(e) every delivery is accepted, rejected or pending (its last word), never two of them."""
    accounting = ledger.accounting()
    assert sum(accounting.values()) == len(ledger.final) == delivered
    assert set(accounting) <= {"accepted", "rejected", "pending"}
    for d in ledger.final.values():
        assert (d.rejection is None) or (d.event is None and d.entries == ())
    if settled:
        assert accounting["pending"] == 0 and ledger.book.parked == {}


def check_not_negative(ledger: Ledger) -> None:
    """(d) no contract's counted total is negative; credits are positive, reversals negative, and
    each reversal undoes one credit of the ledger, once, to the hundredth and with its status."""
    counted = defaultdict(Decimal)
    credits = {e.entry_id: e for e in ledger.entries if e.kind is EntryKind.CREDIT}
    reversed_ids = Counter()
    for e in ledger.entries:
        assert (e.hours > 0) if e.kind is EntryKind.CREDIT else (e.hours < 0 and e.reverses_entry_id is not None)
        if e.kind is EntryKind.REVERSAL:
            credit = credits.get(e.reverses_entry_id)
            assert credit is not None and (credit.hours, credit.status) == (-e.hours, e.status), e
            reversed_ids[e.reverses_entry_id] += 1
        if e.status is EntryStatus.COUNTED:
            counted[e.contract_id] += e.hours
    assert all(total >= 0 for total in counted.values())
    assert all(n == 1 for n in reversed_ids.values())


def check_against_the_generator(ledger: Ledger, prog) -> None:
    expected = prog.expected
    counted = {cid: ledger.counted(cid) for cid in contract_ids(prog)}
    assert counted == expected.hours_by_contract
    not_counted = Counter()
    for e in ledger.entries:
        if e.status is EntryStatus.NOT_COUNTED:
            not_counted[e.reason] += e.hours
    assert +not_counted == +expected.not_counted_hours_by_reason
    assert ledger.net("flagged") == expected.flagged_hours
    assert ledger.accounting()["accepted"] == expected.accepted


def post_and_settle(ledger: Ledger, items) -> None:
    for n, item in enumerate(items, start=1):
        ledger.post(item)
        if n % 20 == 0:
            check_not_negative(ledger)
    ledger.tick(ledger.now + TIMEOUT)  # what still waits expires
    check_not_negative(ledger)


# ------------------------------------------------------------------------- the synthetic programme

@FAST
@given(seeds)
def test_synthetic_programme_reconciles_phase_by_phase(seed):
    prog = programme(seed)
    ledger = Ledger()
    delivered = 0
    for _, events in prog.phases:
        ledger.post_all(events)
        delivered += len(events)
        check_accounting(ledger, delivered)  # (e) at every phase: pending included
        check_not_negative(ledger)
    assert ledger.accounting()["pending"] > 0  # the timesheets on an unknown contract wait...
    ledger.tick(ledger.now + TIMEOUT)
    check_accounting(ledger, delivered, settled=True)  # ...then expire
    check_against_the_generator(ledger, prog)
    assert ledger.rejections() == prog.expected.rejections_by_reason + prog.expected.malformed_by_reason
    # Every reason an entry carries is one of the codes the dashboards group by.
    assert {e.reason for e in ledger.entries} - {""} <= set(Withheld)


@FAST
@given(seeds, st.data())
def test_reordering_and_duplicating_activity_changes_no_total(seed, data):
    """(a) The activity arrives in any order, some of it twice: the totals per contract and status are
    those of the in-order history, and the generator's."""
    prog = programme(seed)
    in_order = Ledger()
    post_and_settle(in_order, [e for _, events in prog.phases for e in events])

    activity = list(prog.activity)
    shuffled = data.draw(st.permutations(activity), label="order")
    extra = data.draw(st.lists(st.sampled_from(activity), max_size=len(activity)), label="resent")
    for item in extra:  # a resent line lands anywhere after the reference events
        shuffled.insert(data.draw(st.integers(0, len(shuffled)), label="where"), item)
    reordered = Ledger()
    post_and_settle(reordered, [*prog.reference, *shuffled, *prog.follow_up, *prog.resolutions])

    assert reordered.totals() == in_order.totals()
    check_against_the_generator(reordered, prog)
    check_accounting(reordered, len(prog.lines()) + len(extra), settled=True)
    # A resent event is a duplicate; a resent malformed line is malformed again.
    resent = Counter("duplicate_event" if isinstance(item, dict) else _malformed_reason(item) for item in extra)
    assert reordered.rejections() == in_order.rejections() + resent


def _malformed_reason(line: str) -> str:
    try:
        json.loads(line)
    except ValueError:
        return "invalid_json"
    return "invalid_event"


@FAST
@given(seeds, st.data())
def test_a_restart_from_any_checkpoint_decides_the_same(seed, data):
    """A worker restarted from any checkpoint decides what follows it again with the same outputs
    (the same ids, the same rows), and a delivery routed twice is decided once."""
    prog = programme(seed)
    lines = [encode(line) for line in prog.lines()]
    last = len(lines) - 1
    checkpoint = data.draw(st.integers(0, last), label="checkpoint")
    twice = data.draw(st.lists(st.integers(0, last), max_size=10), label="routed twice")
    ledger = Ledger()
    saved = None
    for offset, raw in enumerate(lines):
        if offset == checkpoint:
            saved, rows_before = ledger.book.snapshot(), dict(ledger._rows)
        ledger.post(raw)
        for again in (r for r in twice if r == offset):
            rows, before = len(ledger.entries), dict(ledger.final)
            # Decided once; an invalid event (no id to remember) is rejected again under the same
            # rejection id, which the store keeps once.
            for d in ledger.post(lines[again], offset=again):
                assert d.rejection is not None and d.rejection == before[d.position].rejection
            assert len(ledger.entries) == rows
    restarted = Ledger()
    restarted.book.apply(saved)
    restarted.desk_reindex()
    restarted._rows = rows_before
    for offset in range(checkpoint, len(lines)):
        restarted.post(lines[offset], offset=offset)
    assert restarted._rows == ledger._rows  # byte for byte the same entries, nothing more
    ledger.tick(ledger.now + TIMEOUT)
    check_against_the_generator(ledger, prog)
    check_accounting(ledger, len(lines), settled=True)


@FAST
@given(seeds, st.data())
def test_batching_events_into_arrays_changes_no_total(seed, data):
    prog = programme(seed)
    in_order = Ledger()
    post_and_settle(in_order, [e for _, events in prog.phases for e in events])
    batched = Ledger()
    batched.post_all(prog.reference)
    waiting: list[dict] = []
    for item in [*prog.activity, *prog.follow_up, *prog.resolutions]:
        if isinstance(item, str):  # a malformed line cannot be put in an array: sent alone
            batched.post(item)
            continue
        waiting.append(item)
        if data.draw(st.booleans(), label="flush"):
            batched.post(waiting)
            waiting = []
    if waiting:
        batched.post(waiting)
    batched.tick(batched.now + TIMEOUT)
    assert batched.totals() == in_order.totals()
    check_accounting(batched, len(prog.lines()), settled=True)


# ------------------------------------------------------------------------- hand-built histories

A, B = "73282932000074", "35600000000048"
CONTRACTS = {"gpe-c001": (A, dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
             "gpe-c002": (B, dt.date(2024, 1, 1), dt.date(2024, 12, 31))}
OWN_CONTRACTS = {"gpe-c001": ["gpe-c001"], "gpe-c002": ["gpe-c002"]}  # a correction stays with its contractor
PEOPLE = {  # who: (eligible_from, eligible_until, proof_valid_until); strangers are never enrolled
    "enrolled-0000000001": (dt.date(2024, 3, 15), dt.date(2024, 9, 30), None),
    "enrolled-0000000002": (dt.date(2024, 1, 1), None, dt.date(2024, 10, 31)),  # proof ends before the 24 months
}
WHO = [*PEOPLE, "stranger-0000000001"]
DAILY_MAX, TRAINING_CAP, PERMANENT_MONTHS = Decimal(10), Decimal(20), 12
RULEBOOK_OVERRIDES = {"training_cap_hours": 20}

EDGES = sorted({edge + dt.timedelta(days=shift)
                for edge in (dt.date(2024, 1, 1), dt.date(2024, 12, 31), dt.date(2024, 3, 15), dt.date(2024, 9, 30),
                             dt.date(2024, 10, 31)) for shift in (-1, 0, 1)})
days = st.sampled_from(EDGES) | st.dates(min_value=dt.date(2023, 11, 1), max_value=dt.date(2025, 2, 28))
hours = st.integers(min_value=1, max_value=2400).map(lambda cents: Decimal(cents) / 100)
small_hours = st.sampled_from([Decimal(h) for h in ("0.5", "3.5", "4", "6", "7", "7.5", "8", "9.99", "10", "10.01", "12")])


@st.composite
def histories(draw):
    """Timesheets with at most one per person and day (so that arrival order cannot decide a
    cross-contractor check), some corrected (maybe more than once) or retracted."""
    rows = draw(st.lists(st.tuples(days, small_hours | hours, st.sampled_from(WHO),
                                   st.sampled_from(["gpe-c001", "gpe-c002", "gpe-c999"]),
                                   st.sampled_from(["direct_hire", "permanent", "training"]),
                                   st.integers(0, 500)),
                         max_size=25, unique_by=lambda r: (r[2], r[0])))
    sheets = []
    for n, (day, h, who, contract_id, kind, hired_days_before) in enumerate(rows):
        if kind == "training":
            contract_id = "gpe-c001"  # the training cap is per person: one contract, so no order decides where
        sheet = {"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-8000-{n + 10:012d}",
                 "schema_version": 1, "contract_id": contract_id, "beneficiary_id": who, "work_date": str(day),
                 "hours": float(h), "mode": "training" if kind == "training" else "direct_hire",
                 "submitted_at": f"{day}T18:00:00+00:00"}
        if kind == "permanent":
            sheet.update(hire_type="permanent", hire_date=str(day - dt.timedelta(days=hired_days_before)))
        sheets.append(sheet)
    # Follow-ups of non-training timesheets: a chain of corrections (new hours, maybe another contract),
    # maybe ended by a retraction. (Training is left alone: see test_rule_cases for why.)
    follow_ups = []
    for n, sheet in enumerate(sheets):
        if sheet["mode"] == "training" or not draw(st.booleans()):
            continue
        latest = sheet
        for m in range(draw(st.integers(1, 3))):
            event_id = f"00000000-0000-4000-9{m:03d}-{n + 10:012d}"
            if draw(st.integers(0, 3)) == 0:
                follow_ups.append({"type": "timesheet.retracted", "event_id": event_id, "schema_version": 1,
                                   "original_event_id": latest["event_id"], "beneficiary_id": sheet["beneficiary_id"],
                                   "contract_id": latest["contract_id"], "submitted_at": sheet["submitted_at"]})
                break
            fixed = {**latest, "type": "timesheet.corrected", "event_id": event_id,
                     "original_event_id": latest["event_id"], "hours": float(draw(small_hours)),
                     # the same contractor's contracts: another's would be refused (timesheet_not_yours)
                     "contract_id": draw(st.sampled_from(OWN_CONTRACTS.get(sheet["contract_id"], ["gpe-c001"])))}
            follow_ups.append(fixed)
            latest = fixed
    return sheets, follow_ups


def reference_events() -> list[dict]:
    events = [{"type": "contract.registered", "event_id": f"00000000-0000-4000-8000-00000000000{n}",
               "schema_version": 1, "contract_id": cid, "programme_id": "gpe", "buyer_id": "buyer-sgp",
               "operation_id": "L15S", "lot": "GC-01",
               "contractor_siret": siret, "start_date": str(start), "end_date": str(end), "target_hours": 1000}
              for n, (cid, (siret, start, end)) in enumerate(CONTRACTS.items(), start=1)]
    for n, (who, (since, until, proof)) in enumerate(PEOPLE.items(), start=5):
        person = {"type": "beneficiary.enrolled", "event_id": f"00000000-0000-4000-8000-00000000000{n}",
                  "schema_version": 1, "beneficiary_id": who, "facilitator_id": "fac-01", "criteria": ["rqth"],
                  "eligible_from": str(since)}
        person.update({k: str(v) for k, v in (("eligible_until", until), ("proof_valid_until", proof)) if v})
        events.append(person)
    return events


def oracle(sheets: list[dict], follow_ups: list[dict]) -> dict[str, Decimal]:
    """What the rules allow, contract by contract, written with plain comparisons."""
    final = {s["event_id"]: s for s in sheets}  # each timesheet as its last correction states it
    origin = {s["event_id"]: s["event_id"] for s in sheets}
    for f in follow_ups:
        first = origin[f["original_event_id"]]
        origin[f["event_id"]] = first
        root = next(s for s in sheets if s["event_id"] == first)
        if root["contract_id"] not in CONTRACTS or root["beneficiary_id"] not in PEOPLE:
            continue  # the original waits (then expires): nothing to correct, original_not_found
        final[first] = None if f["type"] == "timesheet.retracted" else f
    counted = {cid: Decimal(0) for cid in CONTRACTS}
    training = defaultdict(Decimal)
    for s in (s for s in final.values() if s is not None):
        day, h, who = dt.date.fromisoformat(s["work_date"]), Decimal(str(s["hours"])), s["beneficiary_id"]
        if s["contract_id"] not in CONTRACTS or who not in PEOPLE:
            continue  # waited for reference data that never came: rejected
        _, start, end = CONTRACTS[s["contract_id"]]
        since, until, proof = PEOPLE[who]
        last = min(d for d in (until or add_months(since, 24) - dt.timedelta(days=1), proof) if d)
        if not (start <= day <= end and since <= day <= last):
            continue
        if "hire_date" in s and day >= add_months(dt.date.fromisoformat(s["hire_date"]), PERMANENT_MONTHS):
            continue
        if h > DAILY_MAX:  # one timesheet a person-day: only its own hours can pass the maximum
            continue
        if s["mode"] == "training":
            training[(who, s["contract_id"])] += h
            continue
        counted[s["contract_id"]] += h
    for (who, cid), h in training.items():
        counted[cid] += min(h, TRAINING_CAP)
    return counted


@settings(max_examples=80, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_counted_hours_are_what_the_rules_allow(history, rnd):
    """(c) + (a) + (d) + (e) on hand-built histories, against the oracle above."""
    sheets, follow_ups = history
    expected = oracle(sheets, follow_ups)
    resent = [rnd.choice(sheets) for _ in range(len(sheets) // 3)] if sheets else []
    activity = sheets + resent
    rnd.shuffle(activity)
    ledger = Ledger(Rulebook().with_overrides(**RULEBOOK_OVERRIDES))
    ledger.post_all(reference_events())
    for item in activity + follow_ups:  # a follow-up comes after what it follows
        ledger.post(item)
        check_not_negative(ledger)
        check_accounting(ledger, len(ledger.final))
    ledger.tick(ledger.now + TIMEOUT)
    assert {cid: ledger.counted(cid) for cid in CONTRACTS} == expected
    check_accounting(ledger, len(reference_events()) + len(activity) + len(follow_ups), settled=True)
    assert ledger.rejections()["duplicate_event"] == len(resent)
    # Every hour of a timesheet whose references are known is on the ledger, counting or not.
    unknown = [s for s in sheets if s["contract_id"] not in CONTRACTS or s["beneficiary_id"] not in PEOPLE]
    assert ledger.rejections()["unknown_contract"] + ledger.rejections()["unknown_beneficiary"] == len(unknown)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(small_hours | hours, st.sampled_from(["gpe-c001", "gpe-c003"])), min_size=1, max_size=6),
       st.booleans())
def test_a_correction_nets_to_the_corrected_value(chain, retracted):
    """(b) A timesheet corrected any number of times (across its contractor's contracts) nets to its
    last statement; retracted, to nothing."""
    ledger = Ledger()
    ledger.post_all([*reference_events(), SAME_CONTRACTOR])  # gpe-c003: A's second contract
    latest = None
    for n, (h, cid) in enumerate(chain):
        event = {"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-8000-{n + 10:012d}",
                 "schema_version": 1, "contract_id": cid, "beneficiary_id": "enrolled-0000000001", "work_date": "2024-06-03",
                 "hours": float(h), "mode": "direct_hire", "submitted_at": "2024-06-03T18:00:00+00:00"}
        if latest is not None:
            event.update(type="timesheet.corrected", original_event_id=latest["event_id"])
        assert ledger.one(event).accepted
        latest = event
    if retracted:
        assert ledger.one({"type": "timesheet.retracted", "event_id": "00000000-0000-4000-8000-000000000099",
                           "schema_version": 1, "original_event_id": latest["event_id"],
                           "contract_id": latest["contract_id"],
                           "beneficiary_id": "enrolled-0000000001", "submitted_at": "2024-06-04T18:00:00+00:00"}).accepted
    last_hours, last_contract = chain[-1]
    net = defaultdict(Decimal)
    for e in ledger.entries:
        net[e.contract_id] += e.hours
    want = {} if retracted else {last_contract: last_hours}
    assert {cid: h for cid, h in net.items() if h} == want
    # Counted when within the daily maximum; flagged above it.
    status = "counted" if last_hours <= DAILY_MAX else "flagged"
    assert ledger.totals() == ({} if retracted else {(last_contract, status): last_hours})
    assert len(ledger.standing()) == (0 if retracted else 1)
    check_not_negative(ledger)


# ------------------------------------------------------------------------- arrival order and conflicts

@pytest.mark.parametrize("first, second", [(("gpe-c001", 8), ("gpe-c002", 4)), (("gpe-c001", 7), ("gpe-c002", 7))])
def test_conflicting_claims_give_the_same_totals_in_either_order(first, second):
    def totals(order):
        ledger = Ledger()
        ledger.post_all(reference_events())
        for cid, h in order:  # each timesheet keeps its event_id in either order
            ledger.post({"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-a000-{cid[-3:]:0>12}",
                         "schema_version": 1, "contract_id": cid, "beneficiary_id": "enrolled-0000000001",
                         "work_date": "2024-06-03", "hours": h, "mode": "direct_hire",
                         "submitted_at": "2024-06-03T18:00:00+00:00"})
        return ledger.totals()
    assert totals([first, second]) == totals([second, first])


# A third contract of contractor A, so that two claims of one contractor (daily maximum only) are drawn too.
SAME_CONTRACTOR = {"type": "contract.registered", "event_id": "00000000-0000-4000-8000-000000000003",
                   "schema_version": 1, "contract_id": "gpe-c003", "programme_id": "gpe", "buyer_id": "buyer-sgp",
                   "operation_id": "L15S",
                   "lot": "GC-03", "contractor_siret": A, "start_date": "2024-01-01", "end_date": "2024-12-31",
                   "target_hours": 1000}


@st.composite
def day_claims(draw):
    """Two timesheets on one person's day, from any two contracts (two contractors or one), in any mode."""
    # Mostly a day both people are eligible and the contracts run (else no check applies), sometimes an edge.
    inside = st.dates(min_value=dt.date(2024, 3, 15), max_value=dt.date(2024, 9, 30))
    day = draw(days if draw(st.integers(0, 3)) == 0 else inside)
    who = draw(st.sampled_from(list(PEOPLE)))
    same = draw(st.booleans())  # the same hours twice, or any two amounts
    first = draw(small_hours | hours)
    claims = []
    for n in range(2):
        h = first if n == 0 or same else draw(small_hours | hours)
        kind = draw(st.sampled_from(["direct_hire", "direct_hire", "permanent", "training"]))
        sheet = {"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-b000-{n + 1:012d}",
                 "schema_version": 1, "contract_id": draw(st.sampled_from(["gpe-c001", "gpe-c002", "gpe-c003"])),
                 "beneficiary_id": who, "work_date": str(day), "hours": float(h),
                 "mode": "training" if kind == "training" else "direct_hire", "submitted_at": f"{day}T18:00:00+00:00"}
        if kind == "permanent":
            sheet.update(hire_type="permanent", hire_date=str(day - dt.timedelta(days=draw(st.integers(0, 500)))))
        claims.append(sheet)
    return claims


@settings(max_examples=200, deadline=None)
@given(day_claims())
def test_two_claims_on_a_day_give_the_same_totals_in_either_order(claims):
    """(a) for conflicts: two claims on one person's day (claimed twice, over the daily maximum, or
    neither) give the same totals per contract and status whichever arrives first, because both sides of
    a conflict are flagged."""
    def post(order) -> Ledger:
        ledger = Ledger(Rulebook().with_overrides(**RULEBOOK_OVERRIDES))
        ledger.post_all([*reference_events(), SAME_CONTRACTOR])
        ledger.post_all(order)
        check_not_negative(ledger)
        check_accounting(ledger, len(reference_events()) + 1 + len(order), settled=True)
        return ledger
    forward, backward = post(claims), post(claims[::-1])
    assert forward.totals() == backward.totals()
    # Every declared hour is on the ledger, counting or not, on its own contract.
    declared = defaultdict(Decimal)
    for sheet in claims:
        declared[sheet["contract_id"]] += Decimal(str(sheet["hours"]))
    for ledger in (forward, backward):
        net = defaultdict(Decimal)
        for e in ledger.entries:
            net[e.contract_id] += e.hours
        assert net == declared
    # A conflict is never half-flagged: both claims are counted (or not counted), or both flagged.
    statuses = {status for _, status in forward.totals()}
    assert not {"counted", "flagged"} <= statuses


def test_three_claims_on_a_day_give_the_same_totals_in_any_order():
    # gpe-c001 2 h (contractor A), gpe-c002 5 h (B), gpe-c003 5 h (A): the two 5 h of two contractors are
    # claimed twice, and the day's 2 + 5 + 5 = 12 h are over 10, which flags the 2 h too, in every order.
    claims = [{"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-c000-{n:012d}", "schema_version": 1,
               "contract_id": cid, "beneficiary_id": "enrolled-0000000001", "work_date": "2024-06-03", "hours": h,
               "mode": "direct_hire", "submitted_at": "2024-06-03T18:00:00+00:00"}
              for n, (cid, h) in enumerate([("gpe-c001", 2), ("gpe-c002", 5), ("gpe-c003", 5)])]

    def totals(order):
        ledger = Ledger()
        ledger.post_all([*reference_events(), SAME_CONTRACTOR, *order])
        return ledger.totals()
    flagged = {("gpe-c001", "flagged"): Decimal(2), ("gpe-c002", "flagged"): Decimal(5),
               ("gpe-c003", "flagged"): Decimal(5)}
    assert all(totals([claims[i] for i in order]) == flagged for order in itertools.permutations(range(3)))


def test_claims_under_different_daily_maximums_give_the_same_totals_in_either_order():
    rulebook = Rulebook.from_dict({"version": "t", "contracts": {"gpe-c001": {"daily_max_hours": 12}}})
    claims = [{"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-c000-{n:012d}", "schema_version": 1,
               "contract_id": cid, "beneficiary_id": "enrolled-0000000001", "work_date": "2024-06-03", "hours": h,
               "mode": "direct_hire", "submitted_at": "2024-06-03T18:00:00+00:00"}
              for n, (cid, h) in enumerate([("gpe-c001", 8), ("gpe-c002", 4)])]

    def totals(order):
        ledger = Ledger(rulebook)
        ledger.post_all([*reference_events(), *order])
        return ledger.totals()
    # 8 + 4 = 12: within gpe-c001's 12, over gpe-c002's 10. Each claim is held to its own contract's maximum.
    expected = {("gpe-c001", "counted"): Decimal(8), ("gpe-c002", "flagged"): Decimal(4)}
    assert totals(claims) == totals(claims[::-1]) == expected


@st.composite
def a_persons_week(draw):
    """Up to six timesheets of one person over three days, on three contracts of two contractors (one
    with its own daily maximum), direct hire or training (under a 20 h cap), some retracted later."""
    who = draw(st.sampled_from(list(PEOPLE)))
    sheets = []
    for n in range(draw(st.integers(1, 6))):
        day = dt.date(2024, 6, 3) + dt.timedelta(days=draw(st.integers(0, 2)))
        sheets.append({"type": "timesheet.submitted", "event_id": f"00000000-0000-4000-d000-{n + 1:012d}",
                       "schema_version": 1, "contract_id": draw(st.sampled_from(["gpe-c001", "gpe-c002", "gpe-c003"])),
                       "beneficiary_id": who, "work_date": str(day), "hours": float(draw(small_hours)),
                       "mode": draw(st.sampled_from(["direct_hire", "training"])),
                       "submitted_at": f"{day}T18:00:00+00:00"})
    retracted = draw(st.lists(st.sampled_from(sheets), unique_by=lambda s: s["event_id"], max_size=len(sheets)))
    retractions = [{"type": "timesheet.retracted", "event_id": f"00000000-0000-4000-e000-{n + 1:012d}",
                    "schema_version": 1, "original_event_id": sheet["event_id"], "beneficiary_id": who,
                    "contract_id": sheet["contract_id"], "submitted_at": f"{sheet['work_date']}T19:00:00+00:00"} for n, sheet in enumerate(retracted)]
    return sheets, retractions


@settings(max_examples=300, deadline=None)
@given(a_persons_week(), st.data())
def test_a_persons_claims_give_the_same_totals_in_any_order(week, data):
    """(a) for everything that depends on a person's other claims (claimed twice, the daily maximum,
    each contract's own maximum, the training cap, retractions freeing a day or training room): any
    order of the timesheets, then of the retractions, gives the same totals as the order posted."""
    sheets, retractions = week
    rulebook = Rulebook.from_dict({"version": "t", "defaults": {"training_cap_hours": 20},
                                   "contracts": {"gpe-c001": {"daily_max_hours": 12}}})

    def post(order) -> Ledger:
        ledger = Ledger(rulebook)
        ledger.post_all([*reference_events(), SAME_CONTRACTOR, *order])
        check_not_negative(ledger)
        check_accounting(ledger, len(reference_events()) + 1 + len(order), settled=True)
        assert ledger.accounting()["accepted"] == len(reference_events()) + 1 + len(order)
        return ledger
    in_order = post([*sheets, *retractions])
    shuffled = post([*data.draw(st.permutations(sheets), label="sheets"),
                     *data.draw(st.permutations(retractions), label="retractions")])
    assert shuffled.totals() == in_order.totals()
    # What stands is what was declared and not retracted, on its own contract, counting or not.
    gone = {r["original_event_id"] for r in retractions}
    declared = defaultdict(Decimal)
    for sheet in sheets:
        if sheet["event_id"] not in gone:
            declared[sheet["contract_id"]] += Decimal(str(sheet["hours"]))
    net = defaultdict(Decimal)
    for e in shuffled.entries:
        net[e.contract_id] += e.hours
    assert +Counter(net) == +Counter(declared)
    # Never more counted training than the cap, whichever order.
    training = sum((e.hours for e in shuffled.entries if e.mode == "training" and e.status is EntryStatus.COUNTED),
                   Decimal(0))
    assert training <= 20


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_bytes_get_exactly_one_decision_each(raw):
    from streams.worker.routing import events_of as split_message

    ledger = Ledger()
    decisions = ledger.post(raw)
    items = split_message(raw)
    assert len(decisions) == (1 if items is None else len(items))
    check_accounting(ledger, len(decisions))
    assert ledger.accounting() == Counter(rejected=len(decisions))  # none of this is a valid event
    try:  # one JSON value travels without the JSON whitespace around it; other bytes exactly as posted
        json.loads(raw)
        whole = raw.strip(b" \t\r\n")
    except (ValueError, RecursionError):
        whole = raw
    for d, item in zip(decisions, [whole] if items is None else items):
        assert d.rejection.reason.value in {"invalid_json", "invalid_event"}
        assert d.rejection.payload == item.decode("utf-8", errors="replace")
        assert d.rejection.payload_truncated is False
