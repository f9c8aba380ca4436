"""The event contract: what contractors, facilitators and buyers post to the ledger.

Every event carries `type`, `event_id` (a UUID chosen by the sender, the key of idempotency) and
`schema_version`. Models forbid unknown fields and parse JSON strictly (no "7.5" string for a number,
no 1 for a boolean), so a sender learns exactly which field is wrong. `ledger schemas` exports these
models as JSON Schema for contractor systems written in other languages.

The contract's limits (docs/security.md, "The event contract's limits"): every date lies in
2000-01-01..2099-12-31, a range the store holds exactly; `submitted_at` carries its UTC offset and is
not before the day it reports on; beneficiary keys are pseudonyms of one documented format; free
text is short, single-line and must not carry personal data; a JSON object may not repeat a key;
an event is at most `MAX_EVENT_BYTES` long.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple, Union
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

@functools.lru_cache(maxsize=4096)  # a programme names a few hundred SIRETs over and over
def _check_siret(value: str) -> str:
    if not is_valid_siret(value):
        raise ValueError("not a valid SIRET: 14 digits with a Luhn check digit expected")
    return value


Siret = Annotated[str, Field(min_length=14, max_length=14, examples=["73282932000074"]), AfterValidator(_check_siret)]

# An identifier chosen by the buyer or facilitator: readable, but never free text.
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]

# ------------------------------------------------------------------------------------------ dates
# Every date of the contract lies in this range: the store's Date (1970-01-01..2149-06-06) and
# DateTime64 hold it exactly, where a wider one would be stored silently clamped (issue 11).
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)
_DATE_RANGE = f"{FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}"

# Checked by pydantic-core (no Python call per field); the JSON Schema says the same with a pattern
# any validator applies and the draft's formatMinimum/formatMaximum.
Day = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY), WithJsonSchema({
    "type": "string", "format": "date", "pattern": r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$",
    "formatMinimum": FIRST_DAY.isoformat(), "formatMaximum": LAST_DAY.isoformat(),
    "description": f"An ISO 8601 day (YYYY-MM-DD) in {_DATE_RANGE}"})]


def _check_timestamp(value: dt.datetime) -> dt.datetime:
    # The day in the sender's own UTC offset: the one it compares with work_date too.
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise ValueError(f"must be a day in {_DATE_RANGE} (in its own UTC offset), not {value.date().isoformat()}")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_check_timestamp), WithJsonSchema({
    "type": "string", "format": "date-time", "pattern": r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T.*(Z|z|[+-][0-9]{2}:[0-9]{2})$",
    "description": f"An ISO 8601 date-time with its UTC offset (Z or +HH:MM), on a day in {_DATE_RANGE} "
                   "in that offset"})]

# ---------------------------------------------------------------------------- beneficiary keys
# A national identification number (NIR: 13 digits and a 2-digit key) sent in the key field, bare or
# behind a prefix: refused by name, so that a sender who put the wrong column there is told.
_NATIONAL_NUMBER = re.compile(r"^(?:[a-z][a-z0-9]{0,7}-)?\d{13,15}$")
BENEFICIARY_KEY_PATTERN = r"^[a-z][a-z0-9]{0,7}-[0-9a-f]{10,56}$"


def _check_pseudonym(value):
    if isinstance(value, str) and _NATIONAL_NUMBER.match(value):
        raise ValueError("looks like a national identification number; send the pseudonymous key")
    return value  # anything else is pydantic-core's to check (type, pattern)


# The facilitator's pseudonymous key: a keyed hash (e.g. HMAC-SHA-256 of the person's file number
# under a key the facilitator keeps), written as a short prefix, a dash and at least 10 lower-case
# hex characters. A name, an e-mail, a national number or a file number cannot pass.
BeneficiaryKey = Annotated[
    str,
    Field(min_length=12, max_length=65, pattern=BENEFICIARY_KEY_PATTERN, examples=["b-3f9a1c2e7d", "b-9c1d0e7a52f4b831"],
          description="Pseudonymous key of the beneficiary: a prefix of 1-8 lower-case letters or digits "
                      "(starting with a letter), a dash, and 10-56 lower-case hexadecimal characters of a "
                      "keyed hash (e.g. b-9c1d0e7a52f4b831). Never a name, an e-mail, a national "
                      "identification number (NIR) or a file number: a hex part of 13-15 decimal digits "
                      "only is refused as a national number, so use 16 or more hex characters"),
    BeforeValidator(_check_pseudonym),  # after the Field: it runs first, on what was sent
]

# ------------------------------------------------------------------------------------ free text
# Characters refused in free text: control characters (C0, DEL, C1: newline, CR, tab, ESC, NUL...),
# invisible format characters (bidirectional overrides, zero-width), surrogates, private use, and
# the line and paragraph separators: a log line, a CSV export or a terminal shows what was written.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Cheap signs of personal data: an e-mail address, or nine digits or more in a row (a phone number,
# a national number, a bank account), even written with single spaces, dots or dashes between them.
_DIGIT_RUN = re.compile(r"\d(?:[ .\-\u00a0\u202f]?\d){8,}")
_FREE_TEXT_NOTE = ("Free text kept forever in an immutable log: it must not carry personal data (no name, "
                   "e-mail, phone or national number, address or health detail). One line of printable "
                   "characters: no control or invisible format character, no '@', and no run of 9 digits "
                   "or more (even separated by single spaces, dots or dashes)")
# The same rules in ECMA-262 syntax for JSON Schema validators (Cf listed by its common members).
_FREE_TEXT_PATTERN = (r"^(?![\s\S]*[0-9](?:[ .\-\u00a0\u202f]?[0-9]){8})"
                      r"[^@\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                      r"\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ue000-\uf8ff]*$")


def _check_free_text(value: str) -> str:
    for char in value:
        if char == "@":
            raise ValueError("must not contain '@' (an e-mail address is personal data)")
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ValueError(f"must be one line of printable text: control or format character U+{ord(char):04X}")
    if _DIGIT_RUN.search(value):
        raise ValueError("must not contain 9 digits or more in a row (a phone or national number is personal data)")
    return value


def FreeText(min_length: int, max_length: int, what: str) -> type[str]:  # noqa: N802 (a type)
    """Free text of `min_length`..`max_length` characters, checked and documented as above."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length,
                                description=f"{what}. {_FREE_TEXT_NOTE}", json_schema_extra={"pattern": _FREE_TEXT_PATTERN}),
                     AfterValidator(_check_free_text)]


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
    name: FreeText(1, 200, "The programme's public name")
    target_hours: TargetHours
    start_date: Day
    end_date: Day

    @model_validator(mode="after")
    def _period(self) -> ProgrammeDefined:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


