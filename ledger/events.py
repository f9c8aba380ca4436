"""The event contract: what contractors, facilitators and buyers post to the ledger.

Every event carries `type`, `event_id` (a UUID chosen by the sender, the key of idempotency) and
`schema_version`. Models forbid unknown fields and parse JSON strictly (no "7.5" string for a number,
no 1 for a boolean), so a sender learns exactly which field is wrong. `ledger schemas` exports these
models as JSON Schema for contractor systems written in other languages.
"""

from __future__ import annotations

import datetime as dt
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
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from ledger.siret import is_valid_siret

SCHEMA_VERSION = 1


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
    return Annotated[Decimal, BeforeValidator(_json_number),
                     Field(max_digits=max_digits, decimal_places=decimal_places, **bounds),
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
        if self.target_hours is None and given != 4:
            raise ValueError(
                "give target_hours, or all of amount_eur, labour_share, clause_rate and hourly_cost_eur")
        if self.target_hours is not None and given:
            raise ValueError("give target_hours or the inputs to compute it, not both")
        return self

    @property
    def target(self) -> Decimal:
        if self.target_hours is not None:
            return self.target_hours
        return target_hours_from_amount(self.amount_eur, self.labour_share, self.clause_rate,
                                        self.hourly_cost_eur)


class BeneficiaryEnrolled(_Event):
    """A facilitator validated a person's eligibility. Pseudonymous: no name, number or address."""

    type: Literal["beneficiary.enrolled"]
    beneficiary_id: BeneficiaryKey
    facilitator_id: Identifier
    criteria: Annotated[list[Criterion], Field(min_length=1, max_length=len(Criterion))]
    eligible_from: dt.date
    eligible_until: dt.date | None = Field(
        default=None, description="Last eligible day; when absent the rulebook's window applies (24 months)")
    birth_year: Annotated[int, Field(ge=1940, le=2015)] | None = None
    gender: Gender | None = None

    @model_validator(mode="after")
    def _window(self) -> BeneficiaryEnrolled:
        if self.eligible_until is not None and self.eligible_until < self.eligible_from:
            raise ValueError("eligible_until is before eligible_from")
        if len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria are repeated")
        return self


class TimesheetSubmitted(_Event):
    """Hours one beneficiary worked on one day on one contract, as the contractor declares them."""

    type: Literal["timesheet.submitted"]
    contract_id: Identifier
    beneficiary_id: BeneficiaryKey
    work_date: dt.date
    hours: Hours
    mode: Mode
    siae_siret: Siret | None = None
    submitted_at: AwareDatetime

    @model_validator(mode="after")
    def _partner(self) -> TimesheetSubmitted:
        if self.mode in PARTNER_MODES and self.siae_siret is None:
            raise ValueError(f"siae_siret is required when mode is {self.mode.value}")
        if self.mode not in PARTNER_MODES and self.siae_siret is not None:
            raise ValueError(f"siae_siret must be absent when mode is {self.mode.value}")
        return self


Event = Annotated[
    Union[ProgrammeDefined, ContractRegistered, BeneficiaryEnrolled, TimesheetSubmitted],
    Field(discriminator="type"),
]
EVENT_TYPES = {m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
               for m in (ProgrammeDefined, ContractRegistered, BeneficiaryEnrolled, TimesheetSubmitted)}

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
    """The Kafka key: a beneficiary's enrolment and timesheets share one, so one worker sees them in order."""
    if isinstance(event, (BeneficiaryEnrolled, TimesheetSubmitted)):
        return event.beneficiary_id
    if isinstance(event, ContractRegistered):
        return event.contract_id
    return event.programme_id
