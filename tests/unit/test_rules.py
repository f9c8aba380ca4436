"""Counting rules, with hand-computed dates: month arithmetic, eligibility windows, reason order."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.entries import Reason
from ledger.events import parse_event
from ledger.rules import Rulebook, add_months, why_not_counted

D = dt.date.fromisoformat


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
])
def test_add_months(day, months, expected):
    assert add_months(D(day), months) == D(expected)


def test_rulebook_defaults():
    rulebook = Rulebook()
    assert rulebook.eligibility_window_months == 24
    assert rulebook.version == "2026.1"


def enrolment(ev, eligible_from: str, eligible_until: str | None = None):
    return parse_event(ev.raw(ev.enrolment(eligible_from=eligible_from,
                                           eligible_until=eligible_until if eligible_until else ...)))


@pytest.mark.parametrize("eligible_from, eligible_until, window, expected", [
    # The window is [from, from + N months): its last day is the day before the anniversary.
    ("2024-03-15", None, 24, "2026-03-14"),
    ("2024-01-01", None, 24, "2025-12-31"),
    ("2024-01-31", None, 1, "2024-02-28"),   # anniversary 2024-02-29
    ("2023-01-31", None, 1, "2023-02-27"),   # anniversary 2023-02-28
    ("2024-03-31", None, 11, "2025-02-27"),  # anniversary 2025-02-28
    ("2024-12-01", None, 1, "2024-12-31"),
    ("2024-03-15", None, 12, "2025-03-14"),
    ("2024-02-29", None, 24, "2026-02-27"),  # anniversary clamped to 2026-02-28 (see report)
    # An explicit last day wins over the rulebook's window, shorter or longer.
    ("2024-03-15", "2024-05-01", 24, "2024-05-01"),
    ("2024-03-15", "2030-01-01", 24, "2030-01-01"),
    ("2024-03-15", "2024-03-15", 24, "2024-03-15"),
])
def test_eligible_until(ev, eligible_from, eligible_until, window, expected):
    rulebook = Rulebook(eligibility_window_months=window)
    assert rulebook.eligible_until(enrolment(ev, eligible_from, eligible_until)) == D(expected)


SHORT = ("2024-01-01", "2024-12-31")   # a one-year contract
LONG = ("2023-01-01", "2027-12-31")    # a contract covering every eligibility case


CASES = [
    # contract, (eligible_from, eligible_until) or None, work_date, window, reason, detail fragment
    # --- reason order: unknown contract, then outside period, then unknown beneficiary, then eligibility
    (None, None, "2024-06-03", 24, Reason.UNKNOWN_CONTRACT, "contract gpe-c001 is not registered"),
    (None, ("2024-03-15", None), "2024-01-10", 24, Reason.UNKNOWN_CONTRACT, "contract gpe-c001 is not registered"),
    (SHORT, None, "2025-01-01", 24, Reason.OUTSIDE_CONTRACT_PERIOD,
     "work_date 2025-01-01 is outside contract gpe-c001 (2024-01-01 to 2024-12-31)"),
    (SHORT, ("2024-03-15", None), "2023-12-31", 24, Reason.OUTSIDE_CONTRACT_PERIOD,
     "work_date 2023-12-31 is outside contract gpe-c001 (2024-01-01 to 2024-12-31)"),
    (SHORT, None, "2024-06-03", 24, Reason.UNKNOWN_BENEFICIARY, "beneficiary b-3f9a1c2e7d is not enrolled"),
    (SHORT, ("2024-03-15", None), "2024-03-14", 24, Reason.NOT_ELIGIBLE_ON_WORK_DATE,
     "work_date 2024-03-14 is outside the eligibility of beneficiary b-3f9a1c2e7d (2024-03-15 to 2026-03-14)"),
    # --- contract period: both ends inclusive
    (SHORT, ("2023-06-01", None), "2024-01-01", 24, None, None),
    (SHORT, ("2023-06-01", None), "2024-12-31", 24, None, None),
    (SHORT, ("2023-06-01", None), "2023-12-31", 24, Reason.OUTSIDE_CONTRACT_PERIOD, "(2024-01-01 to 2024-12-31)"),
    (SHORT, ("2023-06-01", None), "2025-01-01", 24, Reason.OUTSIDE_CONTRACT_PERIOD, "(2024-01-01 to 2024-12-31)"),
    # --- eligibility: from and explicit until inclusive
    (SHORT, ("2024-03-15", None), "2024-03-15", 24, None, None),
    (SHORT, ("2024-03-15", "2024-09-30"), "2024-09-30", 24, None, None),
    (SHORT, ("2024-03-15", "2024-09-30"), "2024-10-01", 24, Reason.NOT_ELIGIBLE_ON_WORK_DATE,
     "(2024-03-15 to 2024-09-30)"),
    (SHORT, ("2024-06-03", "2024-06-03"), "2024-06-03", 24, None, None),
    # --- default 24-month window: last day 2026-03-14, the anniversary does not count
    (LONG, ("2024-03-15", None), "2026-03-14", 24, None, None),
    (LONG, ("2024-03-15", None), "2026-03-15", 24, Reason.NOT_ELIGIBLE_ON_WORK_DATE, "(2024-03-15 to 2026-03-14)"),
    # --- other windows
    (LONG, ("2024-01-31", None), "2024-02-28", 1, None, None),
    (LONG, ("2024-01-31", None), "2024-02-29", 1, Reason.NOT_ELIGIBLE_ON_WORK_DATE, "(2024-01-31 to 2024-02-28)"),
    (LONG, ("2024-03-15", None), "2025-03-14", 12, None, None),
    (LONG, ("2024-03-15", None), "2025-03-15", 12, Reason.NOT_ELIGIBLE_ON_WORK_DATE, "(2024-03-15 to 2025-03-14)"),
    # --- an explicit until beyond the window still counts; one before it stops earlier
    (LONG, ("2024-03-15", "2027-06-30"), "2027-06-30", 24, None, None),
    (LONG, ("2024-03-15", "2025-01-31"), "2025-02-03", 24, Reason.NOT_ELIGIBLE_ON_WORK_DATE,
     "(2024-03-15 to 2025-01-31)"),
]


@pytest.mark.parametrize("period, window_of_person, work_date, months, reason, fragment", CASES)
def test_why_not_counted(ev, period, window_of_person, work_date, months, reason, fragment):
    contract = None if period is None else parse_event(ev.raw(ev.contract(start_date=period[0], end_date=period[1])))
    beneficiary = None if window_of_person is None else enrolment(ev, *window_of_person)
    timesheet = parse_event(ev.raw(ev.timesheet(work_date=work_date)))
    result = why_not_counted(timesheet, contract, beneficiary, Rulebook(eligibility_window_months=months))
    if reason is None:
        assert result is None
    else:
        assert result is not None
        assert result[0] is reason
        assert fragment in result[1]


def test_why_not_counted_does_not_look_at_mode_or_hours(ev):
    contract = parse_event(ev.raw(ev.contract()))
    beneficiary = enrolment(ev, "2024-03-15")
    for mode, partner in [("geiq", ev.PARTNER_SIRET), ("training", ...), ("temp_agency_etti", ev.PARTNER_SIRET)]:
        for hours in (0.01, 24):
            timesheet = parse_event(ev.raw(ev.timesheet(mode=mode, siae_siret=partner, hours=hours)))
            assert why_not_counted(timesheet, contract, beneficiary, Rulebook()) is None
