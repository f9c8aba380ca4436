"""Counting rules: when do declared hours count as insertion hours.

This first rulebook holds one rule, the clause's core: hours count when the contract exists and
covers the work date, and the beneficiary is eligible on that date. Its parameters are documented
defaults, not found in a source (see docs/rules.md).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from ledger.entries import Reason
from ledger.events import BeneficiaryEnrolled, ContractRegistered, TimesheetSubmitted


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Rulebook:
    version: str = "2026.1"
    # Assumption (no source found): eligibility lasts 24 months after validation, like a PASS IAE.
    eligibility_window_months: int = 24

    def eligible_until(self, beneficiary: BeneficiaryEnrolled) -> dt.date:
        if beneficiary.eligible_until is not None:
            return beneficiary.eligible_until
        # The window is [from, from + N months): its last day is the day before the anniversary.
        return add_months(beneficiary.eligible_from, self.eligibility_window_months) - dt.timedelta(days=1)


ELIGIBLE_ON_CONTRACT = "eligible_on_contract"


def why_not_counted(timesheet: TimesheetSubmitted, contract: ContractRegistered | None,
                    beneficiary: BeneficiaryEnrolled | None, rulebook: Rulebook) -> tuple[Reason, str] | None:
    """None when the hours count; otherwise the reason code and a sentence for the sender."""
    if contract is None:
        return Reason.UNKNOWN_CONTRACT, f"contract {timesheet.contract_id} is not registered"
    if not contract.start_date <= timesheet.work_date <= contract.end_date:
        return (Reason.OUTSIDE_CONTRACT_PERIOD,
                f"work_date {timesheet.work_date} is outside contract {contract.contract_id} "
                f"({contract.start_date} to {contract.end_date})")
    if beneficiary is None:
        return Reason.UNKNOWN_BENEFICIARY, f"beneficiary {timesheet.beneficiary_id} is not enrolled"
    until = rulebook.eligible_until(beneficiary)
    if not beneficiary.eligible_from <= timesheet.work_date <= until:
        return (Reason.NOT_ELIGIBLE_ON_WORK_DATE,
                f"work_date {timesheet.work_date} is outside the eligibility of beneficiary "
                f"{beneficiary.beneficiary_id} ({beneficiary.eligible_from} to {until})")
    return None
