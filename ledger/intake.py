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
from ledger.pending import Parked, PendingTimesheets
from ledger.rulebook import Rulebook
from ledger.rules import (
    ELIGIBLE_ON_CONTRACT,
    FACILITATOR_RESOLUTION,
    REVERSAL,
    SIAE_INVOICE_CONVERSION,
    DayClaim,
    Part,
    TrainingClaim,
    Verdict,
    cross_check,
    invoice_hours,
    share_training_cap,
    withheld,
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
    """One timesheet's hours as they stand on the ledger, kept to reverse or re-evaluate them."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    beneficiary_id: str
    contract_id: str
    contractor_siret: str
    work_date: dt.date
    mode: Mode
    hours: Decimal  # as declared
    timesheet: str  # the event's JSON, to evaluate again under new reference data
    # (rule, reason) when the timesheet's own rules (contract period, eligibility, permanent hire)
    # keep all its hours from counting: such hours are not work the day's checks weigh.
    withheld: tuple[str, str] | None = None
    entries: tuple[LedgerEntry, ...] = ()  # the standing credits; empty once reversed
    superseded_by: UUID | None = None
    resolution: ClaimDecision | None = None  # a facilitator decided it: the day's checks leave it alone

    @property
    def status(self) -> EntryStatus:
        statuses = {e.status for e in self.entries}
        for status in (EntryStatus.FLAGGED, EntryStatus.COUNTED):
            if status in statuses:
                return status
        return EntryStatus.NOT_COUNTED

    @property
    def weighs_on_its_day(self) -> bool:
        """Work the cross-contractor checks count: its own rules let it count and no facilitator refused it."""
        return self.withheld is None and self.resolution is not ClaimDecision.REFUSE


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
    def training(self, beneficiary_id: str) -> list[UUID]: ...  # the person's standing training claims
    def put_training(self, beneficiary_id: str, claim_ids: list[UUID]) -> None: ...
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
    # The reference version each partition's pending timesheets were last checked against: a
    # release looks again only when reference data grew or one of their deadlines passed.
    _checked: dict[int, int] = field(default_factory=dict)
    # The books' pending timesheets of each partition, indexed; read from the books when first
    # needed, and again when the partition resumes (its tables were restored meanwhile).
    _pending: dict[int, PendingTimesheets] = field(default_factory=dict)

    def decide(self, raw: bytes, position: Position, stream_time: dt.datetime | None = None) -> list[Decision]:
        """The decision for this delivery, then those of pending timesheets it released."""
        now = self._advance(position.partition, stream_time)
        decision = self._decide(raw, position, now)
        return [decision, *self.release(position.partition, position.offset)]

    def tick(self, partition: int, stream_time: dt.datetime, offset: int) -> list[Decision]:
        """Time passes on a partition with no event: release or expire what waits there."""
        self._advance(partition, stream_time)
        return self.release(partition, offset)

    def resume(self, partition: int, offset: int) -> list[Decision]:
        """The partition is read again from `offset`, its last committed one, over books that may
        have changed meanwhile (restored from their changelog): the decisions of timesheets its
        messages from `offset` on released, as they were made, to be sent again."""
        self.leave([partition])
        return self.released_since(partition, offset)

    def leave(self, partitions: Iterable[int]) -> None:
        """The partitions are no longer decided here: what was read of their books is dropped."""
        for partition in partitions:
            self._pending.pop(partition, None)
            self._checked.pop(partition, None)

    def released_since(self, partition: int, offset: int) -> list[Decision]:
        """The decisions of timesheets released by the partition's messages from `offset` on."""
        out = []
        for parked in self._parked(partition).released():
            if parked.released_by < offset:
                continue
            memo = self.books.memo(parked.record.event_id)
            if memo is None:
                continue
            event = parse_event(parked.raw) if memo.rejection is None else None
            out.append(Decision(parked.position, event=event, entries=memo.entries, rejection=memo.rejection,
                                pending=parked.record))
        return out

    def forget_released(self, partition: int, below: int) -> None:
        """The messages before `below` have their outputs durable: what they released is done."""
        pending = self._parked(partition)
        for parked in pending.released():
            if parked.released_by >= below:
                break  # released() is in the order of released_by
            self.books.unpark(parked)
            pending.remove(parked.record.event_id)

    def _parked(self, partition: int) -> PendingTimesheets:
        pending = self._pending.get(partition)
        if pending is None:
            pending = self._pending[partition] = PendingTimesheets.of(self.books.parked(partition))
        return pending

    def _keep_parked(self, parked: Parked) -> None:
        self.books.park(parked)
        self._parked(parked.position.partition).put(parked)

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
            return self._correct(event, raw, position, now)
        if isinstance(event, ClaimResolved):
            return self._resolve(event, raw, position)
        previous = self.books.beneficiary(event.beneficiary_id) if isinstance(event, BeneficiaryEnrolled) else None
        self.books.keep_reference(event)
        entries = self._reevaluate(event) if previous is not None else ()
        return Decision(position, event=event, entries=entries)

    def _missing_reference(self, event: TimesheetSubmitted | TimesheetCorrected | SiaeInvoice) -> tuple[str, str] | None:
        if self.books.contract(event.contract_id) is None:
            return Reason.UNKNOWN_CONTRACT.value, f"contract:{event.contract_id}"
        if isinstance(event, TimesheetSubmitted) and self.books.beneficiary(event.beneficiary_id) is None:
            return Reason.UNKNOWN_BENEFICIARY.value, f"beneficiary:{event.beneficiary_id}"
        return None

    # -- timesheets -----------------------------------------------------------------------------
    #
    # Which of a person's hours count depends on their other claims: those of the same day (the
    # cross-contractor checks) and their training (the cap). So every change (a new timesheet, a
    # correction, a retraction, a resolution, a new enrolment) settles what it touched: each claim
    # of the days involved, and of the person's training when training is involved, is brought to
    # the verdict the rules give for the claims standing now, as a set. Arrival order decides
    # nothing; a claim whose verdict changed is reversed and credited again, as of the change.

    def _record(self, timesheet: Timesheet, cause: Event) -> tuple[LedgerEntry, ...]:
        """Put a timesheet's hours on the ledger as a standing claim, then settle its day."""
        claim = self._claim(timesheet)
        self._index(claim)
        return self._settle(claim.beneficiary_id, cause, {claim.work_date}, claim.mode is Mode.TRAINING,
                            first=claim.event_id, timesheet=timesheet, new=claim)

    def _claim(self, timesheet: Timesheet) -> Claim:
        contract = self.books.contract(timesheet.contract_id)
        return Claim(event_id=timesheet.event_id, beneficiary_id=timesheet.beneficiary_id,
                     contract_id=contract.contract_id, contractor_siret=contract.contractor_siret,
                     work_date=timesheet.work_date, mode=timesheet.mode, hours=timesheet.hours,
                     timesheet=timesheet.model_dump_json(), withheld=self._withheld(timesheet, contract))

    def _withheld(self, timesheet: Timesheet, contract: ContractRegistered) -> tuple[str, str] | None:
        part = withheld(timesheet, contract, self.books.beneficiary(timesheet.beneficiary_id), self.rulebook)
        return None if part is None else (part[2], part[3])

    def _param(self, name: str, claim: Claim) -> Decimal:
        return self.rulebook.for_contract(name, self.books.contract(claim.contract_id), claim.work_date)

    def _settle(self, beneficiary_id: str, cause: Event, days: set[dt.date], training: bool,
                first: UUID | None = None, timesheet: Timesheet | None = None,
                new: Claim | None = None) -> tuple[LedgerEntry, ...]:
        """Bring the claims of `days` (and with `training`, all the person's training claims) to
        their verdicts. `first` is written first; `timesheet` is its event and `new` its claim when
        just indexed (the books would only give them back)."""
        scope: dict[UUID, Claim] = {}
        for day in sorted(days):
            for claim_id in self.books.day(beneficiary_id, day):
                claim = new if new is not None and claim_id == new.event_id else self.books.claim(claim_id)
                if claim is not None:
                    scope[claim_id] = claim
        flags: dict[str, Part] = {}
        for day in days:
            flags |= cross_check([
                DayClaim(str(c.event_id), c.contractor_siret, c.hours, self._param("daily_max_hours", c),
                         resolved=c.resolution is ClaimDecision.COUNT)
                for c in scope.values() if c.work_date == day and c.weighs_on_its_day])
        elsewhere: set[UUID] = set()  # training claims on other days: their days' verdicts stand
        if training or any(c.mode is Mode.TRAINING for c in scope.values()):
            for claim_id in self.books.training(beneficiary_id):
                claim = None if claim_id in scope else self.books.claim(claim_id)  # `new` is in scope already
                if claim is not None:
                    scope[claim_id] = claim
                    elsewhere.add(claim_id)

        verdicts: dict[UUID, Verdict] = {}
        sharing: list[TrainingClaim] = []
        for claim in scope.values():
            if claim.withheld is not None:
                verdict = Verdict.one(claim.hours, EntryStatus.NOT_COUNTED, *claim.withheld)
            elif claim.resolution is ClaimDecision.REFUSE:
                verdict = Verdict.one(claim.hours, EntryStatus.NOT_COUNTED, FACILITATOR_RESOLUTION,
                                      "refused_by_facilitator")
            elif claim.event_id in elsewhere and claim.status is EntryStatus.FLAGGED:
                verdict = Verdict(tuple((e.hours, e.status, e.rule, e.reason) for e in claim.entries))
            elif str(claim.event_id) in flags:
                verdict = Verdict((flags[str(claim.event_id)],))
            elif claim.mode is Mode.TRAINING:
                sharing.append(TrainingClaim(str(claim.event_id), claim.work_date, claim.hours,
                                             self._param("training_cap_hours", claim)))
                continue
            else:
                verdict = Verdict.one(claim.hours, EntryStatus.COUNTED, ELIGIBLE_ON_CONTRACT)
            verdicts[claim.event_id] = verdict
        verdicts |= {UUID(k): v for k, v in share_training_cap(sharing).items()}

        entries: list[LedgerEntry] = []
        order = {claim_id: n for n, claim_id in enumerate(scope)}
        for claim in sorted(scope.values(), key=lambda c: (c.event_id != first, c.work_date, order[c.event_id])):
            parts = verdicts[claim.event_id].parts
            if claim.resolution is not None:  # the facilitator's decision, whatever the cap leaves of it
                parts = tuple((hours, status, FACILITATOR_RESOLUTION, reason) for hours, status, _, reason in parts)
            if [(e.hours, e.status, e.reason) for e in claim.entries] == [(h, s, r) for h, s, _, r in parts]:
                continue
            own = claim.event_id == cause.event_id
            reversals = self._reverse(claim, cause, subject="" if own else f"{claim.event_id}:")
            sheet = timesheet if timesheet is not None and claim.event_id == timesheet.event_id \
                else _TIMESHEET.validate_json(claim.timesheet)
            credits = self._credits(sheet, self.books.contract(claim.contract_id), Verdict(parts), cause,
                                    subject="" if own else str(claim.event_id))
            self.books.put_claim(claim.model_copy(update={"entries": credits}))
            entries += [*reversals, *credits]
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

    def _index(self, claim: Claim) -> None:
        """A new standing claim: in its day's list, and in the person's training list. The claim
        itself is written once settled, with its entries."""
        ids = self.books.day(claim.beneficiary_id, claim.work_date)
        if claim.event_id not in ids:
            self.books.put_day(claim.beneficiary_id, claim.work_date, [*ids, claim.event_id])
        if claim.mode is Mode.TRAINING:
            ids = self.books.training(claim.beneficiary_id)
            if claim.event_id not in ids:
                self.books.put_training(claim.beneficiary_id, [*ids, claim.event_id])

    def _reverse(self, claim: Claim, cause: Event, subject: str = "") -> tuple[LedgerEntry, ...]:
        """Never an update: a new, opposite entry for each of the claim's standing entries."""
        return tuple(
            e.model_copy(update={
                "entry_id": entry_id(cause.event_id, EntryKind.REVERSAL, f"{subject}{e.entry_id}"),
                "kind": EntryKind.REVERSAL, "source_event_id": cause.event_id, "source_event_type": cause.type,
                "reverses_entry_id": e.entry_id, "hours": -e.hours, "rule": REVERSAL,
                "rulebook_version": self.rulebook.version})
            for e in claim.entries)

    def _withdraw(self, claim: Claim, cause: Event, superseded_by: UUID) -> tuple[LedgerEntry, ...]:
        """Reverse a claim and take it off its day and the person's training."""
        reversals = self._reverse(claim, cause)
        ids = [i for i in self.books.day(claim.beneficiary_id, claim.work_date) if i != claim.event_id]
        self.books.put_day(claim.beneficiary_id, claim.work_date, ids)
        if claim.mode is Mode.TRAINING:
            ids = [i for i in self.books.training(claim.beneficiary_id) if i != claim.event_id]
            self.books.put_training(claim.beneficiary_id, ids)
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

    def _correct(self, event: TimesheetCorrected | TimesheetRetracted, raw: bytes, position: Position,
                 now: dt.datetime) -> Decision:
        claim = self._original(event, raw, position, event.original_event_id)
        if isinstance(claim, Decision):
            return claim
        if isinstance(event, TimesheetCorrected) and self.books.contract(event.contract_id) is None:
            # Like a timesheet: its contract may travel on another partition and arrive later.
            return self._park(event, raw, position, now, Reason.UNKNOWN_CONTRACT.value, f"contract:{event.contract_id}")
        entries = self._withdraw(claim, event, superseded_by=event.event_id)
        days, training = {claim.work_date}, claim.mode is Mode.TRAINING
        if isinstance(event, TimesheetCorrected):
            new = self._claim(event)
            self._index(new)
            days.add(new.work_date)
            training = training or new.mode is Mode.TRAINING
        else:
            new = None
        entries += self._settle(claim.beneficiary_id, event, days, training, first=event.event_id,
                                timesheet=event if new is not None else None, new=new)
        return Decision(position, event=event, entries=entries)

    def _resolve(self, event: ClaimResolved, raw: bytes, position: Position) -> Decision:
        claim = self._original(event, raw, position, event.flagged_event_id)
        if isinstance(claim, Decision):
            return claim
        if claim.status is not EntryStatus.FLAGGED:
            return _reject(position, raw, Reason.NOTHING_TO_RESOLVE,
                           f"timesheet {event.flagged_event_id} is not flagged", str(event.event_id), event.type)
        self.books.put_claim(claim.model_copy(update={"resolution": event.decision}))
        entries = self._settle(claim.beneficiary_id, event, {claim.work_date}, claim.mode is Mode.TRAINING,
                               first=claim.event_id)
        return Decision(position, event=event, entries=entries)

    def _reevaluate(self, enrolment: BeneficiaryEnrolled) -> tuple[LedgerEntry, ...]:
        """A changed enrolment (e.g. retroactive eligibility dates) re-evaluates the person's claims:
        each whose verdict changes is reversed and recorded again, as of this enrolment."""
        days = set()
        for claim in self.books.claims_of(enrolment.beneficiary_id):
            if not claim.entries:
                continue
            days.add(claim.work_date)
            now = self._withheld(_TIMESHEET.validate_json(claim.timesheet), self.books.contract(claim.contract_id))
            if now != claim.withheld:
                self.books.put_claim(claim.model_copy(update={"withheld": now}))
        return self._settle(enrolment.beneficiary_id, enrolment, days, training=True) if days else ()

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

    def _park(self, event: TimesheetSubmitted | TimesheetCorrected | SiaeInvoice, raw: bytes, position: Position, now: dt.datetime,
              reason: str, waiting_for: str) -> Decision:
        contract = self.books.contract(event.contract_id)
        timeout = self.rulebook.param("pending_timeout_hours", now.date(),
                                      contract.programme_id if contract else None, event.contract_id)
        record = PendingRecord(event_id=event.event_id, event_type=event.type, state=PendingState.PENDING,
                               reason=reason, waiting_for=waiting_for,
                               beneficiary_id=getattr(event, "beneficiary_id", ""), contract_id=event.contract_id,
                               parked_at=now, expires_at=now + dt.timedelta(hours=float(timeout)))
        self._keep_parked(Parked(position=position, raw=raw.decode(), record=record))
        return Decision(position, event=event, pending=record)

    def _may_have_arrived(self, waiting_for: str) -> bool:
        """False when the reference a timesheet was parked for is still unknown."""
        kind, _, key = waiting_for.partition(":")
        if kind == "contract":
            return self.books.contract(key) is not None
        if kind == "beneficiary":
            return self.books.beneficiary(key) is not None
        return True

    def release(self, partition: int, offset: int) -> list[Decision]:
        """Pending timesheets of a partition whose reference data arrived, or whose time ran out."""
        now = self.clock.get(partition)
        version = self.books.reference_version()
        pending = self._parked(partition)
        deadline = pending.next_deadline()
        if self._checked.get(partition) == version and (deadline is None or now is None or now < deadline):
            return []
        waiting_list = pending.due(now, self._may_have_arrived)
        decisions = []
        for parked in waiting_list:
            expired = now is not None and now >= parked.record.expires_at
            event = parse_event(parked.raw)
            waiting = self._missing_reference(event)
            if waiting is None:
                record = parked.record.model_copy(update={"state": PendingState.RESOLVED})
            elif expired:
                record = parked.record.model_copy(update={"state": PendingState.EXPIRED, "reason": waiting[0]})
            else:
                continue
            self._keep_parked(parked.model_copy(update={"record": record, "released_by": offset}))
            if record.state is PendingState.EXPIRED:
                rejected = _reject(parked.position, parked.raw.encode(), Reason(waiting[0]),
                                   f"{waiting[1].replace(':', ' ')} still unknown after waiting until "
                                   f"{parked.record.expires_at.isoformat()}", str(event.event_id), event.type)
                decided = Decision(parked.position, rejection=rejected.rejection, pending=record)
            elif isinstance(event, TimesheetCorrected):  # its original may have changed meanwhile
                decided = self._correct(event, parked.raw.encode(), parked.position, now)
                decided = Decision(parked.position, event=decided.event, entries=decided.entries,
                                   rejection=decided.rejection, pending=record)
            else:
                entries = self._invoice(event) if isinstance(event, SiaeInvoice) else self._record(event, cause=event)
                decided = Decision(parked.position, event=event, entries=entries, pending=record)
            self.books.remember(event.event_id, Memo(at=str(parked.position), entries=decided.entries,
                                                     rejection=decided.rejection))
            decisions.append(decided)
        self._checked[partition] = self.books.reference_version()
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
        self.trainings: dict[str, list[UUID]] = {}
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

    def training(self, beneficiary_id: str) -> list[UUID]:
        return list(self.trainings.get(beneficiary_id, ()))

    def put_training(self, beneficiary_id: str, claim_ids: list[UUID]) -> None:
        self.trainings[beneficiary_id] = list(claim_ids)

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
