"""A synthetic programme, seeded and deterministic, with the totals it must produce.

The generator decides by construction which timesheets count (it places their work dates inside
both the contract and the eligibility window) and which do not, and adds duplicates and malformed
lines at set rates. Its expected totals come from that ground truth, not from the ledger's rules, so
comparing them with the store checks the whole pipeline.

As of its reference date (the end of its months, `Expected.as_of`), the programme shows contracts in
every status of the view contract_trajectory: some start after that date (not started); the others get
their target once their hours are drawn, so that their hours to date are a chosen share of what their
trajectory expects (ahead: on track; a little short: behind; far short: at risk). `Expected.status_by_contract`
states each one, by the view's rule (ledger.trajectory) on the generator's own numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from ledger.entries import Reason, Withheld
from ledger.events import PARTNER_MODES, Criterion, Mode, to_hundredths
from ledger.siret import with_check_digit
from ledger.trajectory import DAYS_PER_MONTH, contract_status, expected_to_date, fraction_elapsed

# Hours to date as a share of the trajectory's expected hours (in %), in turn per contract with hours: on
# track, behind (80% or more), at risk. Clear of the thresholds, so that rounding a target cannot move it.
SHARES_TO_DATE = [(104, 150), (83, 96), (30, 72)]
BUYER_ID = "buyer-sgp"  # the public buyer owning the synthetic programme and its contracts
OPERATION_NAMES = ["L15S", "L15O", "L15E", "L16", "L17", "L18", "L14S", "L14N", "CMR", "GARES"]


@dataclass(frozen=True)
class Size:
    operations: int = 4
    contracts: int = 20
    contractors: int = 8
    partners: int = 12
    beneficiaries: int = 370
    days_per_beneficiary: int = 70  # working days each beneficiary is declared on, on average
    start: dt.date = dt.date(2025, 1, 6)
    months: int = 6
    duplicate_rate: float = 0.01
    unknown_contract_rate: float = 0.004
    ineligible_rate: float = 0.004
    outside_contract_rate: float = 0.002
    malformed_lines: int = 6
    correction_rate: float = 0.01
    retraction_rate: float = 0.005
    permanent_hire_rate: float = 0.2  # of direct hires
    late_enrolment_rate: float = 0.03  # enrolments posted after the person's timesheets
    over_claims: int = 6  # a second contractor claiming the same person's day
    invoices: int = 5
    outcome_rate: float = 0.1
    # The scenario's own rule parameters (those of rules/2026.1.toml), to compute what must count.
    training_cap_hours: int = 150
    permanent_hire_months: int = 12
    hourly_cost_eur: int = 28


@dataclass
class Expected:
    """What the ledger must show once everything posted is accounted for."""

    hours_by_contract: dict[str, Decimal] = field(default_factory=dict)  # counted
    entries_by_contract: dict[str, int] = field(default_factory=dict)  # counted timesheets standing
    targets_by_contract: dict[str, Decimal] = field(default_factory=dict)
    not_counted_hours_by_reason: Counter = field(default_factory=Counter)
    flagged_hours: Decimal = Decimal(0)
    rejections_by_reason: Counter = field(default_factory=Counter)
    accepted_events: int = 0
    reference_events: int = 0
    # As of the reference date (the end of the programme's months): what contract_trajectory must show.
    as_of: dt.date | None = None
    expected_to_date_by_contract: dict[str, Decimal] = field(default_factory=dict)
    status_by_contract: dict[str, str] = field(default_factory=dict)
    # Lines that fail validation: refused by a validating client, rejected by the worker if posted.
    malformed_by_reason: Counter = field(default_factory=Counter)

    @property
    def total_hours(self) -> Decimal:
        return sum(self.hours_by_contract.values(), Decimal(0))

    @property
    def accepted(self) -> int:
        return self.accepted_events

    @property
    def counted_timesheets(self) -> int:
        return sum(self.entries_by_contract.values())

    @property
    def rejected(self) -> int:
        return sum(self.rejections_by_reason.values())

    def count(self, contract_id: str, hours: Decimal, entries: int = 1) -> None:
        self.hours_by_contract[contract_id] += hours
        self.entries_by_contract[contract_id] += entries

    def as_json(self) -> dict:
        return {
            "total_hours": str(self.total_hours),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "reference_events": self.reference_events,
            "counted_timesheets": self.counted_timesheets,
            "flagged_hours": str(self.flagged_hours),
            "not_counted_hours_by_reason": {k: str(v) for k, v in sorted(self.not_counted_hours_by_reason.items())},
            "malformed_by_reason": dict(sorted(self.malformed_by_reason.items())),
            "rejections_by_reason": dict(sorted(self.rejections_by_reason.items())),
            "hours_by_contract": {k: str(v) for k, v in sorted(self.hours_by_contract.items())},
            "entries_by_contract": dict(sorted(self.entries_by_contract.items())),
            "targets_by_contract": {k: str(v) for k, v in sorted(self.targets_by_contract.items())},
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "expected_to_date_by_contract": {k: str(v) for k, v in sorted(self.expected_to_date_by_contract.items())},
            "status_by_contract": dict(sorted(self.status_by_contract.items())),
        }


@dataclass
class SyntheticProgramme:
    """Events in the order to post them; each phase after the previous one is accounted for."""

    reference: list[dict]  # programme, contracts, most enrolments, a pooling agreement
    activity: list[dict | str]  # timesheets, invoices, duplicates, malformed lines (raw strings), then late enrolments
    follow_up: list[dict] = field(default_factory=list)  # corrections, retractions, over-claims, outcomes
    resolutions: list[dict] = field(default_factory=list)  # facilitators' decisions on flagged claims
    expected: Expected = field(default_factory=Expected)

    @property
    def phases(self) -> list[tuple[str, list[dict | str]]]:
        return [("reference", self.reference), ("activity", self.activity), ("follow_up", self.follow_up),
                ("resolutions", self.resolutions)]

    def lines(self) -> list[str]:
        return [json.dumps(e) if isinstance(e, dict) else e for _, events in self.phases for e in events]


def _working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


class _Ids:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def uuid(self) -> str:
        return str(UUID(int=self.rng.getrandbits(128), version=4))

    def siret(self) -> str:
        return with_check_digit("".join(str(self.rng.randrange(10)) for _ in range(13)))


def generate(seed: int = 2015, size: Size = Size(), programme_id: str = "gpe") -> SyntheticProgramme:
    rng = random.Random(seed)
    ids = _Ids(rng)
    expected = Expected()
    window_end = _add_days_months(size.start, size.months)

    def stamp(day: dt.date) -> str:
        return (dt.datetime.combine(day, dt.time(18), tzinfo=dt.timezone.utc)
                + dt.timedelta(minutes=rng.randrange(0, 3 * 24 * 60))).isoformat()

    def event(type_: str, **fields) -> dict:
        return {"type": type_, "event_id": ids.uuid(), "schema_version": 1, **fields}

    reference: list[dict] = [event(
        "programme.defined", programme_id=programme_id, buyer_id=BUYER_ID, name="Grand Paris Express (synthetic)",
        target_hours=14_000_000, start_date="2017-01-01", end_date="2032-12-31")]

    operations = OPERATION_NAMES[: size.operations]
    contractors = [ids.siret() for _ in range(size.contractors)]
    partners = [ids.siret() for _ in range(size.partners)]
    contracts = []
    hours_per_eur: dict[str, Decimal] = {}  # target hours per euro of the amount, where the target comes from it
    for n in range(size.contracts):
        start = size.start - dt.timedelta(days=rng.randrange(30, 700))
        if n == 1:
            start = dt.date(2019, 3, 1)  # notified under the 5% clause rate
        # Most contracts cover the whole window; a few end inside it, so some hours fall outside.
        end = window_end + dt.timedelta(days=rng.randrange(200, 2500)) if n % 7 else \
            size.start + dt.timedelta(days=rng.randrange(60, 120))
        if n % 5 == 3 and n % 7:
            # Notified, not started yet: begins 2 to 12 weeks after the reference date, no hours so far.
            start = window_end + dt.timedelta(days=14 + 35 * (n // 5 % 3))
        contract = event(
            "contract.registered", contract_id=f"{programme_id}-c{n + 1:03d}", programme_id=programme_id, buyer_id=BUYER_ID,
            operation_id=operations[n % len(operations)], lot=f"GC-{n % 9 + 1:02d}",
            contractor_siret=contractors[n % len(contractors)], start_date=start.isoformat(), end_date=end.isoformat())
        amount = Decimal(rng.randrange(20, 400) * 1_000_000)
        if n % 3 == 1:
            # Rates left to the rulebook: GPE's 5% until 2020-09-30 then 10%, labour share 50%, EUR 28/h.
            contract["amount_eur"] = int(amount)
            rate = Decimal("0.05") if start < dt.date(2020, 10, 1) else Decimal("0.10")
            target = amount * Decimal("0.5") * rate / size.hourly_cost_eur
            hours_per_eur[contract["contract_id"]] = Decimal("0.5") * rate / size.hourly_cost_eur
        elif n % 3 == 2:
            contract.update(amount_eur=int(amount), labour_share=0.5, clause_rate=0.05, hourly_cost_eur=28)
            target = amount * Decimal("0.5") * Decimal("0.05") / 28
            hours_per_eur[contract["contract_id"]] = Decimal("0.5") * Decimal("0.05") / 28
        else:
            target = Decimal(rng.randrange(20, 300) * 1000)
            contract["target_hours"] = int(target)
        contracts.append((contract, start, end))
        reference.append(contract)
        expected.hours_by_contract[contract["contract_id"]] = Decimal(0)
        expected.entries_by_contract[contract["contract_id"]] = 0
        expected.targets_by_contract[contract["contract_id"]] = to_hundredths(target)
    contractor_of = {c["contract_id"]: c["contractor_siret"] for c, _, _ in contracts}
    pooled = [c["contract_id"] for c, _, _ in contracts if c["contractor_siret"] == contractors[0]]
    if len(pooled) >= 2:
        reference.append(event("pooling.agreed", agreement_id=f"{programme_id}-pool-1", programme_id=programme_id,
                               contractor_siret=contractors[0], contract_ids=pooled,
                               effective_from=size.start.isoformat()))

    beneficiaries = []
    enrolments = {}
    for n in range(size.beneficiaries):
        eligible_from = size.start - dt.timedelta(days=rng.randrange(0, 400))
        explicit = n % 4 != 0
        if explicit:
            eligible_until = eligible_from + dt.timedelta(days=rng.randrange(365, 760))
        else:
            # Left to the rulebook's window (24 months): only dates well inside 23 months are used.
            eligible_until = eligible_from + dt.timedelta(days=690)
        key = f"b-{rng.getrandbits(64):016x}"
        criteria = sorted(rng.sample([c.value for c in Criterion], rng.choice([1, 1, 2])))
        enrolment = event("beneficiary.enrolled", beneficiary_id=key, facilitator_id=f"fac-{n % 15 + 1:02d}",
                          criteria=criteria, eligible_from=eligible_from.isoformat(),
                          validated_on=eligible_from.isoformat(),
                          birth_year=rng.randrange(1962, 2007), gender=rng.choice(["F", "M", "M", "M", "X"]))
        if Criterion.FACILITATOR_VALIDATION.value in criteria:
            enrolment["derogation_reason"] = "long inactivity after a health problem, assessed in interview"
        if explicit:
            enrolment["eligible_until"] = eligible_until.isoformat()
        beneficiaries.append((key, eligible_from, eligible_until, explicit))
        enrolments[key] = enrolment
    late = set(rng.sample(sorted(enrolments), round(size.beneficiaries * size.late_enrolment_rate)))
    reference += [e for k, e in enrolments.items() if k not in late]
    expected.reference_events = len(reference)

    activity: list[dict | str] = []
    follow_up: list[dict] = []
    resolutions: list[dict] = []
    busy: dict[str, set[dt.date]] = {}  # days each beneficiary is already declared on
    plain: list[dict] = []  # counted timesheets nothing else touches: for corrections and over-claims

    def free_beneficiary(day: dt.date) -> str:
        """Someone with no timesheet that day: the generator never over-claims a person's day by chance."""
        while True:
            key = rng.choice(beneficiaries)[0]
            if day not in busy.setdefault(key, set()):
                busy[key].add(day)
                return key

    def timesheet(contract_id: str, key: str, day: dt.date, mode: Mode, hours=None, **fields) -> dict:
        sheet = event("timesheet.submitted", contract_id=contract_id, beneficiary_id=key, work_date=day.isoformat(),
                      hours=hours if hours is not None else rng.choice([7, 7.5, 8, 3.5]), mode=mode.value,
                      submitted_at=stamp(day), **fields)
        if mode in PARTNER_MODES:
            sheet["siae_siret"] = rng.choice(partners)
        busy.setdefault(key, set()).add(day)
        return sheet

    over_cap_done = False
    for key, eligible_from, eligible_until, explicit in beneficiaries:
        contract, c_start, c_end = rng.choice([c for c in contracts if c[2] > size.start + dt.timedelta(days=90)])
        if c_start > window_end:  # not started yet: the person works on a contract that runs through the window
            contract, c_start, c_end = rng.choice([c for c in contracts if c[1] <= size.start and c[2] >= window_end]
                                                  or [c for c in contracts if c[1] <= window_end])
        lo, hi = max(size.start, eligible_from, c_start), min(window_end, eligible_until, c_end)
        days = _working_days(lo, hi)
        if not days:
            continue
        first = rng.randrange(0, max(1, len(days) - size.days_per_beneficiary))
        mode = rng.choice(list(Mode))
        stint = days[first: first + rng.randrange(size.days_per_beneficiary // 2, size.days_per_beneficiary * 3 // 2)]
        extra, fixed_hours, cap_day = {}, None, None
        if mode is Mode.TRAINING:
            if not over_cap_done and len(stint) >= 25:
                stint, fixed_hours, over_cap_done = stint[:25], 8, True  # 200 h: the cap withholds 50
            else:
                stint = stint[: size.training_cap_hours // 8]  # under the cap by construction
        elif mode is Mode.DIRECT_HIRE and rng.random() < size.permanent_hire_rate:
            hired = stint[0] - dt.timedelta(days=330)
            hired = hired.replace(day=min(hired.day, 28))
            cap_day = hired.replace(year=hired.year + size.permanent_hire_months // 12)
            extra = {"hire_type": "permanent", "hire_date": hired.isoformat()}
        training_left = Decimal(size.training_cap_hours)
        for day in stint:
            sheet = timesheet(contract["contract_id"], key, day, mode, fixed_hours, **extra)
            activity.append(sheet)
            hours = Decimal(str(sheet["hours"]))
            if cap_day is not None and day >= cap_day:
                expected.not_counted_hours_by_reason[Withheld.PERMANENT_HIRE_CAP_REACHED.value] += hours
            elif mode is Mode.TRAINING:
                counted = min(hours, training_left)
                training_left -= counted
                if counted:
                    expected.count(sheet["contract_id"], counted)
                if hours > counted:
                    expected.not_counted_hours_by_reason[Withheld.TRAINING_CAP_REACHED.value] += hours - counted
            else:
                expected.count(sheet["contract_id"], hours)
                if cap_day is None:
                    plain.append(sheet)
            expected.accepted_events += 1
        after = eligible_until + dt.timedelta(days=rng.randrange(1, 40))
        # Only where the window is explicit: the default window's last day is the rulebook's to say.
        if explicit and rng.random() < size.ineligible_rate * size.days_per_beneficiary and after <= c_end:
            sheet = timesheet(contract["contract_id"], key, after, mode if mode is not Mode.TRAINING else Mode.GEIQ)
            activity.append(sheet)
            ineligible = Withheld.NOT_ELIGIBLE_ON_WORK_DATE.value
            expected.not_counted_hours_by_reason[ineligible] += Decimal(str(sheet["hours"]))
            expected.accepted_events += 1

    regular = len(activity)
    after_as_of: Counter = Counter()  # counted hours dated after the reference date, per contract
    for _ in range(round(regular * size.unknown_contract_rate)):
        day = size.start + dt.timedelta(days=3)
        activity.append(timesheet(f"{programme_id}-c999", free_beneficiary(day), day, Mode.DIRECT_HIRE))
        expected.rejections_by_reason[Reason.UNKNOWN_CONTRACT.value] += 1  # after waiting as pending
    short = [c for c in contracts if c[2] < window_end]
    for _ in range(round(regular * size.outside_contract_rate) if short else 0):
        contract, _, c_end = rng.choice(short)
        day = c_end + dt.timedelta(days=rng.randrange(1, 30))
        sheet = timesheet(contract["contract_id"], free_beneficiary(day), day, Mode.DIRECT_HIRE)
        activity.append(sheet)
        expected.not_counted_hours_by_reason[Withheld.OUTSIDE_CONTRACT_PERIOD.value] += Decimal(str(sheet["hours"]))
        expected.accepted_events += 1
    for _ in range(size.invoices):
        period_end = size.start + dt.timedelta(days=rng.randrange(20, 150))
        started = [c for c in contracts if c[1] <= period_end] or contracts
        contract, c_start, c_end = rng.choice([c for c in started if c[2] >= period_end] or
                                              [max(started, key=lambda c: c[2])])
        period_end = min(period_end, c_end)
        amount = Decimal(rng.randrange(10, 200) * 1000)
        activity.append(event("siae.invoice", invoice_id=f"inv-{ids.uuid()[:8]}", contract_id=contract["contract_id"],
                              siae_siret=rng.choice(partners), amount_eur=int(amount),
                              period_start=(period_end - dt.timedelta(days=30)).isoformat(),
                              period_end=period_end.isoformat(), labour_share=0.4,
                              submitted_at=stamp(period_end)))
        invoice_hours = to_hundredths(amount * Decimal("0.4") / size.hourly_cost_eur)
        expected.count(contract["contract_id"], invoice_hours, entries=0)
        if period_end > window_end:  # dated at its period's end: after the reference date, not "to date"
            after_as_of[contract["contract_id"]] += invoice_hours
        expected.accepted_events += 1
    timesheets = [e for e in activity if isinstance(e, dict) and e["type"] == "timesheet.submitted"]
    for sheet in rng.sample(timesheets, round(len(timesheets) * size.duplicate_rate)):
        activity.append(dict(sheet))  # a contractor's retry: same event, same id
        expected.rejections_by_reason[Reason.DUPLICATE_EVENT.value] += 1

    # Corrections and retractions of counted timesheets, after them.
    touched = rng.sample(plain, min(len(plain), round(len(plain) * (size.correction_rate + size.retraction_rate))
                                    + 2 * size.over_claims))
    bases, touched = touched[: 2 * size.over_claims], touched[2 * size.over_claims:]
    corrections = round(len(touched) * size.correction_rate / (size.correction_rate + size.retraction_rate))
    for n, sheet in enumerate(touched):
        old = Decimal(str(sheet["hours"]))
        if n < corrections:
            fixed = {k: v for k, v in sheet.items() if k not in ("type", "event_id")}
            fixed.update(hours=float(old - Decimal("0.5")), submitted_at=stamp(dt.date.fromisoformat(sheet["work_date"])))
            follow_up.append(event("timesheet.corrected", original_event_id=sheet["event_id"], **fixed))
            expected.count(sheet["contract_id"], Decimal("-0.5"), entries=0)
        else:
            follow_up.append(event("timesheet.retracted", original_event_id=sheet["event_id"],
                                   beneficiary_id=sheet["beneficiary_id"], contract_id=sheet["contract_id"],
                                   reason="declared on the wrong person",
                                   submitted_at=stamp(dt.date.fromisoformat(sheet["work_date"]))))
            expected.count(sheet["contract_id"], -old, entries=-1)
        expected.accepted_events += 1

    # Over-claims: a second contractor claims the same person's day; facilitators resolve some.
    claims = 0
    for base in bases:
        day = dt.date.fromisoformat(base["work_date"])
        others = [c for c, s, e in contracts if s <= day <= e and c["contractor_siret"] != contractor_of[base["contract_id"]]]
        if not others or claims == size.over_claims:
            continue
        same_hours = claims % 2 == 0  # alternately: the same hours twice, or more than the daily maximum
        hours = base["hours"] if same_hours else 4
        if not same_hours and Decimal(str(base["hours"])) + 4 <= 10:
            continue
        other = rng.choice(others)
        claim = event("timesheet.submitted", contract_id=other["contract_id"], beneficiary_id=base["beneficiary_id"],
                      work_date=base["work_date"], hours=hours, mode="direct_hire", submitted_at=stamp(day))
        follow_up.append(claim)
        expected.accepted_events += 1
        # Both sides of the conflict are flagged (which arrived first must not decide); facilitators
        # count one and refuse the other, count both, or leave both flagged.
        base_hours, claim_hours = Decimal(str(base["hours"])), Decimal(str(hours))
        expected.count(base["contract_id"], -base_hours, entries=-1)
        decisions = [("count", "refuse"), ("count", "count"), (None, None)][claims % 3]
        for (event_id, contract_id, side_hours), decision in zip(
                [(base["event_id"], base["contract_id"], base_hours), (claim["event_id"], other["contract_id"], claim_hours)],
                decisions):
            if decision is None:
                expected.flagged_hours += side_hours
                continue
            resolutions.append(event("claim.resolved", flagged_event_id=event_id,
                                     beneficiary_id=base["beneficiary_id"],
                                     facilitator_id=enrolments[base["beneficiary_id"]]["facilitator_id"], decision=decision,
                                     reason="checked with both site managers"))
            expected.accepted_events += 1
            if decision == "count":
                expected.count(contract_id, side_hours)
            else:
                expected.not_counted_hours_by_reason[Withheld.REFUSED_BY_FACILITATOR.value] += side_hours
        claims += 1

    for key in rng.sample([b[0] for b in beneficiaries], round(size.beneficiaries * size.outcome_rate)):
        outcome = rng.choice(["durable_job", "transition_job", "positive_exit"])
        follow_up.append(event("beneficiary.outcome", beneficiary_id=key, facilitator_id=enrolments[key]["facilitator_id"], outcome=outcome,
                               outcome_date=window_end.isoformat()))
        expected.accepted_events += 1
    expected.accepted_events += expected.reference_events + len(late)

    rng.shuffle(activity)
    for line, reason in _malformed(ids, contracts[0][0]["contract_id"], beneficiaries[0][0], size.malformed_lines):
        activity.insert(rng.randrange(len(activity) + 1), line)
        expected.malformed_by_reason[reason.value] += 1
    # Enrolments recorded after the hire: the person's timesheets wait for them, then count.
    activity += [enrolments[k] for k in sorted(late)]
    _set_targets_and_statuses(rng, contracts, hours_per_eur, after_as_of, window_end, expected)
    return SyntheticProgramme(reference, activity, follow_up, resolutions, expected)


def _set_targets_and_statuses(rng: random.Random, contracts: list[tuple[dict, dt.date, dt.date]],
                              hours_per_eur: dict[str, Decimal], after_as_of: Counter, as_of: dt.date,
                              expected: Expected) -> None:
    """Each started contract with hours gets the target that puts its hours to date at a chosen share
    of its trajectory (SHARES_TO_DATE, in turn): a declared target rounded to 100 h, or an amount
    rounded to EUR 1,000 under the contract's rates. Then every contract's expected hours to date and
    status, by the view's rule, from the final targets."""
    expected.as_of = as_of
    turn = 0
    for contract, start, end in contracts:
        contract_id = contract["contract_id"]
        done = expected.hours_by_contract[contract_id] - after_as_of[contract_id]
        fraction = fraction_elapsed(start, end, as_of)
        if start <= as_of and done > 0 and fraction > 0:
            low, high = SHARES_TO_DATE[turn % len(SHARES_TO_DATE)]
            turn += 1
            share = Decimal(rng.randrange(low, high + 1)) / 100
            target = done / (Decimal(fraction) * share)
            if contract_id in hours_per_eur:
                amount = max(1, round(target / hours_per_eur[contract_id] / 1000)) * 1000
                contract["amount_eur"] = amount
                target = amount * hours_per_eur[contract_id]
            else:
                contract["target_hours"] = max(1, round(target / 100)) * 100
                target = Decimal(contract["target_hours"])
            expected.targets_by_contract[contract_id] = to_hundredths(target)
        target = expected.targets_by_contract[contract_id]
        expected.expected_to_date_by_contract[contract_id] = expected_to_date(target, start, end, as_of)
        expected.status_by_contract[contract_id] = contract_status(start, end, target, done, as_of)


def _malformed(ids: _Ids, contract_id: str, key: str, count: int) -> list[tuple[str, Reason]]:
    base = {"type": "timesheet.submitted", "schema_version": 1, "contract_id": contract_id,
            "beneficiary_id": key, "work_date": "2025-02-03", "hours": 7, "mode": "direct_hire",
            "submitted_at": "2025-02-03T18:00:00+00:00"}
    invalid = Reason.INVALID_EVENT
    lines = [
        ('{"type": "timesheet.submitted", "event_id": "' + ids.uuid() + '", "hours": 7', Reason.INVALID_JSON),
        (json.dumps({**base, "event_id": ids.uuid(), "hours": 30}), invalid),  # more than a day
        (json.dumps({**base, "event_id": ids.uuid(), "mode": "geiq"}), invalid),  # partner missing
        (json.dumps({**base, "event_id": "not-a-uuid"}), invalid),
        (json.dumps({**base, "event_id": ids.uuid(), "overtime": True}), invalid),  # unknown field
        (json.dumps({**base, "event_id": ids.uuid(), "work_date": "03/02/2025"}), invalid),
    ]
    return [lines[i % len(lines)] for i in range(count)]


def _add_days_months(day: dt.date, months: int) -> dt.date:
    return day + dt.timedelta(days=round(months * DAYS_PER_MONTH))
