"""The event contract: what contractors, facilitators and buyers post to the ledger.

Every event carries `type`, `event_id` (a UUID chosen by the sender, the key of idempotency) and
`schema_version`. Models forbid unknown fields and parse JSON strictly (no "7.5" string for a number,
no 1 for a boolean), so a sender learns exactly which field is wrong. `ledger schemas` exports these
models as JSON Schema for contractor systems written in other languages.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import (
    AfterValidator,
    BeforeValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    Field,
    GetPydanticSchema,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import core_schema

from ledger.siret import is_valid_siret

SCHEMA_VERSION = 1


@functools.lru_cache(maxsize=4096)  # a programme names a few hundred SIRETs over and over
def _check_siret(value: str) -> str:
    if not is_valid_siret(value):
        raise ValueError("not a valid SIRET: 14 digits with a Luhn check digit expected")
    return value


Siret = Annotated[str, Field(min_length=14, max_length=14, examples=["73282932000074"]), AfterValidator(_check_siret)]

# An identifier chosen by the buyer or facilitator: readable, but never free text.
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]

_NATIONAL_NUMBER = re.compile(r"^\d{13,15}$")


def _check_pseudonym(value: str) -> str:
    # A bare 13-15 digit key is what a social-security number (NIR) looks like: refuse it so that a
    # sender who put the wrong column in the key field is told, rather than leaking it into Kafka.
    if _NATIONAL_NUMBER.match(value):
        raise ValueError("looks like a national identification number; send the pseudonymous key")
    return value


# The facilitator's pseudonymous key (e.g. a keyed hash). Lower-case letters, digits, '-' and '_'
# only: a name, an address or an e-mail cannot pass.
BeneficiaryKey = Annotated[
    str,
    Field(min_length=8, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]+$", examples=["b-3f9a1c2e7d"]),
    AfterValidator(_check_pseudonym),
]

def _json_number(value):
    # pydantic's strict mode still reads "7.5" into a Decimal; the contract says numbers are numbers.
    if isinstance(value, (str, bool)) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("must be a JSON number")
    # A JSON number arrives as int or float; its shortest repr is the decimal the sender wrote.
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _number(max_digits: int, decimal_places: int, **bounds) -> type[Decimal]:
    """A decimal quantity sent as a JSON number, exact to `decimal_places`, and so documented.

    It is written back as a JSON number too: with at most 15 significant digits a float's shortest
    repr is exactly the decimal, so nothing is lost either way.
    """
    assert max_digits <= 15
    schema = {"type": "number", "multipleOf": float(Decimal(1).scaleb(-decimal_places))}
    schema.update({{"gt": "exclusiveMinimum", "ge": "minimum", "le": "maximum"}[k]: v for k, v in bounds.items()})
    # Constraints placed after the BeforeValidator are checked in Python (a third of a timesheet's
    # parse). Placed before it, pydantic-core checks them on the Decimal: the bounds, then the
    # digits, the order in which a value that breaks both has always been reported.
    digits = GetPydanticSchema(lambda source, handler: core_schema.chain_schema(
        [handler(source), core_schema.decimal_schema(max_digits=max_digits, decimal_places=decimal_places)]))
    return Annotated[Decimal, Field(**bounds), digits, BeforeValidator(_json_number),
                     PlainSerializer(float, return_type=float, when_used="json"), WithJsonSchema(schema)]


Hours = _number(4, 2, gt=0, le=24)
Money = _number(14, 2, gt=0)
Share = _number(5, 4, gt=0, le=1)
TargetHours = _number(12, 2, ge=0)
def _json_integer(value):
    if type(value) is not int:  # JSON true and 1.0 are not the integer 1
        raise ValueError("must be a JSON integer")
    return value


SchemaVersion = Annotated[Literal[1], BeforeValidator(_json_integer)]


class Criterion(StrEnum):
    """Eligibility criteria of the clause (CCAG 2021 art. 16; cie84.org), a closed set."""

    LONG_TERM_JOB_SEEKER = "long_term_job_seeker"  # registered job seeker > 12 months
    RSA = "rsa"
    ASS = "ass"
    AAH = "aah"
    RQTH = "rqth"  # recognised disabled worker
    YOUTH_NO_QUALIFICATION = "youth_no_qualification"  # under 26, no qualification, out of school >= 6 months
    SIAE_PATHWAY = "siae_pathway"
    EPIDE = "epide"
    E2C = "e2c"
    FACILITATOR_VALIDATION = "facilitator_validation"  # other publics, on a reasoned validation


class Mode(StrEnum):
    """How the contractor delivers the hours (alter-interim.fr)."""

    DIRECT_HIRE = "direct_hire"
    TEMP_AGENCY_ETTI = "temp_agency_etti"
    SIAE_PLACEMENT_AI = "siae_placement_ai"
    SIAE_SUBCONTRACT = "siae_subcontract"
    GEIQ = "geiq"
    TRAINING = "training"


# Modes where a partner structure delivers the hours and must be named.
PARTNER_MODES = frozenset({Mode.TEMP_AGENCY_ETTI, Mode.SIAE_PLACEMENT_AI, Mode.SIAE_SUBCONTRACT, Mode.GEIQ})


class Gender(StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNDISCLOSED = "X"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, str_strip_whitespace=False)

    event_id: UUID
    schema_version: SchemaVersion = Field(description="Version of this event's schema")


class ProgrammeDefined(_Event):
    """A programme (e.g. the Grand Paris Express) and its overall insertion-hours target."""

    type: Literal["programme.defined"]
    programme_id: Identifier
    buyer_id: Identifier = Field(description="The buyer that owns the programme (the subject of its buyer token)")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    target_hours: TargetHours
    start_date: dt.date
    end_date: dt.date

    @model_validator(mode="after")
    def _period(self) -> ProgrammeDefined:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


def target_hours_from_amount(amount_eur: Decimal, labour_share: Decimal, clause_rate: Decimal,
                             hourly_cost_eur: Decimal) -> Decimal:
    """Facilitators' tender formula: amount x labour share x clause rate / loaded hourly cost.

    (mefsud77.fr, laser-emploi.fr: EUR 1M x 50% x 5% / 30 = 833 h.) Rounded to the hundredth.
    """
    return (amount_eur * labour_share * clause_rate / hourly_cost_eur).quantize(Decimal("0.01"), ROUND_HALF_UP)


class ContractRegistered(_Event):
    """A works contract (marche/lot) carrying an insertion clause, and the target it sets."""

    type: Literal["contract.registered"]
    contract_id: Identifier
    programme_id: Identifier
    buyer_id: Identifier = Field(description="The buyer that owns the contract (the subject of its buyer token); "
                                             "a contract is never registered again by another buyer")
    operation_id: Identifier
    lot: Annotated[str, Field(min_length=1, max_length=64)]
    contractor_siret: Siret
    start_date: dt.date
    end_date: dt.date
    target_hours: TargetHours | None = None
    amount_eur: Money | None = None
    labour_share: Share | None = None
    clause_rate: Share | None = None
    hourly_cost_eur: Money | None = None

    @model_validator(mode="after")
    def _target_and_period(self) -> ContractRegistered:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        inputs = (self.amount_eur, self.labour_share, self.clause_rate, self.hourly_cost_eur)
        given = sum(v is not None for v in inputs)
        if self.target_hours is None and self.amount_eur is None:
            # The rates may be left to the rulebook (those in force at start_date); the amount may not.
            raise ValueError("give target_hours, or amount_eur (with labour_share, clause_rate and "
                             "hourly_cost_eur, or the rulebook's rates in force at start_date)")
        if self.target_hours is not None and given:
            raise ValueError("give target_hours or the inputs to compute it, not both")
        return self


class BeneficiaryEnrolled(_Event):
    """A facilitator validated a person's eligibility. Pseudonymous: no name, number or address."""

    type: Literal["beneficiary.enrolled"]
    beneficiary_id: BeneficiaryKey
    facilitator_id: Identifier
    criteria: Annotated[list[Criterion], Field(min_length=1, max_length=len(Criterion))]
    eligible_from: dt.date
    eligible_until: dt.date | None = Field(
        default=None, description="Last eligible day; when absent the rulebook's window applies (24 months)")
    validated_on: dt.date | None = Field(default=None, description="Day the facilitator validated eligibility")
    proof_valid_until: dt.date | None = Field(
        default=None, description="Last day the eligibility proof is valid; eligibility ends there at the latest")
    derogation_reason: Annotated[str, Field(min_length=10, max_length=500)] | None = Field(
        default=None, description="Required with criterion facilitator_validation: why this person is eligible")
    birth_year: Annotated[int, Field(ge=1940, le=2015)] | None = None
    gender: Gender | None = None

    @model_validator(mode="after")
    def _window(self) -> BeneficiaryEnrolled:
        if self.eligible_until is not None and self.eligible_until < self.eligible_from:
            raise ValueError("eligible_until is before eligible_from")
        if self.proof_valid_until is not None and self.proof_valid_until < self.eligible_from:
            raise ValueError("proof_valid_until is before eligible_from")
        if len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria are repeated")
        if Criterion.FACILITATOR_VALIDATION in self.criteria and self.derogation_reason is None:
            raise ValueError("derogation_reason is required with criterion facilitator_validation")
        return self


