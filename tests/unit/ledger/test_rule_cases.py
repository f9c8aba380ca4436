"""Issue 3's rules through the intake desk: one table of hand-computed cases, then a few timelines.

Every case starts from the same reference data (`background()`): programme gpe; contracts gpe-c001
(contractor A, 2024), gpe-c002 (contractor B, 2024), gpe-c003 (contractor A again, 2024) and gpe-c010
(contractor A, 2023-2027); beneficiary b-3f9a1c2e7d eligible from 2024-03-15 for the rulebook's window
(24 months: last day 2026-03-14). Stream time starts at T0 and moves only when a case says so.

A case's steps are events posted in order, ("tick", hours) (the worker's clock moves on with no
event: `Desk.tick`) or ("wait", hours) (the next event carries a later stream time). It states:
- states: the final word on each posted event: "accepted", "pending:<reason>" or "rejected:<reason>";
- last: the entries the last step wrote (its own decision's, then those of what it released), as
  (kind, status, reason, hours);
- totals: the net hours per (contract, status) once every step is done (zero totals left out).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

import pytest

from ledger.entries import EntryKind, EntryStatus, PendingState, entry_id
from ledger.rulebook import Rulebook
from tests.support.builders import (
    CONTRACTOR_SIRET,
    OTHER_CONTRACTOR_SIRET,
    PARTNER_SIRET,
    contract,
    correction,
    enrolment,
    invoice,
    outcome,
    pooling,
    programme,
    resolution,
    retraction,
    timesheet,
)
from tests.support.kit import T0, Ledger



def background() -> list[dict]:
    return [programme(),
            contract(),
            contract(contract_id="gpe-c002", contractor_siret=OTHER_CONTRACTOR_SIRET, lot="GC-02"),
            contract(contract_id="gpe-c003", lot="GC-03"),
            contract(contract_id="gpe-c010", start_date="2023-01-01", end_date="2027-12-31", lot="GC-10"),
            enrolment()]


def day(n: int) -> str:
    """The n-th day from 2024-06-03 (a Monday), for runs of timesheets."""
    return (dt.date(2024, 6, 3) + dt.timedelta(days=n)).isoformat()


def training_run(days: int, contract_id: str = "gpe-c001", hours: float = 8, first: int = 0) -> list[dict]:
    return [timesheet(mode="training", hours=hours, work_date=day(n), contract_id=contract_id)
            for n in range(first, first + days)]


# ---------------------------------------------------------------------------------------- scenarios
# Each returns the steps of one case; events referring to others (corrections, resolutions) are built here.

def corrected(hours_before=7, **fix):
    original = timesheet(hours=hours_before)
    return [original, correction(original, **fix)]


def corrected_twice():
    original = timesheet(hours=7)
    first = correction(original, hours=6.5)
    return [original, first, correction(first, hours=6)]


def corrected_again_from_the_original():
    original = timesheet(hours=7)
    return [original, correction(original, hours=6.5), correction(original, hours=6)]


def retracted(**changes):
    original = timesheet(hours=7, **changes)
    return [original, retraction(original)]


def retracted_after_correction():
    original = timesheet(hours=7)
    fixed = correction(original, hours=6.5)
    return [original, fixed, retraction(original)]


def retracted_twice():
    original = timesheet(hours=7)
    return [original, retraction(original), retraction(original)]


def over_claimed(first=8, second=4, second_contract="gpe-c002", *extra):
    one = timesheet(hours=first)
    two = timesheet(hours=second, contract_id=second_contract)
    return [one, two, *[step(one, two) for step in extra]]


def resolved(decision, first=8, second=4):
    return over_claimed(first, second, "gpe-c002", lambda one, two: resolution(two, decision))


def resolved_twice():
    return over_claimed(8, 4, "gpe-c002", lambda one, two: resolution(two, "count"),
                        lambda one, two: resolution(two, "refuse"))


def resolved_then_retracted():
    return over_claimed(8, 4, "gpe-c002", lambda one, two: resolution(two, "count"),
                        lambda one, two: retraction(two))


def retroactive(first_until, second_until, *work_days):
    who = "retro-0000000001"
    sheets = [timesheet(beneficiary_id=who, work_date=d, hours=7.5) for d in work_days]
    return [enrolment(beneficiary_id=who, eligible_until=first_until), *sheets,
            enrolment(beneficiary_id=who, eligible_until=second_until)]


def late_enrolment(**window):
    who = "late-0000000001"
    return [timesheet(beneficiary_id=who, hours=7.5), enrolment(beneficiary_id=who, **window)]


def training_then_retracted():
    run = training_run(18)
    return [*run, retraction(run[0]), timesheet(mode="training", hours=8, work_date=day(18))]


def training_flagged_then_counted():
    # 144 h of training, then a day with 4 h elsewhere and 8 h of training: over 10 h, flagged.
    run = training_run(18)
    training = timesheet(mode="training", hours=8, work_date=day(18))
    return [*run, timesheet(hours=4, contract_id="gpe-c002", work_date=day(18)), training,
            resolution(training, "count")]


A1, A3, A10, B2 = "gpe-c001", "gpe-c003", "gpe-c010", "gpe-c002"
COUNTED, NOT, FLAGGED = "counted", "not_counted", "flagged"
ACC = "accepted"


def credit(status, hours, reason=""):
    return ("credit", status, reason, hours)


def reversal(status, hours, reason=""):
    return ("reversal", status, reason, hours)


CASES = [
    # --- eligibility window: 24 months by default, from 2024-03-15: last day 2026-03-14
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2026-03-14")], {},
                 [ACC], [credit(COUNTED, "7.5")], {(A10, COUNTED): "7.5"}, id="window-24-months-last-day"),
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2026-03-15")], {},
                 [ACC], [credit(NOT, "7.5", "not_eligible_on_work_date")], {(A10, NOT): "7.5"},
                 id="window-24-months-anniversary"),
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2024-03-14")], {},
                 [ACC], [credit(NOT, "7.5", "not_eligible_on_work_date")], {(A10, NOT): "7.5"},
                 id="window-day-before-eligible-from"),
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2025-03-14"),
                          timesheet(contract_id=A10, work_date="2025-03-15")], {"eligibility_window_months": 12},
                 [ACC, ACC], [credit(NOT, "7.5", "not_eligible_on_work_date")],
                 {(A10, COUNTED): "7.5", (A10, NOT): "7.5"}, id="window-12-months-by-rulebook"),
    pytest.param(lambda: [enrolment(beneficiary_id="explicit-0000000001", eligible_until="2024-09-30"),
                          timesheet(beneficiary_id="explicit-0000000001", work_date="2024-09-30"),
                          timesheet(beneficiary_id="explicit-0000000001", work_date="2024-10-01")], {},
                 [ACC, ACC, ACC], [credit(NOT, "7.5", "not_eligible_on_work_date")],
                 {(A1, COUNTED): "7.5", (A1, NOT): "7.5"}, id="window-explicit-until"),
    pytest.param(lambda: [enrolment(beneficiary_id="explicit-0000000002", eligible_until="2027-06-30"),
                          timesheet(beneficiary_id="explicit-0000000002", work_date="2027-06-30", contract_id=A10)], {},
                 [ACC, ACC], [credit(COUNTED, "7.5")], {(A10, COUNTED): "7.5"}, id="window-explicit-beyond-24-months"),
    pytest.param(lambda: [enrolment(beneficiary_id="proof-0000000001", proof_valid_until="2024-12-31"),
                          timesheet(beneficiary_id="proof-0000000001", work_date="2024-12-31", contract_id=A10),
                          timesheet(beneficiary_id="proof-0000000001", work_date="2025-01-02", contract_id=A10)], {},
                 [ACC, ACC, ACC], [credit(NOT, "7.5", "not_eligible_on_work_date")],
                 {(A10, COUNTED): "7.5", (A10, NOT): "7.5"}, id="window-shortened-by-proof-validity"),
    pytest.param(lambda: [enrolment(beneficiary_id="derog-0000000001", criteria=["facilitator_validation"],
                                    derogation_reason="long inactivity, assessed in interview",
                                    validated_on="2024-03-12"),
                          timesheet(beneficiary_id="derog-0000000001")], {},
                 [ACC, ACC], [credit(COUNTED, "7.5")], {(A1, COUNTED): "7.5"}, id="derogation-counts-like-others"),
    # the window runs from the facilitator's validation: validated 2024-06-01, eligible since 2024-03-15
    # (validated after the hire): 2024-04-02 counts, and the 24 months end on 2026-05-31
    pytest.param(lambda: [enrolment(beneficiary_id="valid-0000000001", validated_on="2024-06-01"),
                          *[timesheet(beneficiary_id="valid-0000000001", contract_id=A10, work_date=d)
                            for d in ("2024-04-02", "2026-05-31", "2026-06-01")]], {},
                 [ACC] * 4, [credit(NOT, "7.5", "not_eligible_on_work_date")],
                 {(A10, COUNTED): "15", (A10, NOT): "7.5"}, id="window-runs-from-validation"),
    # --- the contract's period: hours outside it are recorded, not lost
    pytest.param(lambda: [timesheet(work_date="2025-01-02")], {},
                 [ACC], [credit(NOT, "7.5", "outside_contract_period")], {(A1, NOT): "7.5"},
                 id="outside-contract-period"),
    # --- permanent hire: counted for 12 months from 2024-03-10, i.e. up to 2025-03-09
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2025-03-09", hire_type="permanent",
                                    hire_date="2024-03-10")], {},
                 [ACC], [credit(COUNTED, "7.5")], {(A10, COUNTED): "7.5"}, id="permanent-hire-last-counted-day"),
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2025-03-10", hire_type="permanent",
                                    hire_date="2024-03-10")], {},
                 [ACC], [credit(NOT, "7.5", "permanent_hire_cap_reached")], {(A10, NOT): "7.5"},
                 id="permanent-hire-first-uncounted-day"),
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2024-09-10", hire_type="permanent",
                                    hire_date="2024-03-10")], {"permanent_hire_months_counted": 6},
                 [ACC], [credit(NOT, "7.5", "permanent_hire_cap_reached")], {(A10, NOT): "7.5"},
                 id="permanent-hire-6-months-by-rulebook"),
    pytest.param(lambda: [timesheet(contract_id=A10, work_date="2025-03-10", hire_type="fixed_term")], {},
                 [ACC], [credit(COUNTED, "7.5")], {(A10, COUNTED): "7.5"}, id="fixed-term-hire-uncapped"),
    # --- training: 150 h per person; 18 x 8 h = 144 h, then 8 h: 6 counted and 2 not
    pytest.param(lambda: training_run(19), {},
                 [ACC] * 19, [credit(COUNTED, "6"), credit(NOT, "2", "training_cap_reached")],
                 {(A1, COUNTED): "150", (A1, NOT): "2"}, id="training-cap-150-splits-a-day"),
    pytest.param(lambda: training_run(20), {},
                 [ACC] * 20, [credit(NOT, "8", "training_cap_reached")],
                 {(A1, COUNTED): "150", (A1, NOT): "10"}, id="training-cap-then-nothing"),
    pytest.param(lambda: [*training_run(18), *training_run(1, contract_id=B2, first=18)], {},
                 [ACC] * 19, [credit(COUNTED, "6"), credit(NOT, "2", "training_cap_reached")],
                 {(A1, COUNTED): "144", (B2, COUNTED): "6", (B2, NOT): "2"}, id="training-cap-is-per-person"),
    pytest.param(lambda: training_run(3), {"training_cap_hours": 20},
                 [ACC] * 3, [credit(COUNTED, "4"), credit(NOT, "4", "training_cap_reached")],
                 {(A1, COUNTED): "20", (A1, NOT): "4"}, id="training-cap-20-by-rulebook"),
    pytest.param(training_then_retracted, {},  # 144 - 8 + 8 = 144: the retraction gave its room back
                 [ACC] * 20, [credit(COUNTED, "8")], {(A1, COUNTED): "144"}, id="training-room-freed-by-retraction"),
    pytest.param(lambda: training_run(3)[::-1], {"training_cap_hours": 20},
                 # posted last, the earliest day comes first under the cap: day 0 8 h, day 1 8 h, day 2 4 + 4
                 # (day 2 was counted 8 h: -8, +4 counted, +4 withheld), as if posted in date order
                 [ACC] * 3, [credit(COUNTED, "8"), reversal(COUNTED, "-8"), credit(COUNTED, "4"),
                             credit(NOT, "4", "training_cap_reached")],
                 {(A1, COUNTED): "20", (A1, NOT): "4"}, id="training-cap-shared-out-by-work-date"),
    # --- SIAE invoice: amount x labour share / hourly cost
    pytest.param(lambda: [invoice()], {},  # 28,000 x 0.4 / 28 = 400
                 [ACC], [credit(COUNTED, "400.00")], {(A1, COUNTED): "400"}, id="invoice-400-hours"),
    pytest.param(lambda: [invoice(labour_share=...)], {},  # the rulebook's 0.5: 28,000 x 0.5 / 28 = 500
                 [ACC], [credit(COUNTED, "500.00")], {(A1, COUNTED): "500"}, id="invoice-rulebook-labour-share"),
    pytest.param(lambda: [invoice(labour_share=...)], {"labour_share": 0.3},  # 28,000 x 0.3 / 28
                 [ACC], [credit(COUNTED, "300.00")], {(A1, COUNTED): "300"}, id="invoice-labour-share-override"),
    pytest.param(lambda: [invoice()], {"hourly_cost_eur": 35},  # 28,000 x 0.4 / 35 = 320
                 [ACC], [credit(COUNTED, "320.00")], {(A1, COUNTED): "320"}, id="invoice-hourly-cost-override"),
    pytest.param(lambda: [invoice(amount_eur=10_000, labour_share=...)], {},  # 5,000 / 28 = 178.571...
                 [ACC], [credit(COUNTED, "178.57")], {(A1, COUNTED): "178.57"}, id="invoice-rounded-to-hundredths"),
    pytest.param(lambda: [invoice(period_start="2025-02-01", period_end="2025-02-28",
                                           submitted_at="2025-03-05T10:00:00+01:00")], {},
                 [ACC], [credit(NOT, "400.00", "outside_contract_period")], {(A1, NOT): "400"},
                 id="invoice-outside-contract-period"),
    pytest.param(lambda: [invoice(contract_id="gpe-c999")], {},
                 ["pending:unknown_contract"], [], {}, id="invoice-on-unknown-contract-waits"),
    # --- the daily maximum across contractors, 10 h. Both sides of a conflict are flagged (whichever
    # arrived first): the later claim's credit, then the earlier one's counted credit reversed and
    # re-credited as flagged, with the later claim's reason.
    pytest.param(lambda: over_claimed(8, 4), {},  # 8 + 4 = 12 > 10: 4 flagged, and the 8 (-8, +8 flagged)
                 [ACC, ACC], [credit(FLAGGED, "4", "daily_maximum_exceeded"), reversal(COUNTED, "-8"),
                              credit(FLAGGED, "8", "daily_maximum_exceeded")],
                 {(A1, FLAGGED): "8", (B2, FLAGGED): "4"}, id="daily-max-8-plus-4-flagged"),
    pytest.param(lambda: over_claimed(8, 2), {},
                 [ACC, ACC], [credit(COUNTED, "2")], {(A1, COUNTED): "8", (B2, COUNTED): "2"},
                 id="daily-max-8-plus-2-counts"),
    pytest.param(lambda: over_claimed(8, 2.5), {},  # 8 + 2.5 = 10.5 > 10: both flagged, 8 counted - 8 = 0
                 [ACC, ACC], [credit(FLAGGED, "2.5", "daily_maximum_exceeded"), reversal(COUNTED, "-8"),
                              credit(FLAGGED, "8", "daily_maximum_exceeded")],
                 {(A1, FLAGGED): "8", (B2, FLAGGED): "2.5"}, id="daily-max-8-plus-2.5-flagged"),
    pytest.param(lambda: over_claimed(6, 6, A3), {},  # the same contractor on two of its contracts
                 # not claimed twice (one contractor), but 6 + 6 = 12 > 10: both flagged, A1 6 - 6 = 0 counted
                 [ACC, ACC], [credit(FLAGGED, "6", "daily_maximum_exceeded"), reversal(COUNTED, "-6"),
                              credit(FLAGGED, "6", "daily_maximum_exceeded")],
                 {(A1, FLAGGED): "6", (A3, FLAGGED): "6"}, id="daily-max-one-contractor-two-contracts"),
    pytest.param(lambda: [timesheet(hours=4), timesheet(hours=4, contract_id=A3),
                          timesheet(hours=3, contract_id=B2)], {},
                 # 4 + 4 = 8 counted; + 3 = 11 > 10 (3 is not 4: not claimed twice): every counted claim of
                 # the day is flagged, in the day's order: A1 (-4, +4 flagged), then A3 (-4, +4 flagged)
                 [ACC, ACC, ACC], [credit(FLAGGED, "3", "daily_maximum_exceeded"),
                                   reversal(COUNTED, "-4"), credit(FLAGGED, "4", "daily_maximum_exceeded"),
                                   reversal(COUNTED, "-4"), credit(FLAGGED, "4", "daily_maximum_exceeded")],
                 {(A1, FLAGGED): "4", (A3, FLAGGED): "4", (B2, FLAGGED): "3"},
                 id="daily-max-flags-every-counted-claim-of-the-day"),
    pytest.param(lambda: over_claimed(8, 4), {"daily_max_hours": 12},
                 [ACC, ACC], [credit(COUNTED, "4")], {(A1, COUNTED): "8", (B2, COUNTED): "4"},
                 id="daily-max-12-by-rulebook"),
    pytest.param(lambda: [timesheet(hours=8, work_date="2024-03-14"), timesheet(hours=4, contract_id=B2,
                                                                                  work_date="2024-03-14")], {},
                 [ACC, ACC], [credit(NOT, "4", "not_eligible_on_work_date")],
                 {(A1, NOT): "8", (B2, NOT): "4"}, id="daily-max-ignores-ineligible-days"),
    # --- the same hours claimed by two contractors
    pytest.param(lambda: over_claimed(7, 7), {},  # 7 = 7, contractors A and B: both flagged, A1 7 - 7 = 0 counted
                 [ACC, ACC], [credit(FLAGGED, "7", "claimed_by_two_contractors"), reversal(COUNTED, "-7"),
                              credit(FLAGGED, "7", "claimed_by_two_contractors")],
                 {(A1, FLAGGED): "7", (B2, FLAGGED): "7"}, id="claimed-twice-7-and-7"),
    pytest.param(lambda: over_claimed(5, 5), {},  # under the maximum (10), still the same hours twice: both
                 [ACC, ACC], [credit(FLAGGED, "5", "claimed_by_two_contractors"), reversal(COUNTED, "-5"),
                              credit(FLAGGED, "5", "claimed_by_two_contractors")],
                 {(A1, FLAGGED): "5", (B2, FLAGGED): "5"}, id="claimed-twice-under-the-maximum"),
    pytest.param(lambda: [timesheet(hours=2), timesheet(hours=5, contract_id=B2),
                          timesheet(hours=5, contract_id=A3)], {},
                 # A1 2 + B2 5 = 7 counted; A3 5 = B2 5 from another contractor: claimed twice (A3 and B2:
                 # -5, +5 flagged), and the day's 2 + 5 + 5 = 12 h are over 10: A1 -2, +2 flagged. The same
                 # whatever the order (test_properties.py checks every order).
                 [ACC, ACC, ACC], [credit(FLAGGED, "5", "claimed_by_two_contractors"),
                                   reversal(COUNTED, "-2"), credit(FLAGGED, "2", "daily_maximum_exceeded"),
                                   reversal(COUNTED, "-5"), credit(FLAGGED, "5", "claimed_by_two_contractors")],
                 {(A1, FLAGGED): "2", (B2, FLAGGED): "5", (A3, FLAGGED): "5"},
                 id="claimed-twice-and-over-the-maximum-flags-the-whole-day"),
    pytest.param(lambda: over_claimed(5, 5, A3), {},  # one contractor, two contracts: 10 h, not over
                 [ACC, ACC], [credit(COUNTED, "5")], {(A1, COUNTED): "5", (A3, COUNTED): "5"},
                 id="same-hours-one-contractor-counts"),
    # --- corrections: a reversal and a new credit, nothing updated
    pytest.param(lambda: corrected(7, hours=6.5), {},
                 [ACC, ACC], [reversal(COUNTED, "-7"), credit(COUNTED, "6.5")], {(A1, COUNTED): "6.5"},
                 id="correction-7-to-6.5"),
    pytest.param(lambda: corrected(7, contract_id=A3), {},
                 [ACC, ACC], [reversal(COUNTED, "-7"), credit(COUNTED, "7")], {(A3, COUNTED): "7"},
                 id="correction-to-another-contract-of-the-same-contractor"),
    # another contractor's contract: a contractor cannot move (or take) hours it did not declare
    pytest.param(lambda: corrected(7, contract_id=B2), {},
                 [ACC, "rejected:timesheet_not_yours"], [], {(A1, COUNTED): "7"},
                 id="correction-to-another-contractors-contract-is-refused"),
    pytest.param(lambda: corrected(7, work_date="2024-03-14"), {},
                 [ACC, ACC], [reversal(COUNTED, "-7"), credit(NOT, "7", "not_eligible_on_work_date")],
                 {(A1, NOT): "7"}, id="correction-to-an-ineligible-day"),
    pytest.param(lambda: corrected(7, hours=6.5, mode="geiq", siae_siret=PARTNER_SIRET), {},
                 [ACC, ACC], [reversal(COUNTED, "-7"), credit(COUNTED, "6.5")], {(A1, COUNTED): "6.5"},
                 id="correction-of-the-delivery-mode"),
    pytest.param(corrected_twice, {},
                 [ACC, ACC, ACC], [reversal(COUNTED, "-6.5"), credit(COUNTED, "6")], {(A1, COUNTED): "6"},
                 id="correction-of-a-correction"),
    # a correction naming a contract not known yet waits for it like a timesheet, then applies
    pytest.param(lambda: corrected(7, contract_id="gpe-c020"), {},
                 [ACC, "pending:unknown_contract"], [], {(A1, COUNTED): "7"}, id="correction-to-an-unknown-contract-waits"),
    pytest.param(lambda: [*corrected(7, contract_id="gpe-c020"), contract(contract_id="gpe-c020")], {},
                 [ACC, ACC, ACC], [reversal(COUNTED, "-7"), credit(COUNTED, "7")], {("gpe-c020", COUNTED): "7"},
                 id="correction-released-by-its-contract"),
    pytest.param(lambda: [*corrected(7, contract_id="gpe-c999"), ("tick", 168)], {},
                 [ACC, "rejected:unknown_contract"], [], {(A1, COUNTED): "7"}, id="correction-contract-never-comes"),
    pytest.param(lambda: (lambda t: [t, correction(t, contract_id="gpe-c020"), retraction(t),
                                     contract(contract_id="gpe-c020")])(timesheet(hours=7)), {},
                 # retracted while the correction waited: once released, the correction finds nothing to correct
                 [ACC, "rejected:original_superseded", ACC, ACC], [], {}, id="correction-released-after-a-retraction"),
    pytest.param(lambda: [correction(timesheet(hours=7), hours=6.5)], {},
                 ["rejected:original_not_found"], [], {}, id="correction-of-an-unknown-original"),
    pytest.param(corrected_again_from_the_original, {},
                 [ACC, ACC, "rejected:original_superseded"], [], {(A1, COUNTED): "6.5"},
                 id="correction-of-a-corrected-timesheet"),
    pytest.param(lambda: corrected(7, beneficiary_id="other-00000000ff"), {},
                 [ACC, "rejected:beneficiary_mismatch"], [], {(A1, COUNTED): "7"},
                 id="correction-naming-another-person"),
    # --- retractions: a reversal only
    pytest.param(retracted, {},
                 [ACC, ACC], [reversal(COUNTED, "-7")], {}, id="retraction-nets-to-zero"),
    pytest.param(lambda: retracted(work_date="2025-01-02"), {},
                 [ACC, ACC], [reversal(NOT, "-7", "outside_contract_period")], {}, id="retraction-of-uncounted-hours"),
    pytest.param(lambda: [retraction(timesheet(hours=7))], {},
                 ["rejected:original_not_found"], [], {}, id="retraction-of-an-unknown-original"),
    pytest.param(retracted_twice, {},
                 [ACC, ACC, "rejected:original_superseded"], [], {}, id="retraction-twice"),
    pytest.param(retracted_after_correction, {},
                 [ACC, ACC, "rejected:original_superseded"], [], {(A1, COUNTED): "6.5"},
                 id="retraction-of-a-corrected-timesheet"),
    # --- a facilitator resolves a flagged claim: reversal of the flagged entry, then a new one. Both
    # sides were flagged (8 + 4 > 10, or 7 = 7): resolving one leaves the other flagged.
    pytest.param(lambda: resolved("count"), {},  # B2: -4 flagged, +4 counted; A1 stays 8 flagged
                 [ACC, ACC, ACC], [reversal(FLAGGED, "-4", "daily_maximum_exceeded"), credit(COUNTED, "4")],
                 {(A1, FLAGGED): "8", (B2, COUNTED): "4"}, id="resolved-count"),
    pytest.param(lambda: resolved("refuse"), {},  # B2: -4 flagged, +4 refused; A1, alone on its day now: counted
                 [ACC, ACC, ACC], [reversal(FLAGGED, "-4", "daily_maximum_exceeded"),
                                   credit(NOT, "4", "refused_by_facilitator"),
                                   reversal(FLAGGED, "-8", "daily_maximum_exceeded"), credit(COUNTED, "8")],
                 {(A1, COUNTED): "8", (B2, NOT): "4"}, id="resolved-refuse"),
    pytest.param(lambda: resolved("count", 7, 7), {},  # B2: -7 flagged, +7 counted; A1 stays 7 flagged
                 [ACC, ACC, ACC], [reversal(FLAGGED, "-7", "claimed_by_two_contractors"), credit(COUNTED, "7")],
                 {(A1, FLAGGED): "7", (B2, COUNTED): "7"}, id="resolved-claimed-twice"),
    pytest.param(lambda: over_claimed(8, 4, B2, lambda one, two: resolution(one, "count"),
                                      lambda one, two: resolution(two, "refuse")), {},
                 # A1: -8 flagged, +8 counted; then B2: -4 flagged, +4 refused
                 [ACC] * 4, [reversal(FLAGGED, "-4", "daily_maximum_exceeded"),
                             credit(NOT, "4", "refused_by_facilitator")],
                 {(A1, COUNTED): "8", (B2, NOT): "4"}, id="resolved-both-sides-count-and-refuse"),
    pytest.param(lambda: over_claimed(7, 7, B2, lambda one, two: resolution(one, "count"),
                                      lambda one, two: resolution(two, "count")), {},
                 # A1: -7 flagged, +7 counted (resolved: no longer checked); B2: -7 flagged, +7 counted
                 [ACC] * 4, [reversal(FLAGGED, "-7", "claimed_by_two_contractors"), credit(COUNTED, "7")],
                 {(A1, COUNTED): "7", (B2, COUNTED): "7"}, id="resolved-both-sides-count"),
    pytest.param(lambda: over_claimed(8, 4, B2, lambda one, two: resolution(one, "count"),
                                      lambda one, two: resolution(two, "refuse"),
                                      lambda one, two: timesheet(hours=8, contract_id=B2)), {},
                 # A1 resolved, counted 8; B2's 4 refused (not counted: out of the day's checks). A new B2
                 # claim of 8 = A1's 8 from another contractor: claimed twice, flagged; A1, resolved, stays
                 # counted: no reversal. B2: 8 flagged + 4 not counted.
                 [ACC] * 5, [credit(FLAGGED, "8", "claimed_by_two_contractors")],
                 {(A1, COUNTED): "8", (B2, NOT): "4", (B2, FLAGGED): "8"}, id="resolved-claim-left-alone"),
    pytest.param(resolved_twice, {},  # the second resolution finds B2 no longer flagged; A1 stays flagged
                 [ACC, ACC, ACC, "rejected:nothing_to_resolve"], [], {(A1, FLAGGED): "8", (B2, COUNTED): "4"},
                 id="resolved-twice"),
    pytest.param(lambda: over_claimed(8, 2, B2, lambda one, two: resolution(two, "count")), {},
                 [ACC, ACC, "rejected:nothing_to_resolve"], [], {(A1, COUNTED): "8", (B2, COUNTED): "2"},
                 id="resolving-an-unflagged-claim"),
    pytest.param(lambda: [resolution(timesheet(), "count")], {},
                 ["rejected:original_not_found"], [], {}, id="resolving-an-unknown-claim"),
    # A retraction ends the conflict it was part of: the other side, alone on its day, counts again.
    pytest.param(resolved_then_retracted, {},  # B2: +4 counted, then -4; A1 -8 flagged, +8 counted
                 [ACC, ACC, ACC, ACC], [reversal(COUNTED, "-4"), reversal(FLAGGED, "-8", "daily_maximum_exceeded"),
                                        credit(COUNTED, "8")], {(A1, COUNTED): "8"},
                 id="retraction-after-resolution"),
    pytest.param(lambda: over_claimed(8, 4, B2, lambda one, two: retraction(two)), {},  # B2: 4 - 4 = 0; A1 counted
                 [ACC, ACC, ACC], [reversal(FLAGGED, "-4", "daily_maximum_exceeded"),
                                   reversal(FLAGGED, "-8", "daily_maximum_exceeded"), credit(COUNTED, "8")],
                 {(A1, COUNTED): "8"}, id="retraction-of-a-flagged-claim"),
    # --- late reference data: parked, then released when it arrives
    pytest.param(late_enrolment, {},
                 [ACC, ACC], [credit(COUNTED, "7.5")], {(A1, COUNTED): "7.5"}, id="late-enrolment-counts"),
    pytest.param(lambda: late_enrolment(eligible_from="2024-06-04"), {},
                 [ACC, ACC], [credit(NOT, "7.5", "not_eligible_on_work_date")], {(A1, NOT): "7.5"},
                 id="late-enrolment-not-covering-the-day"),
    pytest.param(lambda: [timesheet(contract_id="gpe-c020"), contract(contract_id="gpe-c020")], {},
                 [ACC, ACC], [credit(COUNTED, "7.5")], {("gpe-c020", COUNTED): "7.5"}, id="late-contract-counts"),
    pytest.param(lambda: [invoice(contract_id="gpe-c020"), contract(contract_id="gpe-c020")], {},
                 [ACC, ACC], [credit(COUNTED, "400.00")], {("gpe-c020", COUNTED): "400"},
                 id="late-contract-releases-an-invoice"),
    pytest.param(lambda: [timesheet(contract_id="gpe-c999"), ("tick", 167)], {},
                 ["pending:unknown_contract"], [], {}, id="late-contract-still-waiting-at-167h"),
    pytest.param(lambda: [timesheet(contract_id="gpe-c999"), ("tick", 168)], {},
                 ["rejected:unknown_contract"], [], {}, id="late-contract-never-comes-168h"),
    pytest.param(lambda: [timesheet(contract_id="gpe-c999"), ("tick", 24)], {"pending_timeout_hours": 24},
                 ["rejected:unknown_contract"], [], {}, id="late-contract-timeout-24h-by-rulebook"),
    pytest.param(lambda: [timesheet(beneficiary_id="nobody-0000000001"), ("tick", 200)], {},
                 ["rejected:unknown_beneficiary"], [], {}, id="enrolment-never-comes"),
    pytest.param(lambda: [timesheet(contract_id="gpe-c999"), ("wait", 168), programme()], {},
                 ["rejected:unknown_contract", ACC], [], {}, id="expiry-driven-by-a-later-event"),
    pytest.param(lambda: [timesheet(contract_id="gpe-c020"), ("tick", 100), contract(contract_id="gpe-c020")], {},
                 [ACC, ACC], [credit(COUNTED, "7.5")], {("gpe-c020", COUNTED): "7.5"},
                 id="late-contract-inside-the-timeout"),
    # --- retroactive eligibility: a second enrolment re-evaluates the person's claims
    pytest.param(lambda: retroactive("2024-05-31", "2024-12-31", "2024-06-03", "2024-06-04"), {},
                 [ACC] * 4, [reversal(NOT, "-7.5", "not_eligible_on_work_date"), credit(COUNTED, "7.5")] * 2,
                 {(A1, COUNTED): "15"}, id="retroactive-widening-counts-earlier-hours"),
    pytest.param(lambda: retroactive("2024-12-31", "2024-05-31", "2024-06-03"), {},
                 [ACC] * 3, [reversal(COUNTED, "-7.5"), credit(NOT, "7.5", "not_eligible_on_work_date")],
                 {(A1, NOT): "7.5"}, id="retroactive-narrowing-withdraws-hours"),
    pytest.param(lambda: retroactive("2024-05-31", "2024-12-31", "2024-05-02", "2024-06-03"), {},
                 [ACC] * 4, [reversal(NOT, "-7.5", "not_eligible_on_work_date"), credit(COUNTED, "7.5")],
                 {(A1, COUNTED): "15"}, id="retroactive-leaves-unchanged-claims-alone"),
    # --- outcomes and pooling agreements are kept for reporting: accepted, no hours
    pytest.param(lambda: [outcome(), outcome(outcome="transition_job", detail=...),
                          outcome(outcome="positive_exit", detail="qualifying_training")], {},
                 [ACC] * 3, [], {}, id="outcomes-accepted"),
    pytest.param(lambda: [pooling()], {}, [ACC], [], {}, id="pooling-accepted"),
]


def run(steps, overrides) -> tuple[Ledger, list[dict], list]:
    ledger = Ledger(Rulebook().with_overrides(**overrides))
    ledger.post_all(background())
    events, last = [], []
    for step in steps:
        if isinstance(step, tuple) and step[0] == "tick":
            last = ledger.tick(T0 + dt.timedelta(hours=step[1]))
        elif isinstance(step, tuple) and step[0] == "wait":
            ledger.now = T0 + dt.timedelta(hours=step[1])
            last = []
        else:
            events.append((ledger.offset, step))
            last = ledger.post(step)
    return ledger, events, last


def state(decision) -> str:
    if decision.parked:
        return f"pending:{decision.pending.reason}"
    return "accepted" if decision.accepted else f"rejected:{decision.rejection.reason.value}"


@pytest.mark.parametrize("steps, overrides, states, last, totals", CASES)
def test_rule_case(steps, overrides, states, last, totals):
    ledger, events, decisions = run(steps(), overrides)
    assert [state(ledger.final[ledger.at(offset)]) for offset, _ in events] == states
    written = [(e.kind.value, e.status.value, e.reason, e.hours) for d in decisions for e in d.entries]
    assert written == [(kind, status, reason, Decimal(hours)) for kind, status, reason, hours in last]
    assert ledger.totals() == {key: Decimal(hours) for key, hours in totals.items()}
    # Whatever happened, everything posted is accepted, rejected or pending; nothing counted is negative.
    assert sum(ledger.accounting().values()) == ledger.posted
    assert all(ledger.counted(cid) >= 0 for cid, _ in ledger.totals())


# ---------------------------------------------------------------------------------------- timelines

def loaded(**overrides) -> Ledger:
    ledger = Ledger(Rulebook().with_overrides(**overrides))
    ledger.post_all(background())
    return ledger


def test_every_entry_is_attributed_to_the_parties_of_its_mode():
    ledger = loaded()
    modes = [("direct_hire", None), ("temp_agency_etti", PARTNER_SIRET), ("siae_placement_ai", PARTNER_SIRET),
             ("siae_subcontract", PARTNER_SIRET), ("geiq", PARTNER_SIRET), ("training", None)]
    for n, (mode, partner) in enumerate(modes):
        sheet = timesheet(mode=mode, work_date=day(n), **({"siae_siret": partner} if partner else {}))
        (entry,) = ledger.one(sheet).entries
        assert (entry.mode, entry.siae_siret, entry.contractor_siret) == (mode, partner, CONTRACTOR_SIRET)
        assert (entry.contract_id, entry.operation_id, entry.programme_id, entry.beneficiary_id) == \
            ("gpe-c001", "L15S", "gpe", "b-3f9a1c2e7d")
        assert entry.status is EntryStatus.COUNTED and entry.rule == "eligible_on_contract"
    (entry,) = ledger.one(invoice()).entries  # no person: the partner and the contract
    assert (entry.mode, entry.siae_siret, entry.beneficiary_id, entry.rule, entry.work_date) == \
        ("siae_subcontract", PARTNER_SIRET, "", "siae_invoice_conversion", dt.date(2024, 5, 31))


def test_a_reversal_mirrors_the_entry_it_cancels():
    ledger = loaded()
    original = timesheet(hours=7, mode="geiq", siae_siret=PARTNER_SIRET)
    (credit_entry,) = ledger.one(original).entries
    fix = correction(original, hours=6.5)
    back, new = ledger.one(fix).entries
    assert back.reverses_entry_id == credit_entry.entry_id and back.kind.value == "reversal"
    assert back.hours == -credit_entry.hours and back.rule == "reversal"
    assert back.source_event_id == new.source_event_id and str(back.source_event_id) == fix["event_id"]
    assert back.source_event_type == new.source_event_type == "timesheet.corrected"
    same = ("contract_id", "beneficiary_id", "siae_siret", "mode", "work_date", "status", "reason", "contractor_siret")
    assert all(getattr(back, f) == getattr(credit_entry, f) for f in same)
    assert len({credit_entry.entry_id, back.entry_id, new.entry_id}) == 3
    assert [e.entry_id for e in ledger.standing()] == [new.entry_id]


@pytest.mark.parametrize("first, second, reason, rule", [
    (7, 7, "claimed_by_two_contractors", "claimed_twice"),  # 7 = 7 from contractors A and B
    (8, 4, "daily_maximum_exceeded", "daily_maximum"),  # 8 + 4 = 12 > 10
])
def test_the_earlier_side_of_a_conflict_is_flagged_by_the_later_timesheet(first, second, reason, rule):
    ledger = loaded()
    one = timesheet(hours=first)
    (counted,) = ledger.one(one).entries
    two = timesheet(hours=second, contract_id="gpe-c002")
    at = ledger.offset
    checkpoint = ledger.book.snapshot()
    own, back, flagged = ledger.one(two).entries
    cause = UUID(two["event_id"])
    assert (own.contract_id, own.status, own.reason, own.rule) == ("gpe-c002", EntryStatus.FLAGGED, reason, rule)
    # The counted credit is reversed, never updated, by the later timesheet...
    assert back.kind is EntryKind.REVERSAL and back.reverses_entry_id == counted.entry_id
    assert (back.contract_id, back.status, back.hours) == ("gpe-c001", EntryStatus.COUNTED, Decimal(-first))
    assert back.entry_id == entry_id(cause, EntryKind.REVERSAL, f"{one['event_id']}:{counted.entry_id}")
    # ...then credited again as flagged, with the later timesheet's reason and rule.
    assert flagged.entry_id == entry_id(cause, EntryKind.CREDIT, one["event_id"])
    assert (flagged.kind, flagged.contract_id, flagged.hours) == (EntryKind.CREDIT, "gpe-c001", Decimal(first))
    assert (flagged.status, flagged.reason, flagged.rule) == (EntryStatus.FLAGGED, reason, rule)
    assert flagged.source_event_id == back.source_event_id == cause
    assert flagged.source_event_type == back.source_event_type == "timesheet.submitted"
    assert ledger.entries_of(one) == [counted] and ledger.entries_of(two) == [own, back, flagged]
    assert {e.entry_id for e in ledger.standing()} == {own.entry_id, flagged.entry_id}
    # The same delivery routed twice: decided once, nothing new.
    rows = len(ledger.entries)
    assert ledger.post(two, offset=at) == [] and len(ledger.entries) == rows
    # A worker restarted from the checkpoint before it decides it again: the same entries.
    restarted = Ledger(ledger.rulebook)
    restarted.book.apply(checkpoint)
    restarted.desk_reindex()
    (again,) = restarted.post(two, offset=at)
    assert again.entries == (own, back, flagged)
    # The flagged side can be resolved like any flagged claim.
    back_again, recounted = ledger.one(resolution(one, "count")).entries
    assert back_again.reverses_entry_id == flagged.entry_id and recounted.status is EntryStatus.COUNTED
    assert ledger.totals() == {("gpe-c001", "counted"): Decimal(first), ("gpe-c002", "flagged"): Decimal(second)}


def test_pending_timesheet_waits_then_expires_on_tick():
    ledger = loaded()
    sheet = timesheet(contract_id="gpe-c999")
    (parked,) = ledger.post(sheet)
    assert parked.pending.expires_at == T0 + dt.timedelta(hours=168)
    assert ledger.accounting() == {"accepted": 6, "pending": 1}
    assert ledger.tick(T0 + dt.timedelta(hours=168) - dt.timedelta(seconds=1)) == []
    (expired,) = ledger.tick(T0 + dt.timedelta(hours=168))
    assert expired.position == parked.position and expired.pending.state is PendingState.EXPIRED
    assert expired.rejection.reason.value == "unknown_contract"
    assert "contract gpe-c999 still unknown after waiting until 2024-06-10T18:00:00+00:00" in expired.rejection.detail
    assert expired.rejection.event_id == sheet["event_id"]
    assert ledger.accounting() == {"accepted": 6, "rejected": 1}
    assert ledger.parked() == [] and ledger.tick(T0 + dt.timedelta(hours=500)) == []
    # Too late: the contract arriving now releases nothing, and a resend is a duplicate.
    assert len(ledger.post(contract(contract_id="gpe-c999"))) == 1
    assert ledger.one(sheet).rejection.reason.value == "duplicate_event"


def test_pending_counts_until_it_drains():
    ledger = loaded()
    waiting = [timesheet(beneficiary_id="late-0000000002", work_date=day(n)) for n in range(3)]
    ledger.post_all(waiting)
    ledger.post(timesheet(contract_id="gpe-c998"))
    assert ledger.accounting() == {"accepted": 6, "pending": 4}
    released = ledger.post(enrolment(beneficiary_id="late-0000000002"))
    assert [d.pending.state for d in released[1:]] == [PendingState.RESOLVED] * 3
    assert [d.position.offset for d in released[1:]] == [6, 7, 8]  # in the order they were posted
    assert ledger.accounting() == {"accepted": 10, "pending": 1}
    ledger.later(hours=168)
    assert ledger.accounting() == {"accepted": 10, "rejected": 1}
    assert ledger.counted("gpe-c001") == Decimal("22.5")


def test_late_enrolment_then_a_correction_of_the_released_timesheet():
    ledger = loaded()
    who = "late-0000000003"
    sheet = timesheet(beneficiary_id=who, hours=7)
    ledger.post(sheet)
    early = correction(sheet, hours=6)
    # While the timesheet waits, its correction waits for it...
    waiting = ledger.one(early)
    assert waiting.parked and waiting.pending.waiting_for == f"event:{sheet['event_id']}"
    # ...and both are decided when the enrolment comes: the timesheet, then its correction.
    released = ledger.post(enrolment(beneficiary_id=who))
    assert [d.position for d in released[1:]] == [ledger.at(ledger.offset - 3), ledger.at(ledger.offset - 2)]
    assert ledger.counted("gpe-c001") == Decimal(6) and ledger.rejections() == {}


def test_a_correction_before_its_original_can_be_posted_again():
    ledger = loaded()
    original = timesheet(hours=7)
    fix = correction(original, hours=6)
    assert ledger.one(fix).rejection.reason.value == "original_not_found"
    ledger.post(original)
    retried = ledger.one(fix)
    assert retried.accepted and ledger.counted("gpe-c001") == Decimal(6)
    # The first posting keeps its rejection; once accepted, the event id is spent.
    assert ledger.rejections() == {"original_not_found": 1}
    assert ledger.one(fix).rejection.reason.value == "duplicate_event"
    assert ledger.counted("gpe-c001") == Decimal(6)


def test_resolving_flagged_training_hours_keeps_the_training_cap():
    ledger, _, _ = run(training_flagged_then_counted(), {})
    # 144 h of training counted; the flagged 8 h, once counted by the facilitator, fill the cap: 6 + 2.
    assert ledger.counted("gpe-c001") == Decimal(150)
    assert ledger.net("not_counted", "training_cap_reached") == Decimal(2)
    assert len(ledger.training("b-3f9a1c2e7d")) == 19  # the standing training claims
    # 4 + 8 = 12 > 10 flagged both sides; only the training side was resolved: B2's 4 h stay flagged.
    assert ledger.totals() == {("gpe-c001", "counted"): Decimal(150), ("gpe-c001", "not_counted"): Decimal(2),
                               ("gpe-c002", "flagged"): Decimal(4)}


def test_resolving_flagged_training_hours_when_the_cap_is_full():
    # 19 x 8 = 152 h of training: 150 counted, 2 withheld. Then 4 h elsewhere and 8 h of training on
    # day 20: 12 > 10, both flagged; counted by the facilitator, the 8 h find no room: all withheld.
    run_of_19 = training_run(19)
    training = timesheet(mode="training", hours=8, work_date=day(19))
    ledger = loaded()
    ledger.post_all([*run_of_19, timesheet(hours=4, contract_id="gpe-c002", work_date=day(19)), training])
    assert ledger.net("flagged") == Decimal(12)
    back, withheld = ledger.one(resolution(training, "count")).entries
    assert (back.status, back.hours) == (EntryStatus.FLAGGED, Decimal(-8))
    assert (withheld.status, withheld.reason, withheld.hours) == (EntryStatus.NOT_COUNTED, "training_cap_reached",
                                                                  Decimal(8))
    assert withheld.rule == "facilitator_resolution"
    assert ledger.counted("gpe-c001") == Decimal(150) and len(ledger.training("b-3f9a1c2e7d")) == 20
    assert ledger.net("not_counted", "training_cap_reached") == Decimal(10)  # 2 + 8


def test_retracting_counted_training_lets_capped_hours_count():
    run_of_19 = training_run(19)  # 18 x 8 = 144 counted, then 6 counted + 2 withheld by the cap
    ledger = loaded()
    ledger.post_all(run_of_19)
    assert ledger.counted("gpe-c001") == Decimal(150)
    ledger.post(retraction(run_of_19[0]))
    # 18 days of 8 h remain: 144 h, all under the 150 h cap.
    assert ledger.counted("gpe-c001") == Decimal(144)
    assert ledger.net("not_counted", "training_cap_reached") == Decimal(0)
