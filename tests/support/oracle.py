"""The counting rules for one timesheet, composed from validated events: a test oracle.

The desk (ledger/desk.py) applies the rules of ledger/rules.py on plain values, in its own order of
calls; this module composes the same rule functions the way docs/rules.md states them, on pydantic
events and a Rulebook, so that tests can state expectations by rule. It is not product code: a test
that checks it must also check the desk (tests/unit/ledger/test_rules.py runs its tables through
both).
"""

from __future__ import annotations

from decimal import Decimal

from ledger.events import (BeneficiaryEnrolled, ContractRegistered, HireType, Mode, TimesheetCorrected,
                           TimesheetSubmitted)
from ledger.entries import EntryStatus
from ledger.rulebook import Rulebook
from ledger.rules import (ELIGIBLE_ON_CONTRACT, DayClaim, Part, TrainingClaim, Verdict, cross_check,
                          share_training_cap, withheld_on)

Timesheet = TimesheetSubmitted | TimesheetCorrected


def withheld(timesheet: Timesheet, contract: ContractRegistered, beneficiary: BeneficiaryEnrolled,
             rulebook: Rulebook) -> Part | None:
    """The rules on the timesheet alone, in order: why none of its hours can count, or None."""
    day = timesheet.work_date
    months = rulebook.for_contract("permanent_hire_months_counted", contract, day) \
        if timesheet.hire_type is HireType.PERMANENT else None
    return withheld_on(timesheet.hours, day, (contract.start_date, contract.end_date),
                       (beneficiary.eligible_from, rulebook.eligible_until(beneficiary)),
                       timesheet.hire_date if months is not None else None, months)



def evaluate(timesheet: Timesheet, contract: ContractRegistered, beneficiary: BeneficiaryEnrolled,
             rulebook: Rulebook, training_counted: Decimal, same_day: list[DayClaim]) -> Verdict:
    """One timesheet's verdict among the other claims of its day, after `training_counted` hours of
    training: the timesheet's own rules, then the day's checks, then the training cap."""
    part = withheld(timesheet, contract, beneficiary, rulebook)
    if part is not None:
        return Verdict((part,))
    day = timesheet.work_date
    me = DayClaim(str(timesheet.event_id), contract.contractor_siret, timesheet.hours,
                  rulebook.for_contract("daily_max_hours", contract, day))
    flag = cross_check([me, *same_day]).get(me.event_id)
    if flag is not None:
        return Verdict((flag,))
    if timesheet.mode is Mode.TRAINING:
        cap = rulebook.for_contract("training_cap_hours", contract, day)
        return share_training_cap([TrainingClaim(me.event_id, day, timesheet.hours, cap)], training_counted)[me.event_id]
    return Verdict.one(timesheet.hours, EntryStatus.COUNTED, ELIGIBLE_ON_CONTRACT)