class HireType(StrEnum):
    FIXED_TERM = "fixed_term"
    PERMANENT = "permanent"
    APPRENTICESHIP = "apprenticeship"


class _Hours(_Event):
    """What a timesheet declares; a correction declares it again in full."""

    contract_id: Identifier
    beneficiary_id: BeneficiaryKey
    work_date: dt.date
    hours: Hours
    mode: Mode
    siae_siret: Siret | None = None
    hire_type: HireType | None = Field(default=None, description="For direct_hire: fixed_term (default), "
                                                                 "permanent or apprenticeship")
    hire_date: dt.date | None = Field(default=None, description="First day of a permanent hire (required for it)")
    submitted_at: AwareDatetime

    @model_validator(mode="after")
    def _partner(self):
        if self.mode in PARTNER_MODES and self.siae_siret is None:
            raise ValueError(f"siae_siret is required when mode is {self.mode.value}")
        if self.mode not in PARTNER_MODES and self.siae_siret is not None:
            raise ValueError(f"siae_siret must be absent when mode is {self.mode.value}")
        if self.hire_type is not None and self.mode is not Mode.DIRECT_HIRE:
            raise ValueError("hire_type applies to mode direct_hire only")
        if self.hire_type is HireType.PERMANENT and self.hire_date is None:
            raise ValueError("hire_date is required for a permanent hire")
        if self.hire_date is not None and self.hire_date > self.work_date:
            raise ValueError("hire_date is after work_date")
        return self


