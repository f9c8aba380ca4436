"""Every event type the ledger takes, in one table: its model, what it is keyed by, who may post it.

A new event type is added here and nowhere else decides whether it is known: the desk refuses to
start on a type it has no handler for, the router asks `key_of` which state its events touch, and
the gateway's roles are read from `posted_by`. A type missing from this table is not "reference
data accepted silently": `kind_of` raises, and a test checks every model of `ledger.events` is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ledger.events import (
    BeneficiaryEnrolled,
    BeneficiaryOutcome,
    ClaimResolved,
    ContractRegistered,
    PoolingAgreed,
    ProgrammeDefined,
    SiaeInvoice,
    TimesheetCorrected,
    TimesheetRetracted,
    TimesheetSubmitted,
    _MODELS,
)


class Scope(StrEnum):
    """Whose state an event reads and changes: where the router sends it."""

    PERSON = "person"  # one beneficiary's claims, days, training and enrolment
    CONTRACT = "contract"  # one contract's (an SIAE invoice)
    REFERENCE = "reference"  # decided once (keyed by its own id), then every person's state learns it


class Role(StrEnum):
    CONTRACTOR = "contractor"
    FACILITATOR = "facilitator"
    BUYER = "buyer"
    AUDITOR = "auditor"  # posts nothing: reads the live view and runs its read-only SQL (docs/live.md)


@dataclass(frozen=True)
class EventKind:
    type: str
    model: type
    scope: Scope
    key_field: str  # the field naming whose state the event changes: its subject
    handler: str  # the Desk method that decides it
    record: str | None  # the record it is stored as (reference data, a decision), None for hours (entries) only
    posted_by: frozenset[Role]


def _kind(model, scope, key_field, handler, record, *roles) -> EventKind:
    return EventKind(model.model_fields["type"].annotation.__args__[0], model, scope, key_field, handler, record,
                     frozenset(roles))


KINDS: dict[str, EventKind] = {k.type: k for k in (
    _kind(ProgrammeDefined, Scope.REFERENCE, "programme_id", "_programme", "programme", Role.BUYER),
    _kind(ContractRegistered, Scope.REFERENCE, "contract_id", "_contract", "contract", Role.BUYER),
    _kind(PoolingAgreed, Scope.CONTRACT, "agreement_id", "_pooling", "pooling", Role.BUYER),
    _kind(BeneficiaryEnrolled, Scope.PERSON, "beneficiary_id", "_enrolment", "beneficiary", Role.FACILITATOR),
    _kind(BeneficiaryOutcome, Scope.PERSON, "beneficiary_id", "_outcome", "outcome", Role.FACILITATOR),
    _kind(ClaimResolved, Scope.PERSON, "beneficiary_id", "_resolve", "resolution", Role.FACILITATOR),
    _kind(TimesheetSubmitted, Scope.PERSON, "beneficiary_id", "_timesheet", None, Role.CONTRACTOR),
    _kind(TimesheetCorrected, Scope.PERSON, "beneficiary_id", "_correct", None, Role.CONTRACTOR),
    _kind(TimesheetRetracted, Scope.PERSON, "beneficiary_id", "_correct", None, Role.CONTRACTOR),
    _kind(SiaeInvoice, Scope.CONTRACT, "contract_id", "_invoice", None, Role.CONTRACTOR),
)}

assert {k.model for k in KINDS.values()} == set(_MODELS), "every event model needs a row in KINDS"


def kind_of(event_type: str) -> EventKind:
    kind = KINDS.get(event_type)
    if kind is None:
        raise LookupError(f"event type {event_type!r} is not in ledger.registry.KINDS")
    return kind


# Each type's key field and its keys' prefix, as `key_of` reads them for every event routed (an
# enum's `.value` is a Python property: a fifth of key_of's time).
_KEYED = {k.type: (k.key_field, f"{k.scope.value}:") for k in KINDS.values()}


# Every field some type is keyed by: what a reader needs of an event to route it (key_from).
KEY_FIELDS = tuple(sorted({field for field, _ in _KEYED.values()}))


def key_of(item: dict) -> str | None:
    """The key an event (as parsed JSON) is decided under, or None when it cannot be told (the event
    is then decided where it was read, and rejected there for what is wrong with it)."""
    try:  # not a dict, no type or no key field, an unknown or unhashable type: no key
        field, prefix = _KEYED[item["type"]]
        value = item[field]
    except (KeyError, TypeError):
        return None
    return prefix + value if type(value) is str and value else None


def key_from(event_type, fields) -> str | None:
    """`key_of` for an event read as an object with its type and the KEY_FIELDS as attributes (None
    where the event had no such field), as routing reads an array's items without the rest."""
    try:
        field, prefix = _KEYED[event_type]
    except (KeyError, TypeError):
        return None
    value = getattr(fields, field)
    return prefix + value if type(value) is str and value else None


def subject_of(event) -> str:
    """Whom a validated event is about (the beneficiary, the contract, the agreement or the
    programme): contractor systems key their messages by it, so that one subject's events keep
    their order; the worker routes by it whatever key came with them."""
    return getattr(event, kind_of(event.type).key_field)


def posted_by(event_type: str) -> frozenset[Role]:
    kind = KINDS.get(event_type)
    return kind.posted_by if kind is not None else frozenset()
