"""The intake desk: one decision for every event delivered to the ledger, under a rulebook.

Each delivered event is accepted (reference data kept, or hours recorded as entries), rejected with
a reason, or parked as pending until its reference data arrives (then accepted, or rejected once it
waited too long). So posted = accepted + rejected + pending, and pending drains to zero.

The desk's state lives behind `Books`: the stream worker backs it with Faust tables, the tests and
the replay command with dicts. A decision is remembered with the event's first delivery, so that
processing the same delivery again (after a crash, before the offset was committed) gives back the
same outputs instead of recomputing them against a state that has moved on.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, TypeAdapter

from ledger.entries import (
    EntryKind,
    EntryStatus,
    LedgerEntry,
    PendingRecord,
    PendingState,
    RETRYABLE,
    Position,
    Reason,
    Rejection,
    entry_id,
    rejection_id,
)
from ledger.events import (
    BeneficiaryEnrolled,
    ClaimDecision,
    ClaimResolved,
    ContractRegistered,
    Event,
    InvalidEvent,
    Mode,
    SiaeInvoice,
    TimesheetCorrected,
    TimesheetRetracted,
    TimesheetSubmitted,
    parse_event,
)
from ledger.rulebook import Rulebook
from ledger.rules import (
    CLAIMED_TWICE,
    DAILY_MAXIMUM,
    FACILITATOR_RESOLUTION,
    REVERSAL,
    SIAE_INVOICE_CONVERSION,
    DayClaim,
    Verdict,
    evaluate,
    invoice_hours,
)

MAX_KEPT_PAYLOAD = 64 * 1024  # bytes of a rejected payload kept for the sender; the rest is cut
MAX_DETAIL = 8000  # characters of a rejection's detail (a hostile event can multiply its errors)

Timesheet = TimesheetSubmitted | TimesheetCorrected


class Memo(BaseModel):
    """What the desk decided for an event's first delivery."""

    model_config = ConfigDict(frozen=True)

    at: str  # the delivery position
    entries: tuple[LedgerEntry, ...] = ()
    rejection: Rejection | None = None
    parked: bool = False