class TimesheetSubmitted(_Hours):
    """Hours one beneficiary worked on one day on one contract, as the contractor declares them."""

    type: Literal["timesheet.submitted"]


class TimesheetCorrected(_Hours):
    """Replaces an earlier timesheet: the ledger reverses what it recorded and records this instead."""

    type: Literal["timesheet.corrected"]
    original_event_id: UUID


class TimesheetRetracted(_Event):
    """Withdraws an earlier timesheet: the ledger reverses what it recorded."""

    type: Literal["timesheet.retracted"]
    original_event_id: UUID
    contract_id: Identifier = Field(description="The retracting contractor's contract: its holder must be the "
                                                "contractor of the original timesheet")
    beneficiary_id: BeneficiaryKey
    reason: Annotated[str, Field(max_length=500)] | None = None
    submitted_at: AwareDatetime


class SiaeInvoice(_Event):
    """Work subcontracted (or co-contracted) to an ACI/EI, invoiced: converted to hours by the rulebook."""

    type: Literal["siae.invoice"]
    invoice_id: Identifier
    contract_id: Identifier
    siae_siret: Siret
    amount_eur: Money
    period_start: dt.date
    period_end: dt.date
    labour_share: Share | None = Field(default=None, description="Labour share of the invoice; default: rulebook")
    submitted_at: AwareDatetime

    @model_validator(mode="after")
    def _period(self) -> SiaeInvoice:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class PoolingAgreed(_Event):
    """The buyer lets a contractor's surplus on one contract count towards its other contracts."""

    type: Literal["pooling.agreed"]
    agreement_id: Identifier
    programme_id: Identifier
    contractor_siret: Siret
    contract_ids: Annotated[list[Identifier], Field(min_length=2, max_length=100)]
    effective_from: dt.date
    effective_until: dt.date | None = None

    @model_validator(mode="after")
    def _contracts(self) -> PoolingAgreed:
        if len(set(self.contract_ids)) != len(self.contract_ids):
            raise ValueError("contract_ids are repeated")
        return self