HUNDREDTH = Decimal("0.01")


def to_hundredths(hours: Decimal) -> Decimal:
    """Hours computed from euros (a tender's target, an SIAE invoice), to the hundredth of an hour:
    one rule for both, half up, as facilitators round by hand (docs/rules.md)."""
    return hours.quantize(HUNDREDTH, ROUND_HALF_UP)


def target_hours_from_amount(amount_eur: Decimal, labour_share: Decimal, clause_rate: Decimal,
                             hourly_cost_eur: Decimal) -> Decimal:
    """Facilitators' tender formula: amount x labour share x clause rate / loaded hourly cost.

    (mefsud77.fr, laser-emploi.fr: EUR 1M x 50% x 5% / 30 = 833 h.) Rounded to the hundredth.
    """
    return to_hundredths(amount_eur * labour_share * clause_rate / hourly_cost_eur)


class ContractRegistered(_Event):
    """A works contract (marche/lot) carrying an insertion clause, and the target it sets."""

    type: Literal["contract.registered"]
    contract_id: Identifier
    programme_id: Identifier
    buyer_id: Identifier = Field(description="The buyer that owns the contract (the subject of its buyer token); "
                                             "a contract is never registered again by another buyer")
    operation_id: Identifier
    lot: FreeText(1, 64, "The lot's label in the contract (e.g. GC-01)")
    contractor_siret: Siret
    start_date: Day
    end_date: Day
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
    eligible_from: Day
    eligible_until: Day | None = Field(
        default=None, description="Last eligible day; when absent the rulebook's window applies (24 months)")
    validated_on: Day | None = Field(default=None, description="Day the facilitator validated eligibility")
    proof_valid_until: Day | None = Field(
        default=None, description="Last day the eligibility proof is valid; eligibility ends there at the latest")
    derogation_reason: FreeText(10, 500, "Required with criterion facilitator_validation: why this person is "
                                         "eligible, in general terms") | None = None
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
    work_date: Day
    hours: Hours
    mode: Mode
    siae_siret: Siret | None = None
    hire_type: HireType | None = Field(default=None, description="For direct_hire: fixed_term (default), "
                                                                 "permanent or apprenticeship")
    hire_date: Day | None = Field(default=None, description="First day of a permanent hire (required for it)")
    submitted_at: Timestamp

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
        if self.submitted_at.date() < self.work_date:  # the day in the sender's own offset
            raise ValueError(f"submitted_at ({self.submitted_at.date().isoformat()}) is before work_date "
                             f"({self.work_date.isoformat()}): hours are declared once worked")
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
    reason: FreeText(0, 500, "Why the timesheet is withdrawn") | None = None
    submitted_at: Timestamp


class SiaeInvoice(_Event):
    """Work subcontracted (or co-contracted) to an ACI/EI, invoiced: converted to hours by the rulebook."""

    type: Literal["siae.invoice"]
    invoice_id: Identifier
    contract_id: Identifier
    siae_siret: Siret
    amount_eur: Money
    period_start: Day
    period_end: Day
    labour_share: Share | None = Field(default=None, description="Labour share of the invoice; default: rulebook")
    submitted_at: Timestamp

    @model_validator(mode="after")
    def _period(self) -> SiaeInvoice:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.submitted_at.date() < self.period_start:
            raise ValueError(f"submitted_at ({self.submitted_at.date().isoformat()}) is before period_start "
                             f"({self.period_start.isoformat()})")
        return self


