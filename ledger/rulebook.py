"""The versioned counting rulebook: parameters with effective periods, per programme and contract.

Loaded from a reviewed TOML file (rules/*.toml). Each parameter resolves for a contract on a date:
the contract's override if one covers the date, else the programme's, else the default.
"""

from __future__ import annotations

import calendar
import datetime as dt
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledger.events import BeneficiaryEnrolled, ContractRegistered, target_hours_from_amount

PARAMETERS = {
    "eligibility_window_months": int,
    "permanent_hire_months_counted": int,
    "training_cap_hours": Decimal,
    "daily_max_hours": Decimal,
    "pending_timeout_hours": Decimal,
    "labour_share": Decimal,
    "hourly_cost_eur": Decimal,
    "clause_rate": Decimal,
}


@dataclass(frozen=True)
class Period:
    start: dt.date | None
    end: dt.date | None  # inclusive
    value: Any

    def covers(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


Periods = tuple[Period, ...]


def _periods(name: str, raw: Any) -> Periods:
    kind = PARAMETERS.get(name)
    if kind is None:
        raise ValueError(f"unknown rulebook parameter {name!r}; known: {', '.join(sorted(PARAMETERS))}")

    def convert(value: Any) -> Any:
        return Decimal(str(value)) if kind is Decimal else kind(value)

    if not isinstance(raw, list):
        return (Period(None, None, convert(raw)),)
    periods = []
    for item in raw:
        unknown = set(item) - {"from", "until", "value"}
        if unknown or "value" not in item:
            raise ValueError(f"{name}: a period is {{from, until, value}}, got {sorted(item)}")
        start, end = _date(item.get("from")), _date(item.get("until"))
        if start is not None and end is not None and end < start:
            raise ValueError(f"{name}: a period ends ({end}) before it starts ({start})")
        periods.append(Period(start, end, convert(item["value"])))
    ordered = sorted(periods, key=lambda p: p.start or dt.date.min)
    for before, after in zip(ordered, ordered[1:]):
        # An open start (None) begins before everything: it overlaps whatever follows it unless it ends first.
        if before.end is None or after.start is None or after.start <= before.end:
            raise ValueError(f"{name}: periods overlap ({before.start}..{before.end} and {after.start}..)")
    return tuple(ordered)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


# Used when a rulebook file does not set a parameter: the documented assumptions of docs/rules.md.
BUILT_IN_DEFAULTS: dict[str, Any] = {
    "eligibility_window_months": 24,
    "permanent_hire_months_counted": 12,
    "training_cap_hours": 150,
    "daily_max_hours": 10,
    "pending_timeout_hours": 168,
    "labour_share": 0.5,
    "hourly_cost_eur": 28,
    "clause_rate": 0.05,
}


def _built_in() -> dict[str, Periods]:
    return {name: _periods(name, raw) for name, raw in BUILT_IN_DEFAULTS.items()}


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Rulebook:
    version: str = "2026.1"
    defaults: dict[str, Periods] = field(default_factory=_built_in)
    programmes: dict[str, dict[str, Periods]] = field(default_factory=dict)
    contracts: dict[str, dict[str, Periods]] = field(default_factory=dict)
    # Last day of the eligibility window opening on a date: every timesheet asks, for a few
    # thousand distinct dates.
    _window_ends: dict[dt.date, dt.date] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_toml(cls, text: str) -> Rulebook:
        return cls.from_dict(tomllib.loads(text))

    @classmethod
    def from_dict(cls, data: dict) -> Rulebook:
        unknown = set(data) - {"version", "defaults", "programmes", "contracts"}
        if unknown:
            raise ValueError(f"unknown rulebook sections: {sorted(unknown)}")

        def params(section: dict) -> dict[str, Periods]:
            return {name: _periods(name, raw) for name, raw in section.items()}

        defaults = _built_in()
        defaults.update(params(data.get("defaults", {})))
        return cls(version=str(data["version"]), defaults=defaults,
                   programmes={k: params(v) for k, v in data.get("programmes", {}).items()},
                   contracts={k: params(v) for k, v in data.get("contracts", {}).items()})

    def with_overrides(self, **values: Any) -> Rulebook:
        """The same rulebook with some defaults replaced (configuration, tests)."""
        defaults = dict(self.defaults)
        defaults.update({name: _periods(name, value) for name, value in values.items()})
        return Rulebook(self.version, defaults, self.programmes, self.contracts)

    def param(self, name: str, day: dt.date, programme_id: str | None = None, contract_id: str | None = None):
        for scope in (self.contracts.get(contract_id or ""), self.programmes.get(programme_id or "")):
            if scope and name in scope:
                for period in scope[name]:
                    if period.covers(day):
                        return period.value
        for period in self.defaults.get(name, ()):
            if period.covers(day):
                return period.value
        raise LookupError(f"rulebook {self.version}: no value of {name} on {day}")

    def for_contract(self, name: str, contract: ContractRegistered, day: dt.date):
        return self.param(name, day, contract.programme_id, contract.contract_id)

    def target_hours(self, contract: ContractRegistered) -> Decimal:
        """Declared, or amount x labour share x clause rate / loaded hourly cost (facilitator guides),
        with the rates in force when the contract starts when the contract does not give them."""
        if contract.target_hours is not None:
            return contract.target_hours
        on = contract.start_date
        share = contract.labour_share or self.for_contract("labour_share", contract, on)
        rate = contract.clause_rate or self.for_contract("clause_rate", contract, on)
        cost = contract.hourly_cost_eur or self.for_contract("hourly_cost_eur", contract, on)
        return target_hours_from_amount(contract.amount_eur, share, rate, cost)

    def eligible_until(self, beneficiary: BeneficiaryEnrolled) -> dt.date:
        """Last eligible day: the explicit end, else the window after validation; never past the
        validity of the proof.

        The window runs from the facilitator's validation (domain.md: "eligibility window after
        validation"), or from eligible_from when that comes later or no validation day is given. A
        validation recorded after the hire (common) leaves eligible_from as the first counted day."""
        if beneficiary.eligible_until is not None:
            until = beneficiary.eligible_until
        else:
            start = max(beneficiary.eligible_from, beneficiary.validated_on or beneficiary.eligible_from)
            until = self._window_ends.get(start)
            if until is None:

                months = self.param("eligibility_window_months", start)
                until = self._window_ends[start] = add_months(start, months) - dt.timedelta(days=1)
        if beneficiary.proof_valid_until is not None:
            until = min(until, beneficiary.proof_valid_until)
        return until