class ClaimDecision(StrEnum):
    COUNT = "count"
    REFUSE = "refuse"


class ClaimResolved(_Event):
    """A facilitator's decision on a flagged claim (over the daily maximum, or claimed twice)."""

    type: Literal["claim.resolved"]
    flagged_event_id: UUID
    beneficiary_id: BeneficiaryKey
    facilitator_id: Identifier
    decision: ClaimDecision
    reason: Annotated[str, Field(min_length=3, max_length=500)]


class OutcomeKind(StrEnum):
    """Sorties dynamiques."""

    DURABLE_JOB = "durable_job"  # CDI, CDD or temp > 6 months, business creation
    TRANSITION_JOB = "transition_job"
    POSITIVE_EXIT = "positive_exit"  # qualifying training


class BeneficiaryOutcome(_Event):
    type: Literal["beneficiary.outcome"]
    beneficiary_id: BeneficiaryKey
    facilitator_id: Identifier
    outcome: OutcomeKind
    outcome_date: dt.date
    detail: Annotated[str, Field(max_length=100, pattern=r"^[a-z0-9_]+$")] | None = Field(
        default=None, examples=["cdi", "cdd_6m_plus", "business_creation", "qualifying_training"])


_MODELS = (ProgrammeDefined, ContractRegistered, BeneficiaryEnrolled, TimesheetSubmitted, TimesheetCorrected,
           TimesheetRetracted, SiaeInvoice, PoolingAgreed, ClaimResolved, BeneficiaryOutcome)
Event = Annotated[Union[_MODELS], Field(discriminator="type")]
EVENT_TYPES = {m.model_fields["type"].annotation.__args__[0]: m for m in _MODELS}  # type: ignore[union-attr]

_EVENT = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """An event that does not satisfy the contract; `reason` is a code, `detail` says exactly why."""

    def __init__(self, reason: str, detail: str, event_id: str | None = None, event_type: str | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = event_id
        self.event_type = event_type


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field path: `hours: Input should be less than or equal to 24`."""
    parts = []
    for e in error.errors(include_url=False):
        # The discriminator adds the event type as the first location item: drop it from the path.
        loc = [str(p) for p in e["loc"]]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        where = ".".join(loc) or "event"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def parse_event(raw: bytes | str | dict) -> Event:
    """Validate one event from JSON (bytes or str) or an object decoded from JSON."""
    try:
        # One path for both: JSON rules (ISO dates, UUID strings) apply to decoded objects too.
        return _EVENT.validate_json(json.dumps(raw) if isinstance(raw, dict) else raw)
    except ValidationError as error:
        obj = raw if isinstance(raw, dict) else None
        reason = "invalid_json" if any(e["type"] == "json_invalid" for e in error.errors()) else "invalid_event"
        raise InvalidEvent(reason, describe(error),
                           event_id=_str_or_none(obj, "event_id"), event_type=_str_or_none(obj, "type")) from None


def _str_or_none(obj: dict | None, key: str) -> str | None:
    if obj is None:
        return None
    value = obj.get(key)
    return value if isinstance(value, str) else None


def json_schemas() -> dict[str, dict]:
    """JSON Schema of each event type, and of the union, for contractor systems."""
    schemas = {name: model.model_json_schema(mode="validation") for name, model in EVENT_TYPES.items()}
    schemas["event"] = _EVENT.json_schema(mode="validation")
    return schemas


def partition_key(event: Event) -> str:
    """The Kafka key: everything about one beneficiary shares one, so one worker sees it in order."""
    if isinstance(event, (BeneficiaryEnrolled, _Hours, TimesheetRetracted, ClaimResolved, BeneficiaryOutcome)):
        return event.beneficiary_id
    if isinstance(event, (ContractRegistered, SiaeInvoice)):
        return event.contract_id
    if isinstance(event, PoolingAgreed):
        return event.agreement_id
    return event.programme_id
