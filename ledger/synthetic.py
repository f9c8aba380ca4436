"""A synthetic programme, seeded and deterministic, with the totals it must produce.

The generator decides by construction which timesheets count (it places their work dates inside
both the contract and the eligibility window) and which do not, and adds duplicates and malformed
lines at set rates. Its expected totals come from that ground truth, not from the ledger's rules, so
comparing them with the store checks the whole pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from ledger.entries import Reason
from ledger.events import PARTNER_MODES, Criterion, Mode
from ledger.siret import with_check_digit

OPERATION_NAMES = ["L15S", "L15O", "L15E", "L16", "L17", "L18", "L14S", "L14N", "CMR", "GARES"]


@dataclass(frozen=True)
class Size:
    operations: int = 4
    contracts: int = 20
    contractors: int = 8
    partners: int = 12
    beneficiaries: int = 320
    days_per_beneficiary: int = 70  # working days each beneficiary is declared on, on average
    start: dt.date = dt.date(2025, 1, 6)
    months: int = 6
    duplicate_rate: float = 0.01
    unknown_contract_rate: float = 0.004
    ineligible_rate: float = 0.004
    outside_contract_rate: float = 0.002
    malformed_lines: int = 6


@dataclass
class Expected:
    """What the ledger must show once everything posted is accounted for."""

    hours_by_contract: dict[str, Decimal] = field(default_factory=dict)
    entries_by_contract: dict[str, int] = field(default_factory=dict)
    rejections_by_reason: Counter = field(default_factory=Counter)
    reference_events: int = 0
    counted_timesheets: int = 0
    # Lines that fail validation: refused by a validating client, rejected by the worker if posted.
    malformed_by_reason: Counter = field(default_factory=Counter)

    @property
    def total_hours(self) -> Decimal:
        return sum(self.hours_by_contract.values(), Decimal(0))

    @property
    def accepted(self) -> int:
        return self.reference_events + self.counted_timesheets

    @property
    def rejected(self) -> int:
        return sum(self.rejections_by_reason.values())

    def as_json(self) -> dict:
        return {
            "total_hours": str(self.total_hours),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "reference_events": self.reference_events,
            "counted_timesheets": self.counted_timesheets,
            "malformed_by_reason": dict(sorted(self.malformed_by_reason.items())),
            "rejections_by_reason": dict(sorted(self.rejections_by_reason.items())),
            "hours_by_contract": {k: str(v) for k, v in sorted(self.hours_by_contract.items())},
            "entries_by_contract": dict(sorted(self.entries_by_contract.items())),
        }


@dataclass
class SyntheticProgramme:
    reference: list[dict]  # programme, contracts, beneficiaries: post first
    activity: list[dict | str]  # timesheets, duplicates, and malformed lines (as raw strings)
    expected: Expected

    def lines(self) -> list[str]:
        return [json.dumps(e) if isinstance(e, dict) else e for e in self.reference + self.activity]


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

    reference: list[dict] = [{
        "type": "programme.defined", "event_id": ids.uuid(), "schema_version": 1,
        "programme_id": programme_id, "name": "Grand Paris Express (synthetic)",
        "target_hours": 14_000_000, "start_date": "2017-01-01", "end_date": "2032-12-31"}]

    operations = OPERATION_NAMES[: size.operations]
    contractors = [ids.siret() for _ in range(size.contractors)]
    partners = [ids.siret() for _ in range(size.partners)]
    contracts = []
    for n in range(size.contracts):
        start = size.start - dt.timedelta(days=rng.randrange(30, 700))
        # Most contracts cover the whole window; a few end inside it, so some hours fall outside.
        end = window_end + dt.timedelta(days=rng.randrange(200, 2500)) if n % 7 else \
            size.start + dt.timedelta(days=rng.randrange(60, 120))
        contract = {
            "type": "contract.registered", "event_id": ids.uuid(), "schema_version": 1,
            "contract_id": f"{programme_id}-c{n + 1:03d}", "programme_id": programme_id,
            "operation_id": operations[n % len(operations)], "lot": f"GC-{n % 9 + 1:02d}",
            "contractor_siret": contractors[n % len(contractors)],
            "start_date": start.isoformat(), "end_date": end.isoformat()}
        if n % 3:
            contract.update(amount_eur=rng.randrange(20, 400) * 1_000_000, labour_share=0.5,
                            clause_rate=0.05 if n % 2 else 0.1, hourly_cost_eur=28)
        else:
            contract["target_hours"] = rng.randrange(20, 300) * 1000
        contracts.append((contract, start, end))
        reference.append(contract)
        expected.hours_by_contract[contract["contract_id"]] = Decimal(0)
        expected.entries_by_contract[contract["contract_id"]] = 0

    beneficiaries = []
    for n in range(size.beneficiaries):
        eligible_from = size.start - dt.timedelta(days=rng.randrange(0, 400))
        explicit = n % 4 != 0
        if explicit:
            eligible_until = eligible_from + dt.timedelta(days=rng.randrange(365, 760))
        else:
            # Left to the rulebook's window (24 months): only dates well inside 23 months are used.
            eligible_until = eligible_from + dt.timedelta(days=690)
        key = f"b-{rng.getrandbits(64):016x}"
        enrolment = {
            "type": "beneficiary.enrolled", "event_id": ids.uuid(), "schema_version": 1,
            "beneficiary_id": key, "facilitator_id": f"fac-{n % 15 + 1:02d}",
            "criteria": sorted(rng.sample([c.value for c in Criterion], rng.choice([1, 1, 2]))),
            "eligible_from": eligible_from.isoformat(),
            "birth_year": rng.randrange(1962, 2007), "gender": rng.choice(["F", "M", "M", "M", "X"])}
        if explicit:
            enrolment["eligible_until"] = eligible_until.isoformat()
        beneficiaries.append((key, eligible_from, eligible_until, explicit))
        reference.append(enrolment)
    expected.reference_events = len(reference)

    activity: list[dict | str] = []
    modes = list(Mode)
    busy: dict[str, set[dt.date]] = {}  # days each beneficiary is already declared on

    def free_beneficiary(day: dt.date) -> str:
        """Someone with no timesheet that day: the generator never over-claims a person's day."""
        while True:
            key = rng.choice(beneficiaries)[0]
            if day not in busy.setdefault(key, set()):
                busy[key].add(day)
                return key

    def timesheet(contract_id: str, key: str, day: dt.date, mode: Mode) -> dict:
        event = {"type": "timesheet.submitted", "event_id": ids.uuid(), "schema_version": 1,
                 "contract_id": contract_id, "beneficiary_id": key, "work_date": day.isoformat(),
                 "hours": rng.choice([7, 7.5, 8, 3.5]), "mode": mode.value, "submitted_at": stamp(day)}
        if mode in PARTNER_MODES:
            event["siae_siret"] = rng.choice(partners)
        return event

    for key, eligible_from, eligible_until, explicit in beneficiaries:
        contract, c_start, c_end = rng.choice([c for c in contracts if c[2] > size.start + dt.timedelta(days=90)])
        lo, hi = max(size.start, eligible_from, c_start), min(window_end, eligible_until, c_end)
        days = _working_days(lo, hi)
        if not days:
            continue
        first = rng.randrange(0, max(1, len(days) - size.days_per_beneficiary))
        mode = rng.choice(modes)
        # One person, one contract, one timesheet a day: no over-claim by construction.
        for day in days[first: first + rng.randrange(size.days_per_beneficiary // 2, size.days_per_beneficiary * 3 // 2)]:
            event = timesheet(contract["contract_id"], key, day, mode)
            busy.setdefault(key, set()).add(day)
            activity.append(event)
            expected.hours_by_contract[event["contract_id"]] += Decimal(str(event["hours"]))
            expected.entries_by_contract[event["contract_id"]] += 1
            expected.counted_timesheets += 1
        after = eligible_until + dt.timedelta(days=rng.randrange(1, 40))
        # Only where the window is explicit: the default window's last day is the rulebook's to say.
        if explicit and rng.random() < size.ineligible_rate * size.days_per_beneficiary and after <= c_end:
            busy.setdefault(key, set()).add(after)
            activity.append(timesheet(contract["contract_id"], key, after, mode))
            expected.rejections_by_reason[Reason.NOT_ELIGIBLE_ON_WORK_DATE.value] += 1

    counted = [e for e in activity if isinstance(e, dict)]
    for _ in range(round(len(counted) * size.unknown_contract_rate)):
        day = size.start + dt.timedelta(days=3)
        activity.append(timesheet(f"{programme_id}-c999", free_beneficiary(day), day, Mode.DIRECT_HIRE))
        expected.rejections_by_reason[Reason.UNKNOWN_CONTRACT.value] += 1
    short = [c for c in contracts if c[2] < window_end]
    for _ in range(round(len(counted) * size.outside_contract_rate) if short else 0):
        contract, _, c_end = rng.choice(short)
        day = c_end + dt.timedelta(days=rng.randrange(1, 30))
        activity.append(timesheet(contract["contract_id"], free_beneficiary(day), day, Mode.DIRECT_HIRE))
        expected.rejections_by_reason[Reason.OUTSIDE_CONTRACT_PERIOD.value] += 1
    for event in rng.sample(counted, round(len(counted) * size.duplicate_rate)):
        activity.append(dict(event))  # a contractor's retry: same event, same id
        expected.rejections_by_reason[Reason.DUPLICATE_EVENT.value] += 1

    rng.shuffle(activity)
    for line, reason in _malformed(ids, contracts[0][0]["contract_id"], beneficiaries[0][0], size.malformed_lines):
        activity.insert(rng.randrange(len(activity) + 1), line)
        expected.malformed_by_reason[reason.value] += 1
    return SyntheticProgramme(reference, activity, expected)


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
    return day + dt.timedelta(days=round(months * 30.44))
