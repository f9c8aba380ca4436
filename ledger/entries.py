"""What the ledger records: immutable entries for counted hours, and rejections with a reason.

Ids are derived from their source (uuid5), never drawn at random: processing the same event again,
after a crash or a replay, yields the same ids, and the store keeps one row per id.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict

# Fixed namespace of this ledger's derived ids. Changing it would change every id: never do.
LEDGER_NAMESPACE = UUID("6f0b7a52-3c1e-4f57-9a43-1d8f0c2b9e61")


class Reason(StrEnum):
    """Why an event was not counted. Stable codes: dashboards and auditors group by them."""

    INVALID_JSON = "invalid_json"
    INVALID_EVENT = "invalid_event"
    DUPLICATE_EVENT = "duplicate_event"
    UNKNOWN_CONTRACT = "unknown_contract"
    UNKNOWN_BENEFICIARY = "unknown_beneficiary"
    ORIGINAL_NOT_FOUND = "original_not_found"  # retryable: the corrected timesheet has not arrived yet
    ORIGINAL_SUPERSEDED = "original_superseded"  # correct the latest correction, not an older version
    BENEFICIARY_MISMATCH = "beneficiary_mismatch"
    NOTHING_TO_RESOLVE = "nothing_to_resolve"
    # Who may act on what (docs/security.md): an id reused for other content, a correction or
    # retraction by another contractor, a facilitator or buyer acting on another's.
    EVENT_ID_CONFLICT = "event_id_conflict"
    TIMESHEET_NOT_YOURS = "timesheet_not_yours"
    BENEFICIARY_NOT_YOURS = "beneficiary_not_yours"
    CONTRACT_NOT_YOURS = "contract_not_yours"
    PROGRAMME_NOT_YOURS = "programme_not_yours"
    # The worker failed on this event (a defect, not the sender's fault): kept with its payload so
    # that it can be posted again once fixed, rather than stopping every event behind it.
    PROCESSING_ERROR = "processing_error"


class Withheld(StrEnum):
    """Why recorded hours do not count (`not_counted`) or wait for a facilitator (`flagged`): the
    `reason` of an entry. Stable codes: dashboards, auditors and the open data group by them."""

    OUTSIDE_CONTRACT_PERIOD = "outside_contract_period"
    NOT_ELIGIBLE_ON_WORK_DATE = "not_eligible_on_work_date"
    PERMANENT_HIRE_CAP_REACHED = "permanent_hire_cap_reached"
    TRAINING_CAP_REACHED = "training_cap_reached"
    DAILY_MAXIMUM_EXCEEDED = "daily_maximum_exceeded"
    CLAIMED_BY_TWO_CONTRACTORS = "claimed_by_two_contractors"
    REFUSED_BY_FACILITATOR = "refused_by_facilitator"


# Rejections that say "post this again later": the event id stays free for that second posting.
RETRYABLE = frozenset({Reason.ORIGINAL_NOT_FOUND})


class EntryKind(StrEnum):
    CREDIT = "credit"  # hours recorded from a source event (counting or not, see `counts`)
    REVERSAL = "reversal"  # cancels an earlier entry: same parties, hours negated; never an update


class EntryStatus(StrEnum):
    COUNTED = "counted"  # counts towards the targets
    NOT_COUNTED = "not_counted"  # recorded with the reason it does not count (e.g. outside eligibility)
    FLAGGED = "flagged"  # held by a cross-contractor check until a facilitator resolves it


class LedgerEntry(BaseModel):
    """Insertion hours attributed, under one rule of one rulebook version, to every party they count for."""

    model_config = ConfigDict(frozen=True)

    record: str = "entry"
    entry_id: UUID
    kind: EntryKind
    status: EntryStatus = EntryStatus.COUNTED
    reason: str = ""  # why it does not count, or why it is flagged; empty when counted
    source_event_id: UUID
    source_event_type: str = "timesheet.submitted"
    reverses_entry_id: UUID | None = None
    programme_id: str
    operation_id: str
    contract_id: str
    lot: str
    contractor_siret: str
    beneficiary_id: str
    siae_siret: str | None
    mode: str
    work_date: dt.date
    hours: Decimal
    rule: str
    rulebook_version: str
    submitted_at: dt.datetime
    # True on the first entry its source event caused, False on the others: the store counts
    # accepted events by summing it. None on entries of workers older than the mark (2026-12-05).
    opens_source: bool | None = None

    @property
    def counts(self) -> bool:
        return self.status is EntryStatus.COUNTED


def entry_id(source_event_id: UUID, kind: EntryKind, subject: str = "") -> UUID:
    """`subject` tells apart several entries one event causes (the entry reversed, a split part)."""
    suffix = f":{subject}" if subject else ""
    return uuid5(LEDGER_NAMESPACE, f"entry:{source_event_id}:{kind.value}{suffix}")


class PendingState(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"
    EXPIRED = "expired"


class PendingRecord(BaseModel):
    """A timesheet waiting for reference data (its contract or enrolment), as facilitators see it."""

    model_config = ConfigDict(frozen=True)

    record: str = "pending"
    event_id: UUID
    event_type: str
    state: PendingState
    reason: str  # unknown_contract / unknown_beneficiary
    waiting_for: str  # "contract:<id>" or "beneficiary:<id>"
    beneficiary_id: str
    contract_id: str
    parked_at: dt.datetime  # stream time when parked
    expires_at: dt.datetime
