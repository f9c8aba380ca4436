"""Counting rules: whether, and how much of, a declared timesheet counts as insertion hours.

Each rule has a name that ledger entries record (`rule`), and a reason code for hours that do not
count (`reason`). docs/rules.md lists them with their parameters and sources.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ledger.entries import EntryStatus
from ledger.events import BeneficiaryEnrolled, ContractRegistered, HireType, Mode, TimesheetCorrected, TimesheetSubmitted
from ledger.rulebook import Rulebook

# Rule names, as recorded on entries.
ELIGIBLE_ON_CONTRACT = "eligible_on_contract"
CONTRACT_PERIOD = "contract_period"
ELIGIBILITY_WINDOW = "eligibility_window"
PERMANENT_HIRE_CAP = "permanent_hire_cap"
TRAINING_CAP = "training_cap"
DAILY_MAXIMUM = "daily_maximum"
CLAIMED_TWICE = "claimed_twice"
SIAE_INVOICE_CONVERSION = "siae_invoice_conversion"
FACILITATOR_RESOLUTION = "facilitator_resolution"
REVERSAL = "reversal"


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Verdict:
    """How a timesheet's hours are recorded: one or two parts (a cap may split them)."""

    parts: tuple[tuple[Decimal, EntryStatus, str, str], ...]  # (hours, status, rule, reason)

    @classmethod
    def one(cls, hours: Decimal, status: EntryStatus, rule: str, reason: str = "") -> Verdict:
        return cls(((hours, status, rule, reason),))


@dataclass(frozen=True)
class DayClaim:
    """Another claim on the same person and day, as the cross-contractor checks see it."""

    event_id: str
    contractor_siret: str
    hours: Decimal
    status: EntryStatus


Timesheet = TimesheetSubmitted | TimesheetCorrected


def evaluate(timesheet: Timesheet, contract: ContractRegistered, beneficiary: BeneficiaryEnrolled,
             rulebook: Rulebook, training_counted: Decimal, same_day: list[DayClaim]) -> Verdict:
    """The rules, in order; the first that withholds the hours decides why."""
    hours, day = timesheet.hours, timesheet.work_date
    if not contract.start_date <= day <= contract.end_date:
        return Verdict.one(hours, EntryStatus.NOT_COUNTED, CONTRACT_PERIOD, "outside_contract_period")
    until = rulebook.eligible_until(beneficiary)
    if not beneficiary.eligible_from <= day <= until:
        return Verdict.one(hours, EntryStatus.NOT_COUNTED, ELIGIBILITY_WINDOW, "not_eligible_on_work_date")
    if timesheet.hire_type is HireType.PERMANENT:
        months = rulebook.for_contract("permanent_hire_months_counted", contract, day)
        if day >= add_months(timesheet.hire_date, months):
            return Verdict.one(hours, EntryStatus.NOT_COUNTED, PERMANENT_HIRE_CAP, "permanent_hire_cap_reached")

    daily_max = rulebook.for_contract("daily_max_hours", contract, day)
    held = [c for c in same_day if c.status is not EntryStatus.NOT_COUNTED]
    if any(c.contractor_siret != contract.contractor_siret and c.hours == hours for c in held):
        return Verdict.one(hours, EntryStatus.FLAGGED, CLAIMED_TWICE, "claimed_by_two_contractors")
    if sum((c.hours for c in held), hours) > daily_max:
        return Verdict.one(hours, EntryStatus.FLAGGED, DAILY_MAXIMUM, "daily_maximum_exceeded")

    if timesheet.mode is Mode.TRAINING:
        room = max(Decimal(0), rulebook.for_contract("training_cap_hours", contract, day) - training_counted)
        if hours > room:
            parts = [(hours - room, EntryStatus.NOT_COUNTED, TRAINING_CAP, "training_cap_reached")]
            if room:
                parts.insert(0, (room, EntryStatus.COUNTED, TRAINING_CAP, ""))
            return Verdict(tuple(parts))
    return Verdict.one(hours, EntryStatus.COUNTED, ELIGIBLE_ON_CONTRACT)


def invoice_hours(amount_eur: Decimal, labour_share: Decimal, hourly_cost_eur: Decimal) -> Decimal:
    """An SIAE invoice as hours: amount x labour share / loaded hourly cost (assumption, see docs)."""
    return (amount_eur * labour_share / hourly_cost_eur).quantize(Decimal("0.01"))