class PoolingAgreed(_Event):
    """The buyer lets a contractor's surplus on one contract count towards its other contracts."""

    type: Literal["pooling.agreed"]
    agreement_id: Identifier
    programme_id: Identifier
    contractor_siret: Siret
    contract_ids: Annotated[list[Identifier], Field(min_length=2, max_length=100)]
    effective_from: Day
    effective_until: Day | None = None

    @model_validator(mode="after")
    def _contracts(self) -> PoolingAgreed:
        if len(set(self.contract_ids)) != len(self.contract_ids):
            raise ValueError("contract_ids are repeated")
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until is before effective_from")
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
    reason: FreeText(3, 500, "Why the facilitator decided so")


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
    outcome_date: Day
    detail: Annotated[str, Field(max_length=100, pattern=r"^[a-z0-9_]+$", description=(
        "A code for the kind of outcome (lower-case letters, digits, '_'); no personal data: no run of 9 "
        "digits or more")), AfterValidator(_check_free_text)] | None = Field(
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


class Problem(NamedTuple):
    """One validation problem: the field's path (`""` for the event as a whole), pydantic's message
    and its error type (e.g. `union_tag_invalid` for an unknown `type`)."""

    path: str
    message: str
    kind: str


def problems(error: ValidationError) -> list[Problem]:
    """The problems of a validation error, each named by its field path (`ledger.events.describe`
    for the rejection's detail, the gateway's per-field errors)."""
    out = []
    for e in error.errors(include_url=False):
        # The discriminator adds the event type as the first location item: drop it from the path.
        loc = [str(p) for p in e["loc"]]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        out.append(Problem(".".join(loc), e["msg"], e["type"]))
    return out


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field path: `hours: Input should be less than or equal to 24`."""
    return "; ".join(f"{p.path or 'event'}: {p.message}" for p in problems(error))


# The largest event is far smaller (a pooling agreement of 100 contracts is ~8 KB): what is longer is
# padding or a payload smuggled in whitespace, refused before it is parsed.
MAX_EVENT_BYTES = 64 * 1024

# JSON's whitespace: taken out before counting key ends (quote then colon), so that a key written
# `"hours" : 7` is counted too.
_JSON_WHITESPACE = b" \t\r\n"


def parse_event(raw: bytes | str | dict) -> Event:
    """Validate one event from JSON (bytes or str) or an object decoded from JSON.

    JSON text is refused when longer than MAX_EVENT_BYTES, or when an object repeats a key (which
    value counts would depend on the parser reading it).
    """
    text = json.dumps(raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict):
        size = len(text) if isinstance(text, bytes) or len(text) * 4 <= MAX_EVENT_BYTES else len(text.encode())
        if size > MAX_EVENT_BYTES:
            raise InvalidEvent("invalid_event", f"the event is {size} bytes long, more than {MAX_EVENT_BYTES}")
    try:
        # One path for both: JSON rules (ISO dates, UUID strings) apply to decoded objects too.
        event = _EVENT.validate_json(text)
    except ValidationError as error:
        obj = raw if isinstance(raw, dict) else None
        # A repeated key is the first thing to say: the value that failed may be the one it hid.
        duplicate = None if obj is not None or not _key_ends(text) else duplicate_key(text)
        if duplicate is not None:
            raise InvalidEvent("invalid_json", duplicate) from None
        reason = "invalid_json" if any(e["type"] == "json_invalid" for e in error.errors()) else "invalid_event"
        raise InvalidEvent(reason, describe(error),
                           event_id=_str_or_none(obj, "event_id"), event_type=_str_or_none(obj, "type")) from None
    # A valid event is one flat object whose keys are its fields set (unknown fields are refused): as
    # many key ends in the text means no key was written twice. Otherwise (a value holding `":`, or
    # a repeated key) the exact check decides.
    if not isinstance(raw, dict) and _key_ends(text) != len(event.model_fields_set):
        duplicate = duplicate_key(text)
        if duplicate is not None:
            raise InvalidEvent("invalid_json", duplicate, event_id=str(event.event_id), event_type=event.type)
    return event


def _key_ends(text: bytes | str) -> int:
    """How many times a quote is followed by a colon once JSON whitespace is taken out.

    Every key ends so; a string value may hold the same characters (an escaped quote then a colon,
    or whitespace taken out from between them), so this is an upper bound of the keys written. Two
    C passes over the bytes (about 1 us for a timesheet), where a regular expression takes 3-4 us.
    """
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    return text.translate(None, _JSON_WHITESPACE).count(b'":')


class _DuplicateKey(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def duplicate_key(text: bytes | str) -> str | None:
    """The exact check, slow: 'duplicate key ...' naming the first key an object repeats, or None."""
    try:
        json.loads(text, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey as duplicate:
        return f"duplicate key {json.dumps(duplicate.args[0])} in a JSON object: each key must appear once"
    except (ValueError, RecursionError):  # not JSON to this parser: the validation said what it had to
        return None
    return None


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