class Claim(BaseModel):
    """The hours currently on the ledger for one timesheet (or invoice), to reverse or re-evaluate."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    beneficiary_id: str
    contract_id: str
    contractor_siret: str
    work_date: dt.date
    timesheet: str  # the event's JSON, to evaluate again under new reference data
    entries: tuple[LedgerEntry, ...] = ()  # the standing credits; empty once reversed
    superseded_by: UUID | None = None
    resolved: bool = False  # a facilitator decided it: the cross-contractor checks leave it alone

    @property
    def hours(self) -> Decimal:
        return sum((e.hours for e in self.entries), Decimal(0))

    @property
    def status(self) -> EntryStatus:
        statuses = {e.status for e in self.entries}
        for status in (EntryStatus.FLAGGED, EntryStatus.COUNTED):
            if status in statuses:
                return status
        return EntryStatus.NOT_COUNTED

    def counted_training(self) -> Decimal:
        return sum((e.hours for e in self.entries if e.mode == Mode.TRAINING and e.counts), Decimal(0))


class Parked(BaseModel):
    model_config = ConfigDict(frozen=True)

    position: Position
    raw: str
    record: PendingRecord


class BooksUnavailable(RuntimeError):
    """The state behind Books failed (a store, not the event): the event must be retried, not rejected."""


class Books(Protocol):
    def contract(self, contract_id: str) -> ContractRegistered | None: ...
    def beneficiary(self, beneficiary_id: str) -> BeneficiaryEnrolled | None: ...
    def keep_reference(self, event: Event) -> None: ...
    def memo(self, event_id: UUID) -> Memo | None: ...
    def remember(self, event_id: UUID, memo: Memo) -> None: ...
    def claim(self, event_id: UUID) -> Claim | None: ...
    def put_claim(self, claim: Claim) -> None: ...
    def claims_of(self, beneficiary_id: str) -> list[Claim]: ...
    def day(self, beneficiary_id: str, day: dt.date) -> list[UUID]: ...
    def put_day(self, beneficiary_id: str, day: dt.date, claim_ids: list[UUID]) -> None: ...
    def training(self, beneficiary_id: str) -> Decimal: ...
    def put_training(self, beneficiary_id: str, hours: Decimal) -> None: ...
    def park(self, parked: Parked) -> None: ...
    def parked(self, partition: int) -> list[Parked]: ...
    def unpark(self, parked: Parked) -> None: ...

    def reference_version(self) -> int:
        """Grows whenever a contract or beneficiary becomes known (here or on another worker)."""


@dataclass(frozen=True)
class Decision:
    position: Position
    event: Event | None = None  # accepted (or parked): the validated event
    entries: tuple[LedgerEntry, ...] = ()  # hours recorded, reversed or re-recorded
    rejection: Rejection | None = None
    pending: PendingRecord | None = None  # parked, resolved or expired

    @property
    def accepted(self) -> bool:
        return self.rejection is None and (self.pending is None or self.pending.state is PendingState.RESOLVED)

    @property
    def parked(self) -> bool:
        return self.pending is not None and self.pending.state is PendingState.PENDING


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
    except (ValueError, RecursionError):
        return None
    return [json.dumps(item, separators=(",", ":")).encode() for item in items]


@dataclass
class Desk:
    books: Books
    rulebook: Rulebook
    # Stream time (the intake messages' timestamps) per partition: pending deadlines follow it, so
    # a replay of the same history expires the same timesheets.
    clock: dict[int, dt.datetime] = field(default_factory=dict)
    # What each partition's pending timesheets were last checked against: a scan is due only when
    # reference data grew or a deadline passed.
    _checked: dict[int, tuple[int, dt.datetime | None]] = field(default_factory=dict)

    def decide(self, raw: bytes, position: Position, stream_time: dt.datetime | None = None) -> list[Decision]:
        """The decision for this delivery, then those of pending timesheets it released."""
        now = self._advance(position.partition, stream_time)
        decision = self._decide(raw, position, now)
        return [decision, *self.release(position.partition)]

    def tick(self, partition: int, stream_time: dt.datetime) -> list[Decision]:
        """Time passes on a partition with no event: release or expire what waits there."""
        self._advance(partition, stream_time)
        return self.release(partition)

    def _advance(self, partition: int, stream_time: dt.datetime | None) -> dt.datetime:
        known = self.clock.get(partition)
        if stream_time is not None and (known is None or stream_time > known):
            self.clock[partition] = known = stream_time
        return known or dt.datetime.fromtimestamp(0, dt.timezone.utc)

    # -- one event ------------------------------------------------------------------------------

    def _decide(self, raw: bytes, position: Position, now: dt.datetime) -> Decision:
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            event_id, event_type = invalid.event_id, invalid.event_type
            if event_id is None:
                event_id, event_type = _peek_identity(raw)
            return _reject(position, raw, Reason(invalid.reason), invalid.detail, event_id, event_type)

        memo = self.books.memo(event.event_id)
        if memo is not None and memo.at != str(position) and memo.rejection is not None \
                and memo.rejection.reason in RETRYABLE:
            memo = None  # posted again, as the rejection asked: decided afresh
        if memo is not None:
            if memo.at != str(position):
                return _reject(position, raw, Reason.DUPLICATE_EVENT, f"event_id already delivered at {memo.at}",
                               str(event.event_id), event.type)
            if not memo.parked:  # the same delivery again: the same outputs
                return Decision(position, event=event if memo.rejection is None else None,
                                entries=memo.entries, rejection=memo.rejection)

        decision = self._first_delivery(event, raw, position, now)
        self.books.remember(event.event_id, Memo(at=str(position), entries=decision.entries,
                                                 rejection=decision.rejection, parked=decision.parked))
        return decision

    def _first_delivery(self, event: Event, raw: bytes, position: Position, now: dt.datetime) -> Decision:
        if isinstance(event, (TimesheetSubmitted, SiaeInvoice)):
            waiting = self._missing_reference(event)
            if waiting is not None:
                return self._park(event, raw, position, now, *waiting)
            if isinstance(event, SiaeInvoice):
                return Decision(position, event=event, entries=self._invoice(event))
            return Decision(position, event=event, entries=self._record(event, cause=event))
        if isinstance(event, (TimesheetCorrected, TimesheetRetracted)):
            return self._correct(event, raw, position)
        if isinstance(event, ClaimResolved):
            return self._resolve(event, raw, position)
        previous = self.books.beneficiary(event.beneficiary_id) if isinstance(event, BeneficiaryEnrolled) else None
        self.books.keep_reference(event)
        entries = self._reevaluate(event) if previous is not None else ()
        return Decision(position, event=event, entries=entries)

    def _missing_reference(self, event: TimesheetSubmitted | SiaeInvoice) -> tuple[str, str] | None:
        if self.books.contract(event.contract_id) is None:
            return Reason.UNKNOWN_CONTRACT.value, f"contract:{event.contract_id}"
        if isinstance(event, TimesheetSubmitted) and self.books.beneficiary(event.beneficiary_id) is None:
            return Reason.UNKNOWN_BENEFICIARY.value, f"beneficiary:{event.beneficiary_id}"
        return None

    # -- timesheets -----------------------------------------------------------------------------

    def _record(self, timesheet: Timesheet, cause: Event, subject: str = "") -> tuple[LedgerEntry, ...]:
        """Evaluate a timesheet and put its hours on the ledger as a standing claim."""
        contract = self.books.contract(timesheet.contract_id)
        beneficiary = self.books.beneficiary(timesheet.beneficiary_id)
        verdict = evaluate(timesheet, contract, beneficiary, self.rulebook,
                           self.books.training(timesheet.beneficiary_id), self._same_day(timesheet))
        entries = self._credits(timesheet, contract, verdict, cause, subject)
        claim = Claim(event_id=timesheet.event_id, beneficiary_id=timesheet.beneficiary_id,
                      contract_id=contract.contract_id, contractor_siret=contract.contractor_siret,
                      work_date=timesheet.work_date, timesheet=timesheet.model_dump_json(), entries=entries)
        conflicting = self._conflicting(claim, verdict)
        self._stand(claim)
        return entries + self._flag(conflicting, verdict.parts[0][3], cause)

    def _conflicting(self, claim: Claim, verdict: Verdict) -> list[Claim]:
        """The other side of a cross-contractor conflict: flagged too, so that which claim arrived
        first does not decide which one counts."""
        reason = verdict.parts[0][3]
        if reason not in ("claimed_by_two_contractors", "daily_maximum_exceeded"):
            return []
        others = []
        for claim_id in self.books.day(claim.beneficiary_id, claim.work_date):
            other = self.books.claim(claim_id)
            if other is None or other.event_id == claim.event_id or other.resolved \
                    or other.status is not EntryStatus.COUNTED:
                continue
            if reason == "daily_maximum_exceeded" or (
                    other.contractor_siret != claim.contractor_siret and other.hours == claim.hours):
                others.append(other)
        return others

    def _flag(self, claims: list[Claim], reason: str, cause: Event) -> tuple[LedgerEntry, ...]:
        entries: list[LedgerEntry] = []
        for claim in claims:
            reversals = self._withdraw(claim, cause, subject=f"{claim.event_id}:")
            rule = CLAIMED_TWICE if reason == "claimed_by_two_contractors" else DAILY_MAXIMUM
            flagged = tuple(e.model_copy(update={
                "entry_id": entry_id(cause.event_id, EntryKind.CREDIT, f"flag:{e.entry_id}"),
                "status": EntryStatus.FLAGGED, "reason": reason, "source_event_id": cause.event_id,
                "source_event_type": cause.type, "rule": rule, "rulebook_version": self.rulebook.version})
                for e in claim.entries)
            self._stand(claim.model_copy(update={"entries": flagged, "superseded_by": None}))
            entries += [*reversals, *flagged]
        return tuple(entries)

    def _credits(self, timesheet: Timesheet, contract: ContractRegistered, verdict: Verdict, cause: Event,
                 subject: str) -> tuple[LedgerEntry, ...]:
        entries = []
        for n, (hours, status, rule, reason) in enumerate(verdict.parts):
            part = subject if n == 0 else f"{subject}:part{n + 1}"
            entries.append(LedgerEntry(
                entry_id=entry_id(cause.event_id, EntryKind.CREDIT, part), kind=EntryKind.CREDIT,
                status=status, reason=reason, source_event_id=cause.event_id, source_event_type=cause.type,
                programme_id=contract.programme_id, operation_id=contract.operation_id,
                contract_id=contract.contract_id, lot=contract.lot, contractor_siret=contract.contractor_siret,
                beneficiary_id=timesheet.beneficiary_id, siae_siret=timesheet.siae_siret,
                mode=timesheet.mode.value, work_date=timesheet.work_date, hours=hours, rule=rule,
                rulebook_version=self.rulebook.version, submitted_at=timesheet.submitted_at))
        return tuple(entries)

    def _same_day(self, timesheet: Timesheet) -> list[DayClaim]:
        others = []
        for claim_id in self.books.day(timesheet.beneficiary_id, timesheet.work_date):
            claim = self.books.claim(claim_id)
            if claim is not None and claim.entries and claim_id != timesheet.event_id:
                others.append(DayClaim(str(claim_id), claim.contractor_siret, claim.hours, claim.status))
        return others

    def _stand(self, claim: Claim) -> None:
        """Make a claim the standing one: in the day index and the training total."""
        self.books.put_claim(claim)
        ids = self.books.day(claim.beneficiary_id, claim.work_date)
        if claim.event_id not in ids:
            self.books.put_day(claim.beneficiary_id, claim.work_date, [*ids, claim.event_id])
        if claim.counted_training():
            self.books.put_training(claim.beneficiary_id,
                                    self.books.training(claim.beneficiary_id) + claim.counted_training())

    def _withdraw(self, claim: Claim, cause: Event, subject: str = "",
                  superseded_by: UUID | None = None) -> tuple[LedgerEntry, ...]:
        """Reverse a claim's standing entries: never an update, always a new, opposite entry."""
        reversals = tuple(
            e.model_copy(update={
                "entry_id": entry_id(cause.event_id, EntryKind.REVERSAL, f"{subject}{e.entry_id}"),
                "kind": EntryKind.REVERSAL, "source_event_id": cause.event_id, "source_event_type": cause.type,
                "reverses_entry_id": e.entry_id, "hours": -e.hours, "rule": REVERSAL,
                "rulebook_version": self.rulebook.version})
            for e in claim.entries)
        if claim.counted_training():
            self.books.put_training(claim.beneficiary_id,
                                    self.books.training(claim.beneficiary_id) - claim.counted_training())
        ids = [i for i in self.books.day(claim.beneficiary_id, claim.work_date) if i != claim.event_id]
        self.books.put_day(claim.beneficiary_id, claim.work_date, ids)
        self.books.put_claim(claim.model_copy(update={"entries": (), "superseded_by": superseded_by}))
        return reversals

    def _original(self, event: TimesheetCorrected | TimesheetRetracted | ClaimResolved, raw: bytes,
                  position: Position, original_id: UUID) -> Claim | Decision:
        claim = self.books.claim(original_id)
        if claim is None:
            return _reject(position, raw, Reason.ORIGINAL_NOT_FOUND,
                           f"no recorded timesheet {original_id} (yet): post again later", str(event.event_id),
                           event.type)
        if claim.beneficiary_id != event.beneficiary_id:
            return _reject(position, raw, Reason.BENEFICIARY_MISMATCH,
                           f"timesheet {original_id} is not about beneficiary {event.beneficiary_id}",
                           str(event.event_id), event.type)
        if claim.superseded_by is not None or not claim.entries:
            return _reject(position, raw, Reason.ORIGINAL_SUPERSEDED,
                           f"timesheet {original_id} was already corrected or retracted"
                           + (f" by {claim.superseded_by}" if claim.superseded_by else ""),
                           str(event.event_id), event.type)
        return claim

    def _correct(self, event: TimesheetCorrected | TimesheetRetracted, raw: bytes, position: Position) -> Decision:
        claim = self._original(event, raw, position, event.original_event_id)
        if isinstance(claim, Decision):
            return claim
        if isinstance(event, TimesheetCorrected) and self.books.contract(event.contract_id) is None:
            return _reject(position, raw, Reason.UNKNOWN_CONTRACT, f"contract {event.contract_id} is not registered",
                           str(event.event_id), event.type)
        entries = self._withdraw(claim, event, superseded_by=event.event_id)
        if isinstance(event, TimesheetCorrected):
            entries += self._record(event, cause=event)
        return Decision(position, event=event, entries=entries)

    def _resolve(self, event: ClaimResolved, raw: bytes, position: Position) -> Decision:
        claim = self._original(event, raw, position, event.flagged_event_id)
        if isinstance(claim, Decision):
            return claim
        if claim.status is not EntryStatus.FLAGGED:
            return _reject(position, raw, Reason.NOTHING_TO_RESOLVE,
                           f"timesheet {event.flagged_event_id} is not flagged", str(event.event_id), event.type)
        reversals = self._withdraw(claim, event)
        credits = []
        for e in claim.entries:
            parts = [(e.hours, EntryStatus.NOT_COUNTED, "refused_by_facilitator")]
            if event.decision is ClaimDecision.COUNT:
                parts = [(e.hours, EntryStatus.COUNTED, "")]
                if e.mode == Mode.TRAINING.value:  # counted hours still count against the training cap
                    contract = self.books.contract(e.contract_id)
                    cap = self.rulebook.for_contract("training_cap_hours", contract, e.work_date)
                    room = min(e.hours, max(Decimal(0), cap - self.books.training(e.beneficiary_id)))
                    parts = [(room, EntryStatus.COUNTED, ""),
                             (e.hours - room, EntryStatus.NOT_COUNTED, "training_cap_reached")]
            for n, (hours, status, reason) in enumerate(p for p in parts if p[0]):
                credits.append(e.model_copy(update={
                    "entry_id": entry_id(event.event_id, EntryKind.CREDIT, f"{e.entry_id}" + (f":part{n + 1}" if n else "")),
                    "status": status, "reason": reason, "hours": hours, "source_event_id": event.event_id,
                    "source_event_type": event.type, "rule": FACILITATOR_RESOLUTION,
                    "rulebook_version": self.rulebook.version}))
        self._stand(claim.model_copy(update={"entries": tuple(credits), "resolved": True}))
        return Decision(position, event=event, entries=reversals + tuple(credits))

    def _reevaluate(self, enrolment: BeneficiaryEnrolled) -> tuple[LedgerEntry, ...]:
        """A changed enrolment (e.g. retroactive eligibility dates) re-evaluates the person's claims:
        each whose verdict changes is reversed and recorded again, as of this enrolment."""
        entries: list[LedgerEntry] = []
        for claim in sorted(self.books.claims_of(enrolment.beneficiary_id), key=lambda c: (c.work_date, str(c.event_id))):
            if not claim.entries or claim.superseded_by is not None or not claim.beneficiary_id:
                continue
            timesheet = _TIMESHEET.validate_json(claim.timesheet)
            if claim.status is EntryStatus.FLAGGED:
                continue  # a facilitator holds it: their resolution decides
            reversals = self._withdraw(claim, enrolment, subject=f"{claim.event_id}:")
            contract = self.books.contract(claim.contract_id)
            verdict = evaluate(timesheet, contract, self.books.beneficiary(claim.beneficiary_id), self.rulebook,
                               self.books.training(claim.beneficiary_id), self._same_day(timesheet))
            unchanged = [(e.hours, e.status, e.reason) for e in claim.entries] == \
                        [(hours, status, reason) for hours, status, _, reason in verdict.parts]
            if unchanged:
                self._stand(claim)  # nothing to write: put it back as it stood
                continue
            credits = self._credits(timesheet, contract, verdict, enrolment, subject=str(claim.event_id))
            self._stand(claim.model_copy(update={"entries": credits, "superseded_by": None}))
            entries += [*reversals, *credits]
        return tuple(entries)

    # -- SIAE invoices ---------------------------------------------------------------------------

    def _invoice(self, invoice: SiaeInvoice) -> tuple[LedgerEntry, ...]:
        contract = self.books.contract(invoice.contract_id)
        on = invoice.period_end
        share = invoice.labour_share or self.rulebook.for_contract("labour_share", contract, on)
        cost = self.rulebook.for_contract("hourly_cost_eur", contract, on)
        inside = contract.start_date <= invoice.period_end and invoice.period_start <= contract.end_date
        return (LedgerEntry(
            entry_id=entry_id(invoice.event_id, EntryKind.CREDIT), kind=EntryKind.CREDIT,
            status=EntryStatus.COUNTED if inside else EntryStatus.NOT_COUNTED,
            reason="" if inside else "outside_contract_period", source_event_id=invoice.event_id,
            source_event_type=invoice.type, programme_id=contract.programme_id, operation_id=contract.operation_id,
            contract_id=contract.contract_id, lot=contract.lot, contractor_siret=contract.contractor_siret,
            beneficiary_id="", siae_siret=invoice.siae_siret, mode=Mode.SIAE_SUBCONTRACT.value,
            work_date=invoice.period_end, hours=invoice_hours(invoice.amount_eur, share, cost),
            rule=SIAE_INVOICE_CONVERSION, rulebook_version=self.rulebook.version,
            submitted_at=invoice.submitted_at),)

    # -- pending ---------------------------------------------------------------------------------

    def _park(self, event: TimesheetSubmitted | SiaeInvoice, raw: bytes, position: Position, now: dt.datetime,
              reason: str, waiting_for: str) -> Decision:
        contract = self.books.contract(event.contract_id)
        timeout = self.rulebook.param("pending_timeout_hours", now.date(),
                                      contract.programme_id if contract else None, event.contract_id)
        record = PendingRecord(event_id=event.event_id, event_type=event.type, state=PendingState.PENDING,
                               reason=reason, waiting_for=waiting_for,
                               beneficiary_id=getattr(event, "beneficiary_id", ""), contract_id=event.contract_id,
                               parked_at=now, expires_at=now + dt.timedelta(hours=float(timeout)))
        self.books.park(Parked(position=position, raw=raw.decode(), record=record))
        checked = self._checked.get(position.partition)
        if checked is not None:  # the scan gate must wake up for this deadline too
            deadline = record.expires_at if checked[1] is None else min(checked[1], record.expires_at)
            self._checked[position.partition] = (checked[0], deadline)
        return Decision(position, event=event, pending=record)

    def release(self, partition: int) -> list[Decision]:
        """Pending timesheets of a partition whose reference data arrived, or whose time ran out."""
        now = self.clock.get(partition)
        version = self.books.reference_version()
        checked = self._checked.get(partition)
        if checked is not None and checked[0] == version and (checked[1] is None or now is None or now < checked[1]):
            return []
        waiting_list = sorted(self.books.parked(partition), key=lambda p: (p.position.offset, p.position.index))
        decisions = []
        for parked in waiting_list:
            event = parse_event(parked.raw)
            waiting = self._missing_reference(event)
            if waiting is None:
                self.books.unpark(parked)
                record = parked.record.model_copy(update={"state": PendingState.RESOLVED})
                entries = self._invoice(event) if isinstance(event, SiaeInvoice) else self._record(event, cause=event)
                self.books.remember(event.event_id, Memo(at=str(parked.position), entries=entries))
                decisions.append(Decision(parked.position, event=event, entries=entries, pending=record))
            elif now is not None and now >= parked.record.expires_at:
                self.books.unpark(parked)
                record = parked.record.model_copy(update={"state": PendingState.EXPIRED, "reason": waiting[0]})
                rejected = _reject(parked.position, parked.raw.encode(), Reason(waiting[0]),
                                   f"{waiting[1].replace(':', ' ')} still unknown after waiting until "
                                   f"{parked.record.expires_at.isoformat()}", str(event.event_id), event.type)
                self.books.remember(event.event_id, Memo(at=str(parked.position), rejection=rejected.rejection))
                decisions.append(Decision(parked.position, rejection=rejected.rejection, pending=record))
        still = [p.record.expires_at for p in self.books.parked(partition)]
        self._checked[partition] = (self.books.reference_version(), min(still) if still else None)
        return decisions


