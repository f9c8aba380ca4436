"""Counting rules: whether, and how much of, a declared timesheet counts as insertion hours.

Each rule has a name that ledger entries record (`rule`), and a reason code for hours that do not
count (`reason`). docs/rules.md lists them with their parameters and sources.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ledger.entries import EntryStatus, Withheld
from ledger.events import to_hundredths
from ledger.rulebook import add_months

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


Part = tuple[Decimal, EntryStatus, str, str]  # (hours, status, rule, reason)


@dataclass(frozen=True)
class Verdict:
    """How a timesheet's hours are recorded: one or two parts (a cap may split them)."""

    parts: tuple[Part, ...]

    @classmethod
    def one(cls, hours: Decimal, status: EntryStatus, rule: str, reason: str = "") -> Verdict:
        return cls(((hours, status, rule, reason),))


@dataclass(frozen=True)
class DayClaim:
    """A claim on one person's day that is work on the ledger (its own rules let it count, and no
    facilitator refused it), as the cross-contractor checks see it."""

    event_id: str
    contractor_siret: str
    hours: Decimal
    daily_max: Decimal  # that of the claim's own contract, on that day
    resolved: bool = False  # a facilitator counted it: it weighs on the day but is never flagged


@dataclass(frozen=True)
class TrainingClaim:
    """Training hours whose own rules and day let them count, in the order the cap is shared out."""

    event_id: str
    work_date: dt.date
    hours: Decimal
    cap: Decimal  # the training cap of the claim's own contract, on that day


def withheld_on(hours, day, contract_period: tuple, eligible: tuple, permanent_hire_date=None,
                months_counted: int | None = None) -> Part | None:
    """`withheld` on plain values (dates or date ordinals alike): the one statement of these rules.
    `permanent_hire_date` is given for a permanent hire only, with its `months_counted`."""
    if not contract_period[0] <= day <= contract_period[1]:
        return hours, EntryStatus.NOT_COUNTED, CONTRACT_PERIOD, Withheld.OUTSIDE_CONTRACT_PERIOD.value
    if not eligible[0] <= day <= eligible[1]:
        return hours, EntryStatus.NOT_COUNTED, ELIGIBILITY_WINDOW, Withheld.NOT_ELIGIBLE_ON_WORK_DATE.value
    if permanent_hire_date is not None:
        if isinstance(permanent_hire_date, int):
            last = add_months(dt.date.fromordinal(permanent_hire_date), months_counted).toordinal()
        else:
            last = add_months(permanent_hire_date, months_counted)
        if day >= last:
            return hours, EntryStatus.NOT_COUNTED, PERMANENT_HIRE_CAP, Withheld.PERMANENT_HIRE_CAP_REACHED.value
    return None


def cross_check(day: list[DayClaim]) -> dict[str, Part]:
    """The flagged claims of one person's day, by event id.

    A function of the day's claims as a set, so that the order they arrived in decides nothing: a
    claim is flagged when a claim of another contractor has the same hours, else when the day's
    total is over its own contract's daily maximum. Resolved claims are never flagged again."""
    total = sum(c.hours for c in day)  # Decimal hours or integer hundredths alike
    flags: dict[str, Part] = {}
    for claim in day:
        if claim.resolved:
            continue
        if any(o is not claim and o.contractor_siret != claim.contractor_siret and o.hours == claim.hours
               for o in day):
            flags[claim.event_id] = (claim.hours, EntryStatus.FLAGGED, CLAIMED_TWICE,
                                     Withheld.CLAIMED_BY_TWO_CONTRACTORS.value)
        elif total > claim.daily_max:
            flags[claim.event_id] = (claim.hours, EntryStatus.FLAGGED, DAILY_MAXIMUM,
                                     Withheld.DAILY_MAXIMUM_EXCEEDED.value)
    return flags


def share_training_cap(claims: list[TrainingClaim], already: Decimal | int = 0) -> dict[str, Verdict]:
    """The cap shared out by work date (then event id): the earliest training counts first, whatever
    order the timesheets arrived in. `already`: training hours counted before these claims."""
    used, verdicts = already, {}
    for claim in sorted(claims, key=lambda c: (c.work_date, c.event_id)):
        room = max(0, claim.cap - used)
        if claim.hours <= room:
            verdicts[claim.event_id] = Verdict.one(claim.hours, EntryStatus.COUNTED, ELIGIBLE_ON_CONTRACT)
        else:
            parts = [(claim.hours - room, EntryStatus.NOT_COUNTED, TRAINING_CAP, Withheld.TRAINING_CAP_REACHED.value)]
            if room:
                parts.insert(0, (room, EntryStatus.COUNTED, TRAINING_CAP, ""))
            verdicts[claim.event_id] = Verdict(tuple(parts))
        used += min(claim.hours, room)
    return verdicts


def invoice_hours(amount_eur: Decimal, labour_share: Decimal, hourly_cost_eur: Decimal) -> Decimal:
    """An SIAE invoice as hours: amount x labour share / loaded hourly cost (assumption, see docs)."""
    return to_hundredths(amount_eur * labour_share / hourly_cost_eur)
