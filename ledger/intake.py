"""The intake desk: one decision for every event delivered to the ledger.

Each delivered event is either accepted (reference data kept, or hours credited) or rejected with a
reason, never both and never neither, so that posted = accepted + rejected holds by construction.
The desk reads and updates the worker's state only through `Books`, which the stream worker backs
with Faust tables and the tests with plain dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from ledger.attribution import attribute
from ledger.entries import LedgerEntry, Position, Reason, Rejection, rejection_id
from ledger.events import (
    BeneficiaryEnrolled,
    ContractRegistered,
    Event,
    InvalidEvent,
    TimesheetSubmitted,
    parse_event,
)
from ledger.rules import Rulebook, why_not_counted

MAX_KEPT_PAYLOAD = 64 * 1024  # bytes of a rejected payload kept for the sender; the rest is cut


class Books(Protocol):
    def contract(self, contract_id: str) -> ContractRegistered | None: ...

    def beneficiary(self, beneficiary_id: str) -> BeneficiaryEnrolled | None: ...

    def seen_at(self, event_id: UUID) -> str | None:
        """Where this event id was first delivered, or None."""

    def keep(self, event: Event, position: Position) -> None:
        """Remember the event id's first delivery, and the event itself if it is reference data."""


@dataclass(frozen=True)
class Decision:
    position: Position
    event: Event | None = None  # accepted: the validated event
    entry: LedgerEntry | None = None  # accepted timesheet: the hours credited
    rejection: Rejection | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


def split_message(raw: bytes) -> list[bytes] | None:
    """A message carries one event (a JSON object) or several (a JSON array of objects).

    Returns the items of an array re-encoded one by one, or None for a single event (validated as
    it is). Bytes that are not JSON are left to the validator, which names the error.
    """
    stripped = raw.lstrip()
    if not stripped.startswith(b"["):
        return None
    try:
        items = json.loads(raw)
    except ValueError:
        return None
    return [json.dumps(item, separators=(",", ":")).encode() for item in items]


def decide(raw: bytes, position: Position, books: Books, rulebook: Rulebook) -> Decision:
    try:
        event = parse_event(raw)
    except InvalidEvent as invalid:
        event_id, event_type = invalid.event_id, invalid.event_type
        if event_id is None:
            event_id, event_type = _peek_identity(raw)
        return _reject(position, raw, Reason(invalid.reason), invalid.detail, event_id, event_type)

    first = books.seen_at(event.event_id)
    # The same delivery seen again (a worker restarted before committing its offset) is decided
    # again, identically; only a different delivery of a known event id is a duplicate.
    if first is not None and first != str(position):
        return _reject(position, raw, Reason.DUPLICATE_EVENT, f"event_id already delivered at {first}",
                       str(event.event_id), event.type)

    books.keep(event, position)
    if not isinstance(event, TimesheetSubmitted):
        return Decision(position, event=event)

    contract = books.contract(event.contract_id)
    beneficiary = books.beneficiary(event.beneficiary_id)
    refused = why_not_counted(event, contract, beneficiary, rulebook)
    if refused is not None:
        return _reject(position, raw, refused[0], refused[1], str(event.event_id), event.type)
    return Decision(position, event=event, entry=attribute(event, contract, rulebook))


def failed(raw: bytes, position: Position, error: Exception) -> Decision:
    """The decision for an event the desk itself failed on: a rejection, never a lost event."""
    event_id, event_type = _peek_identity(raw)
    return _reject(position, raw, Reason.PROCESSING_ERROR, f"{type(error).__name__}: {error}"[:500],
                   event_id, event_type)


def _reject(position: Position, raw: bytes, reason: Reason, detail: str, event_id: str | None,
            event_type: str | None) -> Decision:
    payload = raw[:MAX_KEPT_PAYLOAD].decode("utf-8", errors="replace")
    return Decision(position, rejection=Rejection(
        rejection_id=rejection_id(position), reason=reason, detail=detail, event_id=event_id,
        event_type=event_type, position=position, payload=payload,
        payload_truncated=len(raw) > MAX_KEPT_PAYLOAD))


def _peek_identity(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort: the id and type of an invalid event, so that its sender can find it."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    ids = obj.get("event_id"), obj.get("type")
    return tuple(v if isinstance(v, str) and len(v) <= 100 else None for v in ids)  # type: ignore[return-value]


class MemoryBooks:
    """Books in plain dicts: for tests, and for recomputing a ledger from a history in one process."""

    def __init__(self) -> None:
        self.contracts: dict[str, ContractRegistered] = {}
        self.beneficiaries: dict[str, BeneficiaryEnrolled] = {}
        self.seen: dict[UUID, str] = {}

    def contract(self, contract_id: str) -> ContractRegistered | None:
        return self.contracts.get(contract_id)

    def beneficiary(self, beneficiary_id: str) -> BeneficiaryEnrolled | None:
        return self.beneficiaries.get(beneficiary_id)

    def seen_at(self, event_id: UUID) -> str | None:
        return self.seen.get(event_id)

    def keep(self, event: Event, position: Position) -> None:
        self.seen.setdefault(event.event_id, str(position))
        if isinstance(event, ContractRegistered):
            self.contracts[event.contract_id] = event
        elif isinstance(event, BeneficiaryEnrolled):
            self.beneficiaries[event.beneficiary_id] = event