_TIMESHEET = TypeAdapter(TimesheetSubmitted | TimesheetCorrected)


def failed(raw: bytes, position: Position, error: Exception) -> Decision:
    """The decision for an event the desk itself failed on: a rejection, never a lost event."""
    event_id, event_type = _peek_identity(raw)
    return _reject(position, raw, Reason.PROCESSING_ERROR, f"{type(error).__name__}: {error}"[:500],
                   event_id, event_type)


def _reject(position: Position, raw: bytes, reason: Reason, detail: str, event_id: str | None,
            event_type: str | None) -> Decision:
    payload = raw[:MAX_KEPT_PAYLOAD].decode("utf-8", errors="replace")
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + " [cut]"
    return Decision(position, rejection=Rejection(
        rejection_id=rejection_id(position), reason=reason, detail=detail, event_id=event_id,
        event_type=event_type, position=position, payload=payload,
        payload_truncated=len(raw) > MAX_KEPT_PAYLOAD))


def _peek_identity(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort: the id and type of an invalid event, so that its sender can find it."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: a JSON bomb of nested arrays
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
        self.memos: dict[UUID, Memo] = {}
        self.claims: dict[UUID, Claim] = {}
        self.claims_by_beneficiary: dict[str, set[UUID]] = {}
        self.days: dict[tuple[str, dt.date], list[UUID]] = {}
        self.trainings: dict[str, Decimal] = {}
        self.pending: dict[UUID, Parked] = {}

    def contract(self, contract_id: str) -> ContractRegistered | None:
        return self.contracts.get(contract_id)

    def beneficiary(self, beneficiary_id: str) -> BeneficiaryEnrolled | None:
        return self.beneficiaries.get(beneficiary_id)

    def keep_reference(self, event: Event) -> None:
        if isinstance(event, ContractRegistered):
            self.contracts[event.contract_id] = event
        elif isinstance(event, BeneficiaryEnrolled):
            self.beneficiaries[event.beneficiary_id] = event

    def memo(self, event_id: UUID) -> Memo | None:
        return self.memos.get(event_id)

    def remember(self, event_id: UUID, memo: Memo) -> None:
        self.memos[event_id] = memo

    def claim(self, event_id: UUID) -> Claim | None:
        return self.claims.get(event_id)

    def put_claim(self, claim: Claim) -> None:
        self.claims[claim.event_id] = claim
        self.claims_by_beneficiary.setdefault(claim.beneficiary_id, set()).add(claim.event_id)

    def claims_of(self, beneficiary_id: str) -> list[Claim]:
        return [self.claims[i] for i in self.claims_by_beneficiary.get(beneficiary_id, ())]

    def day(self, beneficiary_id: str, day: dt.date) -> list[UUID]:
        return list(self.days.get((beneficiary_id, day), ()))

    def put_day(self, beneficiary_id: str, day: dt.date, claim_ids: list[UUID]) -> None:
        self.days[(beneficiary_id, day)] = list(claim_ids)

    def training(self, beneficiary_id: str) -> Decimal:
        return self.trainings.get(beneficiary_id, Decimal(0))

    def put_training(self, beneficiary_id: str, hours: Decimal) -> None:
        self.trainings[beneficiary_id] = hours

    def park(self, parked: Parked) -> None:
        self.pending[parked.record.event_id] = parked

    def parked(self, partition: int) -> list[Parked]:
        return [p for p in self.pending.values() if p.position.partition == partition]

    def unpark(self, parked: Parked) -> None:
        self.pending.pop(parked.record.event_id, None)

    def reference_version(self) -> int:
        return len(self.contracts) + len(self.beneficiaries)


def decide(raw: bytes, position: Position, books: Books, rulebook: Rulebook,
           stream_time: dt.datetime | None = None) -> Decision:
    """One delivery's own decision (without the pending ones it may release): for simple callers."""
    return Desk(books, rulebook).decide(raw, position, stream_time)[0]


def decide_all(lines: Iterable[bytes], rulebook: Rulebook, books: Books | None = None,
               topic: str = "intake") -> list[Decision]:
    """Every decision for a history read in order on one partition (tests, replays)."""
    desk = Desk(books or MemoryBooks(), rulebook)
    out = []
    for offset, raw in enumerate(lines):
        out += desk.decide(raw, Position(topic=topic, partition=0, offset=offset))
    return out
