"""Counting rules, as a pure function: month arithmetic, eligibility windows, the order of the rules.

The tables state each rule's verdicts, computed by hand. `evaluate` (tests/support/oracle.py)
composes the rule functions of ledger/rules.py as docs/rules.md states them; the same tables run
through the desk that production runs (the processor of tests/support/kit.py), so that a change to
either the rules or the desk's use of them fails here. test_rule_cases.py has the longer stories.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger import rules
from ledger.entries import EntryStatus
from ledger.events import parse_event
from ledger.rulebook import Rulebook, add_months
from ledger.rules import DayClaim, TrainingClaim, Verdict, cross_check, invoice_hours, share_training_cap
from tests.support.kit import Ledger
from tests.support.oracle import evaluate

D = dt.date.fromisoformat
COUNTED, NOT_COUNTED, FLAGGED = EntryStatus.COUNTED, EntryStatus.NOT_COUNTED, EntryStatus.FLAGGED
OTHER = "35600000000048"  # another contractor's SIRET


@pytest.mark.parametrize("day, months, expected", [
    ("2024-01-31", 1, "2024-02-29"),   # leap February: clamped to the 29th
    ("2023-01-31", 1, "2023-02-28"),   # common year: the 28th
    ("2024-03-15", 24, "2026-03-15"),
    ("2024-02-29", 12, "2025-02-28"),
    ("2024-02-29", 48, "2028-02-29"),
    ("2024-08-31", 1, "2024-09-30"),
    ("2024-11-30", 3, "2025-02-28"),
    ("2024-12-15", 1, "2025-01-15"),   # over the year end
    ("2024-12-31", 12, "2025-12-31"),
    ("2024-01-01", 120, "2034-01-01"),
    ("2024-01-15", 0, "2024-01-15"),
    ("2024-03-31", -1, "2024-02-29"),  # backwards, clamped too
    ("2024-01-15", -1, "2023-12-15"),
    ("2024-01-15", -13, "2022-12-15"),
    ("2024-03-10", 12, "2025-03-10"),  # a permanent hire's first uncounted day
])
def test_add_months(day, months, expected):
    assert add_months(D(day), months) == D(expected)


def enrolment(ev, eligible_from: str, eligible_until: str | None = None, proof_valid_until: str | None = None):
    return parse_event(ev.raw(ev.enrolment(eligible_from=eligible_from,
                                           eligible_until=eligible_until or ...,
                                           proof_valid_until=proof_valid_until or ...)))


@pytest.mark.parametrize("eligible_from, eligible_until, proof, window, expected", [
    # The window is [from, from + N months): its last day is the day before the anniversary.
    ("2024-03-15", None, None, 24, "2026-03-14"),
    ("2024-01-01", None, None, 24, "2025-12-31"),
    ("2024-01-31", None, None, 1, "2024-02-28"),   # anniversary 2024-02-29
    ("2023-01-31", None, None, 1, "2023-02-27"),   # anniversary 2023-02-28
    ("2024-03-31", None, None, 11, "2025-02-27"),  # anniversary 2025-02-28
    ("2024-12-01", None, None, 1, "2024-12-31"),
    ("2024-03-15", None, None, 12, "2025-03-14"),
    ("2024-02-29", None, None, 24, "2026-02-27"),  # anniversary clamped to 2026-02-28
    # An explicit last day wins over the rulebook's window, shorter or longer.
    ("2024-03-15", "2024-05-01", None, 24, "2024-05-01"),
    ("2024-03-15", "2030-01-01", None, 24, "2030-01-01"),
    ("2024-03-15", "2024-03-15", None, 24, "2024-03-15"),
    # The proof's validity ends eligibility at the latest, whichever end it would have had.
    ("2024-03-15", None, "2025-01-31", 24, "2025-01-31"),
    ("2024-03-15", "2030-01-01", "2025-01-31", 24, "2025-01-31"),
    ("2024-03-15", "2024-05-01", "2025-01-31", 24, "2024-05-01"),  # a later proof extends nothing
    ("2024-03-15", None, "2026-03-14", 24, "2026-03-14"),
    ("2024-03-15", None, "2026-03-15", 24, "2026-03-14"),
    ("2024-03-15", None, "2024-03-15", 24, "2024-03-15"),
])
def test_eligible_until(ev, eligible_from, eligible_until, proof, window, expected):
    rulebook = Rulebook().with_overrides(eligibility_window_months=window)
    assert rulebook.eligible_until(enrolment(ev, eligible_from, eligible_until, proof)) == D(expected)


# ------------------------------------------------------------------------------------------ evaluate

SHORT = ("2024-01-01", "2024-12-31")   # a one-year contract
LONG = ("2023-01-01", "2027-12-31")    # a contract covering every eligibility case

PERIOD_AND_ELIGIBILITY = [
    # contract period, (eligible_from, eligible_until), work_date, window months, status, rule, reason
    # --- the contract's period first, then eligibility: a day outside both is outside the contract
    (SHORT, ("2024-03-15", None), "2023-12-31", 24, NOT_COUNTED, rules.CONTRACT_PERIOD, "outside_contract_period"),
    (SHORT, ("2025-06-01", None), "2025-01-01", 24, NOT_COUNTED, rules.CONTRACT_PERIOD, "outside_contract_period"),
    (SHORT, ("2024-03-15", None), "2024-03-14", 24, NOT_COUNTED, rules.ELIGIBILITY_WINDOW,
     "not_eligible_on_work_date"),
    # --- contract period: both ends inclusive
    (SHORT, ("2023-06-01", None), "2024-01-01", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (SHORT, ("2023-06-01", None), "2024-12-31", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (SHORT, ("2023-06-01", None), "2023-12-31", 24, NOT_COUNTED, rules.CONTRACT_PERIOD, "outside_contract_period"),
    (SHORT, ("2023-06-01", None), "2025-01-01", 24, NOT_COUNTED, rules.CONTRACT_PERIOD, "outside_contract_period"),
    # --- eligibility: from and explicit until inclusive
    (SHORT, ("2024-03-15", None), "2024-03-15", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (SHORT, ("2024-03-15", "2024-09-30"), "2024-09-30", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (SHORT, ("2024-03-15", "2024-09-30"), "2024-10-01", 24, NOT_COUNTED, rules.ELIGIBILITY_WINDOW,
     "not_eligible_on_work_date"),
    (SHORT, ("2024-06-03", "2024-06-03"), "2024-06-03", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    # --- default 24-month window: last day 2026-03-14, the anniversary does not count
    (LONG, ("2024-03-15", None), "2026-03-14", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (LONG, ("2024-03-15", None), "2026-03-15", 24, NOT_COUNTED, rules.ELIGIBILITY_WINDOW,
     "not_eligible_on_work_date"),
    # --- other windows
    (LONG, ("2024-01-31", None), "2024-02-28", 1, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (LONG, ("2024-01-31", None), "2024-02-29", 1, NOT_COUNTED, rules.ELIGIBILITY_WINDOW,
     "not_eligible_on_work_date"),
    (LONG, ("2024-03-15", None), "2025-03-14", 12, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (LONG, ("2024-03-15", None), "2025-03-15", 12, NOT_COUNTED, rules.ELIGIBILITY_WINDOW,
     "not_eligible_on_work_date"),
    # --- an explicit until beyond the window still counts; one before it stops earlier
    (LONG, ("2024-03-15", "2027-06-30"), "2027-06-30", 24, COUNTED, rules.ELIGIBLE_ON_CONTRACT, ""),
    (LONG, ("2024-03-15", "2025-01-31"), "2025-02-03", 24, NOT_COUNTED, rules.ELIGIBILITY_WINDOW,
     "not_eligible_on_work_date"),
]


def sheet(ev, **changes):
    return parse_event(ev.raw(ev.timesheet(**changes)))


def agreement(ev, start="2024-01-01", end="2024-12-31", **changes):
    return parse_event(ev.raw(ev.contract(start_date=start, end_date=end, **changes)))


@pytest.mark.parametrize("period, person, work_date, months, status, rule, reason", PERIOD_AND_ELIGIBILITY)
def test_contract_period_and_eligibility(ev, period, person, work_date, months, status, rule, reason):
    verdict = evaluate(sheet(ev, work_date=work_date, hours=7.5), agreement(ev, *period), enrolment(ev, *person),
                       Rulebook().with_overrides(eligibility_window_months=months), Decimal(0), [])
    assert verdict == Verdict.one(Decimal("7.5"), status, rule, reason)


def desk_verdict(ev, rulebook: Rulebook, contract: dict, enrolment: dict, timesheet: dict,
                 before: tuple[dict, ...] = ()) -> Verdict:
    """The verdict the desk records for `timesheet` (its credits' hours, status, rule and reason),
    after the programme, `contract`, `enrolment` and the timesheets `before`."""
    ledger = Ledger(rulebook)
    ledger.post_all([ev.programme(), contract, enrolment, *before])
    assert ledger.one(timesheet).accepted
    return Verdict(tuple((e.hours, e.status, e.rule, e.reason) for e in ledger.entries_of(timesheet)))


@pytest.mark.parametrize("period, person, work_date, months, status, rule, reason", PERIOD_AND_ELIGIBILITY)
def test_contract_period_and_eligibility_on_the_desk(ev, period, person, work_date, months, status, rule, reason):
    verdict = desk_verdict(ev, Rulebook().with_overrides(eligibility_window_months=months),
                           ev.contract(start_date=period[0], end_date=period[1]),
                           ev.enrolment(eligible_from=person[0], eligible_until=person[1] or ...),
                           ev.timesheet(work_date=work_date, hours=7.5))
    assert verdict == Verdict.one(Decimal("7.5"), status, rule, reason)


def test_counting_does_not_look_at_mode_or_hours(ev):
    contract, person = agreement(ev), enrolment(ev, "2024-03-15")
    for mode, partner in [("geiq", ev.PARTNER_SIRET), ("training", ...), ("temp_agency_etti", ev.PARTNER_SIRET),
                          ("siae_placement_ai", ev.PARTNER_SIRET), ("siae_subcontract", ev.PARTNER_SIRET)]:
        for hours in ("0.01", "10"):
            timesheet = sheet(ev, mode=mode, siae_siret=partner, hours=float(hours))
            assert evaluate(timesheet, contract, person, Rulebook(), Decimal(0), []) == \
                Verdict.one(Decimal(hours), COUNTED, rules.ELIGIBLE_ON_CONTRACT)


# Rules after eligibility: (timesheet changes, rulebook overrides, training counted so far, other claims on the
# day as (contractor, hours, status)) -> parts (hours, status, rule, reason). Contract 2024, person from
# 2024-03-15 (24 months), work date 2024-06-03 unless told.
A = "73282932000074"  # the contract's own contractor
LATER_RULES = [
    # --- permanent hire: counted for 12 months from the hire date (hired 2024-03-10: last day 2025-03-09)
    ({"hire_type": "permanent", "hire_date": "2024-03-10", "work_date": "2024-12-31"}, {}, 0, [],
     [("7.5", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    ({"hire_type": "permanent", "hire_date": "2023-06-03", "work_date": "2024-06-02"}, {}, 0, [],
     [("7.5", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    ({"hire_type": "permanent", "hire_date": "2023-06-03", "work_date": "2024-06-03"}, {}, 0, [],
     [("7.5", NOT_COUNTED, rules.PERMANENT_HIRE_CAP, "permanent_hire_cap_reached")]),
    ({"hire_type": "permanent", "hire_date": "2024-01-15", "work_date": "2024-06-03"},
     {"permanent_hire_months_counted": 4}, 0, [],  # 2024-01-15 + 4 months = 2024-05-15
     [("7.5", NOT_COUNTED, rules.PERMANENT_HIRE_CAP, "permanent_hire_cap_reached")]),
    # fixed-term and apprenticeship hires have no such cap
    ({"hire_type": "fixed_term", "hire_date": "2020-01-06"}, {}, 0, [], [("7.5", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    ({"hire_type": "apprenticeship", "hire_date": "2020-01-06"}, {}, 0, [],
     [("7.5", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    # --- training: 150 h per person, the overflow recorded as not counted
    ({"mode": "training", "hours": 8}, {}, 142, [], [("8", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    ({"mode": "training", "hours": 8}, {}, 144, [],
     [("6", COUNTED, rules.TRAINING_CAP, ""), ("2", NOT_COUNTED, rules.TRAINING_CAP, "training_cap_reached")]),
    ({"mode": "training", "hours": 8}, {}, 150, [], [("8", NOT_COUNTED, rules.TRAINING_CAP, "training_cap_reached")]),
    ({"mode": "training", "hours": 8}, {"training_cap_hours": 20}, 15, [],
     [("5", COUNTED, rules.TRAINING_CAP, ""), ("3", NOT_COUNTED, rules.TRAINING_CAP, "training_cap_reached")]),
    ({"hours": 8}, {}, 150, [], [("8", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),  # only training is capped
    # --- the daily maximum across contractors: 10 h
    ({"hours": 2}, {}, 0, [(OTHER, "8", COUNTED)], [("2", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    ({"hours": 4}, {}, 0, [(OTHER, "8", COUNTED)], [("4", FLAGGED, rules.DAILY_MAXIMUM, "daily_maximum_exceeded")]),
    ({"hours": 2.01}, {}, 0, [(A, "8", COUNTED)], [("2.01", FLAGGED, rules.DAILY_MAXIMUM, "daily_maximum_exceeded")]),
    ({"hours": 4}, {"daily_max_hours": 12}, 0, [(OTHER, "8", COUNTED)], [("4", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    # claims withheld by their own rules are not work on the ledger; flagged ones still are
    ({"hours": 4}, {}, 0, [(OTHER, "8", NOT_COUNTED)], [("4", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),
    ({"hours": 4}, {}, 0, [(OTHER, "3", COUNTED), (OTHER, "4", FLAGGED)],
     [("4", FLAGGED, rules.CLAIMED_TWICE, "claimed_by_two_contractors")]),
    ({"hours": 3.5}, {}, 0, [(OTHER, "3", COUNTED), (OTHER, "4", FLAGGED)],
     [("3.5", FLAGGED, rules.DAILY_MAXIMUM, "daily_maximum_exceeded")]),
    # --- the same hours claimed by two contractors, even under the maximum
    ({"hours": 5}, {}, 0, [(OTHER, "5", COUNTED)], [("5", FLAGGED, rules.CLAIMED_TWICE, "claimed_by_two_contractors")]),
    ({"hours": 5}, {}, 0, [(A, "5", COUNTED)], [("5", COUNTED, rules.ELIGIBLE_ON_CONTRACT, "")]),  # same contractor
    ({"hours": 7}, {}, 0, [(OTHER, "7", COUNTED)], [("7", FLAGGED, rules.CLAIMED_TWICE, "claimed_by_two_contractors")]),
    # --- the order of the rules: eligibility before the checks, checks before the training cap
    ({"work_date": "2024-03-14", "hours": 4}, {}, 0, [(OTHER, "8", COUNTED)],
     [("4", NOT_COUNTED, rules.ELIGIBILITY_WINDOW, "not_eligible_on_work_date")]),
    ({"hire_type": "permanent", "hire_date": "2023-01-02", "hours": 4}, {}, 0, [(OTHER, "8", COUNTED)],
     [("4", NOT_COUNTED, rules.PERMANENT_HIRE_CAP, "permanent_hire_cap_reached")]),
    ({"mode": "training", "hours": 4}, {}, 150, [(OTHER, "8", COUNTED)],
     [("4", FLAGGED, rules.DAILY_MAXIMUM, "daily_maximum_exceeded")]),
]


@pytest.mark.parametrize("changes, overrides, trained, same_day, parts", LATER_RULES)
def test_rules_after_eligibility(ev, changes, overrides, trained, same_day, parts):
    changes = {"hours": 7.5, **changes}
    rulebook = Rulebook().with_overrides(**overrides)
    # The desk gives `evaluate` only the day's work: claims withheld by their own rules are not.
    claims = [DayClaim(f"claim-{n}", siret, Decimal(hours), daily_max=Decimal(10))
              for n, (siret, hours, status) in enumerate(same_day) if status is not NOT_COUNTED]
    verdict = evaluate(sheet(ev, **changes), agreement(ev), enrolment(ev, "2024-03-15"), rulebook,
                       Decimal(trained), claims)
    assert verdict == Verdict(tuple((Decimal(h), status, rule, reason) for h, status, rule, reason in parts))
    assert sum(h for h, *_ in verdict.parts) == Decimal(str(changes["hours"]))  # every hour is recorded


@pytest.mark.parametrize("changes, overrides, trained, same_day, parts",
                         [case for case in LATER_RULES if not case[3]])
def test_rules_after_eligibility_on_the_desk(ev, changes, overrides, trained, same_day, parts):
    """The cases of one claim on its day; the training counted before is earlier training days."""
    changes = {"hours": 7.5, **changes}
    before = []
    for n, hours in enumerate([8] * (trained // 8) + ([trained % 8] if trained % 8 else [])):
        before.append(ev.timesheet(mode="training", hours=hours, work_date=f"2024-05-{n + 1:02d}"))
    verdict = desk_verdict(ev, Rulebook().with_overrides(**overrides), ev.contract(),
                           ev.enrolment(eligible_from="2024-03-15"), ev.timesheet(**changes), tuple(before))
    assert verdict == Verdict(tuple((Decimal(h), status, rule, reason) for h, status, rule, reason in parts))


def test_a_contract_override_of_the_daily_maximum(ev):
    rulebook = Rulebook.from_dict({"version": "t", "contracts": {"gpe-c001": {"daily_max_hours": 12}}})
    claims = [DayClaim("other", OTHER, Decimal(8), daily_max=Decimal(10))]
    person = enrolment(ev, "2024-03-15")
    assert evaluate(sheet(ev, hours=4), agreement(ev), person, rulebook, Decimal(0), claims).parts[0][1] is COUNTED
    elsewhere = agreement(ev, contract_id="gpe-c002")
    assert evaluate(sheet(ev, hours=4, contract_id="gpe-c002"), elsewhere, person, rulebook, Decimal(0),
                    claims).parts[0][1] is FLAGGED


# A day's claims as (contractor, hours, own daily maximum, resolved) -> the flagged ones' reasons, by index.
CROSS_CHECKS = [
    ([(A, "8", 10, False)], {}),
    ([(A, "8", 10, False), (OTHER, "2", 10, False)], {}),  # 10 h: not over
    ([(A, "8", 10, False), (OTHER, "4", 10, False)], {0: "daily_maximum_exceeded", 1: "daily_maximum_exceeded"}),
    ([(A, "8", 12, False), (OTHER, "4", 10, False)], {1: "daily_maximum_exceeded"}),  # each its own maximum
    ([(A, "5", 10, False), (OTHER, "5", 10, False)], {0: "claimed_by_two_contractors", 1: "claimed_by_two_contractors"}),
    ([(A, "5", 10, False), (A, "5", 10, False)], {}),  # one contractor on two contracts: 10 h, not over
    ([(A, "2", 10, False), (OTHER, "5", 10, False), (A, "5", 10, False)],  # a pair claimed twice, and 12 h
     {0: "daily_maximum_exceeded", 1: "claimed_by_two_contractors", 2: "claimed_by_two_contractors"}),
    ([(A, "8", 10, True), (OTHER, "4", 10, False)], {1: "daily_maximum_exceeded"}),  # resolved: weighs, never flagged
    ([(A, "7", 10, True), (OTHER, "7", 10, False)], {1: "claimed_by_two_contractors"}),
]


@pytest.mark.parametrize("day, flagged", CROSS_CHECKS)
def test_cross_check_flags_depend_on_the_day_as_a_set(day, flagged):
    claims = [DayClaim(f"c{n}", siret, Decimal(h), Decimal(most), resolved) for n, (siret, h, most, resolved) in enumerate(day)]
    for order in (claims, claims[::-1]):
        flags = cross_check(order)
        assert {k: part[3] for k, part in flags.items()} == {f"c{n}": reason for n, reason in flagged.items()}
        assert all(part[0] == claims[int(k[1:])].hours and part[1] is FLAGGED for k, part in flags.items())


def test_training_cap_is_shared_out_by_work_date_then_event_id():
    day = dt.date(2024, 6, 3)
    claims = [TrainingClaim("b", day + dt.timedelta(days=1), Decimal(8), Decimal(20)),
              TrainingClaim("c", day, Decimal(8), Decimal(20)),
              TrainingClaim("a", day + dt.timedelta(days=1), Decimal(8), Decimal(20)),
              TrainingClaim("d", day + dt.timedelta(days=2), Decimal(8), Decimal(20))]
    verdicts = share_training_cap(claims)
    # c (day 0) 8, a (day 1, first by id) 8, b (day 1) 4 + 4 withheld, d (day 2) 8 withheld
    assert [(h, st, reason) for h, st, _, reason in verdicts["c"].parts] == [(Decimal(8), COUNTED, "")]
    assert [(h, st, reason) for h, st, _, reason in verdicts["a"].parts] == [(Decimal(8), COUNTED, "")]
    assert [(h, st, reason) for h, st, _, reason in verdicts["b"].parts] == \
        [(Decimal(4), COUNTED, ""), (Decimal(4), NOT_COUNTED, "training_cap_reached")]
    assert [(h, st, reason) for h, st, _, reason in verdicts["d"].parts] == \
        [(Decimal(8), NOT_COUNTED, "training_cap_reached")]
    assert share_training_cap(claims[::-1]) == verdicts
    # hours counted before these claims take their room first
    assert share_training_cap(claims, already=Decimal(20))["c"].parts[0][1] is NOT_COUNTED


@pytest.mark.parametrize("amount, share, cost, expected", [
    ("28000", "0.4", "28", "400.00"),      # 11,200 / 28
    ("28000", "0.5", "28", "500.00"),      # the rulebook's default labour share
    ("10000", "0.5", "28", "178.57"),      # 5,000 / 28 = 178.571...
    ("12345.67", "0.35", "25", "172.84"),  # 4,320.9845 / 25 = 172.83938
    ("1", "1", "3", "0.33"),
    ("0.70", "1", "28", "0.03"),           # 0.025 exactly: half up, as targets (half-even gave 0.02)
])
def test_invoice_hours(amount, share, cost, expected):
    assert invoice_hours(Decimal(amount), Decimal(share), Decimal(cost)) == Decimal(expected)
