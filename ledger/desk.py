"""The intake desk: one decision for every event delivered, on plain data.

Each delivered event is accepted (reference data kept, or hours recorded as entries), rejected with
a reason, or parked as pending until its reference data arrives (then accepted, or rejected once it
waited too long). So posted = accepted + rejected + pending, and pending drains to zero.

The desk knows nothing of where its events come from: a delivery is named by an opaque `origin`
(the stream layer's position, which a rejection's id is derived from), and time is the stream time
the caller gives. Given the same book and the same deliveries in the same order it makes the same
decisions, with the same ids: the stream layer relies on that to decide a message again after a
crash instead of remembering what it sent.

The hot path works on plain values: one pydantic validation per event (the contract at the edge),
then tuples, hours in integer hundredths and dicts shaped like the records the store keeps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import re
from decimal import Decimal
from functools import lru_cache

import orjson

from ledger.book import Book, Claim, Contract, Enrolment, Memo, Parked
from ledger.caches import remember
from ledger.entries import RETRYABLE, Reason, Withheld
from ledger.events import MAX_EVENT_BYTES, InvalidEvent, parse_event
from ledger.hashes import DIGEST_HEX, content_digest, uuid5
from ledger.registry import kind_of
from ledger.rulebook import Rulebook
from ledger.sheets import Sheet, fast_sheet, sheet_of, stamp
from ledger.rulebook import add_months
from ledger.rules import (
    ELIGIBLE_ON_CONTRACT,
    FACILITATOR_RESOLUTION,
    REVERSAL,
    SIAE_INVOICE_CONVERSION,
    DayClaim,
    TrainingClaim,
    cross_check,
    invoice_hours,
    share_training_cap,
    withheld_on,
)
from ledger.tuples import new as _new  # a NamedTuple in one call (ledger.tuples says why)

MAX_KEPT_PAYLOAD = 64 * 1024  # bytes of a rejected payload kept for the sender; the rest is cut
MAX_ECHOED_ID = 100  # an invalid event's id and type are echoed in its rejection only when this short
MAX_DETAIL = 8000  # characters of a rejection's detail (a hostile event can multiply its errors)
MAX_ERROR_DETAIL = 500  # characters of a processing error's message
COUNTED, NOT_COUNTED, FLAGGED = "counted", "not_counted", "flagged"
TRAINING = "training"
EPOCH = 0.0

_FIELD = {name: re.compile(rb'"' + name.encode() + rb'"\s*:\s*"([^"\\]{1,100})"') for name in ("event_id", "type")}


def entry_id(source_event_id: str, kind: str, subject: str = "") -> str:
    return uuid5(f"entry:{source_event_id}:{kind}:{subject}" if subject else f"entry:{source_event_id}:{kind}")


def rejection_id(origin: str) -> str:
    return uuid5(f"rejection:{origin}")


def hours_text(hundredths: int) -> str:
    """Hundredths as the decimal text entries carry. An entry reads it `_HOURS_TEXT.get(h) or
    hours_text(h)`: a programme's timesheets declare a few hundred distinct hours, and a dict's
    lookup costs a fifth of an lru_cache's call (ledger.caches)."""
    sign, n = ("-", -hundredths) if hundredths < 0 else ("", hundredths)
    return remember(_HOURS_TEXT, hundredths, f"{sign}{n // 100}.{n % 100:02d}")


_HOURS_TEXT: dict[int, str] = {}
_DATE_TEXT: dict[int, str] = {}


def hundredths(value: Decimal) -> int:
    return int(value * 100)


def _day_value(ids: tuple[str, ...]) -> str | tuple[str, ...]:
    return ids[0] if len(ids) == 1 else ids


def _submitted(event) -> str | None:
    """An event's submitted_at as entries carry it (None for events without one: a facilitator's
    decision, an enrolment; their entries keep their claim's)."""
    at = getattr(event, "submitted_at", None)
    return at if at is None or type(at) is str else stamp(at)


def _date_text(ordinal: int) -> str:
    """A day's ISO text, read `_DATE_TEXT.get(d) or _date_text(d)` as hours_text's."""
    return remember(_DATE_TEXT, ordinal, dt.date.fromordinal(ordinal).isoformat())


def _stamp_at(at: float) -> str:
    """A stream time as entries and pending records write it (UTC, Z), read `_STAMPS.get(t) or
    _stamp_at(t)`: a message's timesheets parked together share their time (~12,000 instructions
    for a datetime and its text, twice a pending record)."""
    return remember(_STAMPS, at, stamp(dt.datetime.fromtimestamp(at, dt.timezone.utc)))


_STAMPS: dict[float, str] = {}


@lru_cache(maxsize=65536)
def _months_after(ordinal: int, months: int) -> int:
    return add_months(dt.date.fromordinal(ordinal), months).toordinal()


class Outcome:
    """What became of one delivery: its entries, its rejection, its pending record, its reference
    record. `state` is the delivery's standing for the accounting: accepted, rejected or pending.

    Not a dataclass: compiled (setup.py, desk.pxd), an extension type, whose attributes are read in
    C and whose constructor is compiled (a dataclass's generated `__init__` ran as Python bytecode,
    once for each of the millions of outcomes)."""

    __slots__ = ("origin", "event_id", "event_type", "state", "entries", "rejection", "pending", "reference",
                 "learned")

    def __init__(self, origin: str, event_id: str | None, event_type: str | None, state: str,
                 entries: list[dict] | None = None, rejection: dict | None = None, pending: dict | None = None,
                 reference: dict | None = None, learned: str | None = None) -> None:
        self.origin = origin
        self.event_id = event_id
        self.event_type = event_type
        self.state = state
        self.entries = [] if entries is None else entries
        self.rejection = rejection
        self.pending = pending  # parked, resolved or expired
        self.reference = reference  # the event's own record to store: reference data, a facilitator's decision
        self.learned = learned  # reference data every person's state must learn (raw event JSON)

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other) -> bool:
        return self._fields() == other._fields() if isinstance(other, Outcome) else NotImplemented

    __hash__ = None  # mutable, compared by value

    def __repr__(self) -> str:
        return "Outcome(" + ", ".join(f"{name}={value!r}" for name, value in zip(self.__slots__, self._fields())) + ")"

    @property
    def accepted(self) -> bool:
        return self.state == "accepted"

    @property
    def parked(self) -> bool:
        return self.state == "pending"


def _accepted_outcome(origin: str, event_id: str, event_type: str, entries: list) -> Outcome:
    """Outcome(origin, event_id, event_type, "accepted", entries), its fields set one by one:
    compiled, without the call of its __init__ and the parsing of its arguments (1 % of the parse
    path, perf 2026-12-06), for the outcome of nearly every timesheet."""
    out = Outcome.__new__(Outcome)
    out.origin, out.event_id, out.event_type, out.state, out.entries = origin, event_id, event_type, "accepted", entries
    out.rejection = out.pending = out.reference = out.learned = None
    return out


_NO_CAP = 1 << 62  # the lowest cap of no claim
# Where a Contract and an Enrolment hold their days, for the hot path's reads by index.
_CONTRACT_START, _CONTRACT_END = Contract._fields.index("start"), Contract._fields.index("end")
_ELIGIBLE_FROM, _ELIGIBLE_UNTIL = Enrolment._fields.index("eligible_from"), Enrolment._fields.index("eligible_until")
assert Claim._fields[1:5] == ("beneficiary_id", "contract_id", "work_date", "mode")
assert Claim._fields[6] == "siae_siret" and Claim._fields[9] == "submitted_at"
assert Contract._fields[0] == "contract_id"


def _opened(outcomes: list[Outcome]) -> list[Outcome]:
    """Mark the first entry of each outcome as the one that accounts for its event. Every entry an
    event causes is made while that event is decided (a later event's reversal of its claim is the
    later event's), so an event with entries has exactly one marked entry: the store counts
    accepted events by summing the mark, where counting their distinct ids read the whole ledger
    (intake_accounting, deploy/clickhouse/schema/005_analytics_views.sql)."""
    for outcome in outcomes:
        if outcome.entries:
            outcome.entries[0]["opens_source"] = True
    return outcomes


def rejected(origin: str, raw: bytes, reason: Reason, detail: str, event_id: str | None,
             event_type: str | None) -> Outcome:
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + " [cut]"
    rejection = {"rejection_id": rejection_id(origin), "reason": reason.value, "detail": detail,
                 "event_id": event_id, "event_type": event_type,
                 "payload": raw[:MAX_KEPT_PAYLOAD].decode("utf-8", errors="replace"),
                 "payload_truncated": len(raw) > MAX_KEPT_PAYLOAD}
    return Outcome(origin, event_id, event_type, "rejected", rejection=rejection)


def failed(raw: bytes, origin: str, error: Exception) -> Outcome:
    """The outcome of an event the desk itself failed on: a rejection, never a lost event."""
    event_id, event_type = peek_identity(raw)
    return rejected(origin, raw, Reason.PROCESSING_ERROR, f"{type(error).__name__}: {error}"[:MAX_ERROR_DETAIL],
                    event_id, event_type)


def peek_identity(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort: the id and type of an invalid event, so that its sender can find it."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:  # also a JSON bomb of nested arrays: orjson bounds the depth
        return None, None
    if not isinstance(obj, dict):
        return None, None
    ids = obj.get("event_id"), obj.get("type")
    return tuple(v if isinstance(v, str) and len(v) <= MAX_ECHOED_ID else None for v in ids)  # type: ignore[return-value]


def peek_head(raw: bytes) -> tuple[str | None, str | None]:
    """The id and type an event cut for its size names near its start (its JSON is not whole)."""
    found = [_FIELD[name].search(raw[:4096]) for name in ("event_id", "type")]
    return tuple(m.group(1).decode("utf-8", "replace") if m else None for m in found)  # type: ignore[return-value]


def content_of(obj) -> bytes:
    """The content of an event (its parsed JSON), for telling a duplicate from an id reused for other
    content: its JSON values with keys sorted, so other spacing or key order is the same content.
    Its digest (ledger.hashes.content_digest) is what a memo keeps."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def digest_of(obj) -> str:
    return content_digest(content_of(obj))


def _same_content(kept: str, digest: str, content: bytes) -> bool:
    """Whether a memo's digest is that of this content: the digest of today, or BLAKE2b's for a
    memo written before 2026-12-06 (ledger/hashes.py says why it changed)."""
    return kept == digest or kept == hashlib.blake2b(content, digest_size=DIGEST_HEX // 2).hexdigest()


def _event_of(raw: bytes) -> Sheet | object:
    """The event `raw` holds: a Sheet for a timesheet of the usual shape, else the event contract's
    own validation (InvalidEvent if refused)."""
    fast = fast_sheet(raw)
    return fast[0] if fast is not None else parse_event(raw)


def _parsed(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class Desk:
    """Decides deliveries against one Book under one Rulebook."""

    def __init__(self, book: Book, rulebook: Rulebook) -> None:
        self.book = book
        self.rulebook = rulebook
        self.version = rulebook.version
        # The pending index, derived from book.parked (rebuilt by `reindex` after a restore).
        self._awaiting: dict[str, set[str]] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._arrived: set[str] = set()  # references that became known since the last release
        self._param_cache: dict[str, dict[str, list]] = {}  # name -> contract -> its periods
        self._timeouts: dict[tuple, Decimal] = {}  # (programme, contract, day) -> pending_timeout_hours
        # Equal verdict parts and credit parties, held once by every claim that has them.
        self._shared: dict[tuple, tuple] = {}
        self._counted: dict[int, tuple] = {}  # hours -> the shared verdict of hours counted whole
        self._under: dict[str, tuple[Contract, tuple]] = {}  # contract -> (as registered, its parties)
        self._posted_at: float | None = None
        # The event being decided and its submission time: every entry it causes carries that time,
        # a reversal of an older claim included (auditors read it as when the correction came).
        self._cause: tuple[str | None, str | None] = (None, None)
        # Per person with training claims, as the general path last shared the cap out (`_settle`):
        # the latest work day of the claims sharing it, the hours of the cap they use and the lowest
        # of their caps. Derived from the book, kept in memory only: dropped whenever the person's
        # claims are settled again (every change of a training claim ends in a `_settle`), set when
        # their cap is shared out, empty after a restore (the person's next training claim takes
        # the general path and sets it).
        self._training_used: dict[str, tuple[int, int, int]] = {}
        self.reindex()

    # -- time and the pending index ------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.book.clock.get("now", EPOCH)

    def advance(self, stream_time: float | None) -> None:
        if stream_time is not None and stream_time > self.now:
            self.book.put("clock", "now", stream_time)

    def reindex(self) -> None:
        self._awaiting, self._deadlines = {}, []
        for parked in self.book.parked.values():
            self._index_parked(parked)
        self._arrived = {w for w in self._awaiting if self._known(w)}

    def _index_parked(self, parked: Parked) -> None:
        self._awaiting.setdefault(parked.waiting_for, set()).add(parked.event_id)
        heapq.heappush(self._deadlines, (parked.expires_at, parked.event_id))

    def _unpark(self, parked: Parked) -> None:
        self.book.drop("parked", parked.event_id)
        self._arrive(f"event:{parked.event_id}")  # what follows it (a correction, a resolution) may go on
        waiting = self._awaiting.get(parked.waiting_for)
        if waiting is not None:
            waiting.discard(parked.event_id)
            if not waiting:
                del self._awaiting[parked.waiting_for]

    def _known(self, waiting_for: str) -> bool:
        kind, _, key = waiting_for.partition(":")
        if kind == "contract":
            return key in self.book.contracts
        if kind == "beneficiary":
            return key in self.book.enrolments
        if kind == "event":  # an original timesheet that waited: recorded, or rejected, by now
            return key not in self.book.parked
        return True

    def _arrive(self, reference: str) -> None:
        if reference in self._awaiting:
            self._arrived.add(reference)

    # -- deliveries ------------------------------------------------------------------------------

    def decide(self, raw: bytes, origin: str, stream_time: float | None = None,
               posted_at: float | None = None, keys_unique: bool = False) -> list[Outcome]:
        """The outcome of this delivery, then those of pending timesheets it released. `stream_time`
        is the time every source of deliveries has reached (what expires waits); `posted_at` this
        delivery's own time (what a parked timesheet's wait starts from), the stream time if None.
        `keys_unique`: the caller vouches that `raw` repeats no key in an object (it wrote it from
        a parsed object): it is not counted again (ledger.sheets.fast_sheet)."""
        if stream_time is not None:
            self.advance(stream_time)
        self._posted_at = posted_at
        try:
            outcome = self._decide(raw, origin, keys_unique)
        except BooksUnavailable:
            raise
        except Exception as error:  # a defect on this event costs it a visible rejection, not the worker
            self._training_used.clear()  # the book may have changed half-way: shared out again when needed
            outcome = failed(raw, origin, error)
        return _opened([outcome, *self.release()] if self._arrived or self._due() else [outcome])

    def tick(self, stream_time: float) -> list[Outcome]:
        """Time passes with no event: release or expire what waits."""
        self.advance(stream_time)
        self._posted_at = None
        return _opened(self.release()) if self._arrived or self._due() else []

    def learn(self, raw: bytes) -> list[Outcome]:
        """Reference data decided elsewhere (a contract, a programme): kept, and what waited for it
        released. Not a delivery of this desk's: no outcome of its own."""
        self._posted_at = None
        event = parse_event(raw)
        if event.type == "contract.registered":
            self._keep_contract(event)
        elif event.type == "programme.defined":
            self.book.put("programmes", event.programme_id, getattr(event, "buyer_id", None))
        return _opened(self.release()) if self._arrived else []

    def _decide(self, raw: bytes, origin: str, keys_unique: bool = False) -> Outcome:
        # An event cut on its way for its size (bytes of another type, with the length posted): refused for it.
        posted = getattr(raw, "posted", None) if type(raw) is not bytes else None
        if posted is not None and posted > MAX_EVENT_BYTES:
            event_id, event_type = peek_head(raw)
            out = rejected(origin, raw, Reason.INVALID_EVENT,
                           f"the event is {posted} bytes long, more than {MAX_EVENT_BYTES}", event_id, event_type)
            out.rejection["payload_truncated"] = True
            return out
        fast = fast_sheet(raw, keys_unique)
        if fast is not None:  # nearly every event: a timesheet of the usual shape
            event, content = fast
            digest = content_digest(content)
            event_id = event.event_id
            self._cause = (event_id, event.submitted_at)
        else:
            try:
                event = parse_event(raw)
            except InvalidEvent as invalid:
                event_id, event_type = invalid.event_id, invalid.event_type
                if event_id is None:
                    event_id, event_type = peek_identity(raw)
                return rejected(origin, raw, Reason(invalid.reason), invalid.detail, event_id, event_type)
            # Valid: its JSON read again for its digest (json when past what orjson reads: it has no
            # such limit but 64-bit integers).
            obj = _parsed(raw)
            content = content_of(obj if obj is not None else json.loads(raw))
            digest = content_digest(content)
            event_id = str(event.event_id)
            self._cause = (event_id, _submitted(event))
        book = self.book
        memo = book.memo(event_id)
        if memo is not None:
            seen = self._seen(Memo(memo), event_id, event.type, raw, origin, digest, content)
            if seen is not None:
                return seen
        outcome = self._first_of_its_day(event, origin) if type(event) is Sheet else None
        if outcome is None:
            outcome = getattr(self, kind_of(event.type).handler)(event, raw, origin)
        retryable = outcome.rejection is not None and outcome.rejection["reason"] in RETRYABLE
        book.put_record("memos", event_id, Memo.of(origin, digest, retryable))
        return outcome

    def _seen(self, memo: Memo, event_id: str, event_type: str, raw: bytes, origin: str,
              digest: str, content: bytes) -> Outcome | None:
        """The outcome of an event id delivered before, None when it is decided afresh."""
        if memo.origin != origin and memo.retryable:
            return None  # posted again, as the rejection asked: decided afresh
        if memo.origin == origin:  # the same delivery again (routed twice): decided already
            return Outcome(origin, event_id, event_type, "repeated")
        if not _same_content(memo.digest, digest, content):
            return rejected(origin, raw, Reason.EVENT_ID_CONFLICT,
                            f"event_id already used at {memo.origin} for other content: post this event "
                            f"under a new event_id", event_id, event_type)
        return rejected(origin, raw, Reason.DUPLICATE_EVENT, f"event_id already delivered at {memo.origin}",
                        event_id, event_type)

    def _accepted(self, event, origin: str, entries: list[dict] | None = None, reference: dict | None = None,
                  learned: str | None = None) -> Outcome:
        return Outcome(origin, str(event.event_id), event.type, "accepted", entries=entries or [],
                       reference=reference, learned=learned)

    def _refuse(self, event, raw: bytes, origin: str, reason: Reason, detail: str) -> Outcome:
        return rejected(origin, raw, reason, detail, str(event.event_id), event.type)

    # -- reference data --------------------------------------------------------------------------

    def _reference_record(self, event) -> dict:
        record = {"record": kind_of(event.type).record, **event.model_dump(mode="json")}
        # The store keeps the effective values, so that auditors need not re-apply defaults.
        if event.type == "contract.registered":
            record["target_hours"] = str(self.rulebook.target_hours(event))
        elif event.type == "beneficiary.enrolled":
            record["eligible_until"] = self.rulebook.eligible_until(event).isoformat()
        return record

    def _programme(self, event, raw: bytes, origin: str) -> Outcome:
        buyer = getattr(event, "buyer_id", None)
        if event.programme_id in self.book.programmes and self.book.programmes[event.programme_id] != buyer:
            return self._refuse(event, raw, origin, Reason.PROGRAMME_NOT_YOURS,
                                f"programme {event.programme_id} belongs to another buyer")
        self.book.put("programmes", event.programme_id, buyer)
        return self._accepted(event, origin, reference=self._reference_record(event), learned=raw.decode())

    def _contract(self, event, raw: bytes, origin: str) -> Outcome:
        buyer = getattr(event, "buyer_id", None)
        known = self.book.contracts.get(event.contract_id)
        if known is not None and known.buyer_id != buyer:
            return self._refuse(event, raw, origin, Reason.CONTRACT_NOT_YOURS,
                                f"contract {event.contract_id} was registered by another buyer")
        if event.programme_id in self.book.programmes and self.book.programmes[event.programme_id] != buyer:
            return self._refuse(event, raw, origin, Reason.PROGRAMME_NOT_YOURS,
                                f"programme {event.programme_id} belongs to another buyer")
        if known is not None and known.programme_id != event.programme_id:
            return self._refuse(event, raw, origin, Reason.CONTRACT_NOT_YOURS,
                                f"contract {event.contract_id} belongs to programme {known.programme_id}")
        self._keep_contract(event)
        return self._accepted(event, origin, reference=self._reference_record(event), learned=raw.decode())

    def _keep_contract(self, event) -> None:
        self._training_used.clear()  # a contract's caps and period may change whose claims count
        self.book.put("contracts", event.contract_id, Contract(
            event.contract_id, event.programme_id, event.operation_id, event.lot, event.contractor_siret,
            event.start_date.toordinal(), event.end_date.toordinal(), getattr(event, "buyer_id", None)))
        self._arrive(f"contract:{event.contract_id}")

    def _pooling(self, event, raw: bytes, origin: str) -> Outcome:
        return self._accepted(event, origin, reference=self._reference_record(event))

    def _enrolment(self, event, raw: bytes, origin: str) -> Outcome:
        previous = self.book.enrolments.get(event.beneficiary_id)
        if previous is not None and previous.facilitator_id != event.facilitator_id:
            return self._refuse(event, raw, origin, Reason.BENEFICIARY_NOT_YOURS,
                                f"beneficiary {event.beneficiary_id} is followed by another facilitator")
        self.book.put("enrolments", event.beneficiary_id, Enrolment(
            event.beneficiary_id, event.facilitator_id, event.eligible_from.toordinal(),
            self.rulebook.eligible_until(event).toordinal()))
        self._arrive(f"beneficiary:{event.beneficiary_id}")
        entries = self._reevaluate(event) if previous is not None else []
        return self._accepted(event, origin, entries, reference=self._reference_record(event))

    def _outcome(self, event, raw: bytes, origin: str) -> Outcome:
        refused = self._not_followed_by(event, raw, origin)
        return refused or self._accepted(event, origin, reference=self._reference_record(event))

    def _not_followed_by(self, event, raw: bytes, origin: str) -> Outcome | None:
        enrolment = self.book.enrolments.get(event.beneficiary_id)
        if enrolment is not None and enrolment.facilitator_id != event.facilitator_id:
            return self._refuse(event, raw, origin, Reason.BENEFICIARY_NOT_YOURS,
                                f"beneficiary {event.beneficiary_id} is followed by another facilitator")
        return None

    # -- parameters ------------------------------------------------------------------------------

    def _param(self, name: str, contract_id: str, day: int):
        """The rulebook's value for a contract on a day (ordinal), from its periods cached per contract."""
        # Per name, then per contract: no (name, contract) tuple to build and hash at every timesheet.
        cached = self._param_cache.get(name)
        if cached is None:
            cached = self._param_cache[name] = {}
        periods = cached.get(contract_id)
        if periods is None:
            contract = self.book.contracts[contract_id]
            periods = cached[contract_id] = self._periods(name, contract.programme_id, contract_id)
        for start, end, value in periods:
            if start <= day <= end:
                return value
        return self.rulebook.param(name, dt.date.fromordinal(day), self.book.contracts[contract_id].programme_id,
                                   contract_id)  # raises LookupError, naming the gap

    def _periods(self, name: str, programme_id: str, contract_id: str) -> list:
        rb = self.rulebook
        out = []
        for scope in (rb.contracts.get(contract_id), rb.programmes.get(programme_id), rb.defaults):
            if scope and name in scope:
                for p in scope[name]:
                    start = p.start.toordinal() if p.start else 1
                    end = p.end.toordinal() if p.end else dt.date.max.toordinal()
                    value = p.value
                    if name in ("daily_max_hours", "training_cap_hours"):
                        value = hundredths(Decimal(value))
                    out.append((start, end, value))
        return out

    # -- timesheets ------------------------------------------------------------------------------
    #
    # Which of a person's hours count depends on their other claims: those of the same day (the
    # cross-contractor checks) and their training (the cap). So every change (a new timesheet, a
    # correction, a retraction, a resolution, a new enrolment) settles what it touched: each claim
    # of the days involved, and of the person's training when training is involved, is brought to
    # the verdict the rules give for the claims standing now, as a set. Arrival order decides
    # nothing; a claim whose verdict changed is reversed and credited again, as of the change.

    def _missing(self, event) -> tuple[Reason, str] | None:
        if event.contract_id not in self.book.contracts:
            return Reason.UNKNOWN_CONTRACT, f"contract:{event.contract_id}"
        if event.type == "timesheet.submitted" and event.beneficiary_id not in self.book.enrolments:
            return Reason.UNKNOWN_BENEFICIARY, f"beneficiary:{event.beneficiary_id}"
        return None

    def _timesheet(self, event, raw: bytes, origin: str) -> Outcome:
        sheet = event if type(event) is Sheet else sheet_of(event)
        waiting = self._missing(sheet)
        if waiting is not None:
            return self._park(sheet, raw, origin, *waiting)
        return Outcome(origin, sheet.event_id, sheet.type, "accepted",
                       entries=self._record(sheet, sheet.event_id, sheet.type))

    def _first_of_its_day(self, sheet: Sheet, origin: str) -> Outcome | None:
        """Nearly every timesheet, decided in one step: new, its reference data known, the first claim
        of its person's day, within the daily maximum; in training, also changing no other claim
        under the training cap (see below). The same outcome and state as
        `_timesheet`'s, without the general path's calls (13-15 % of the desk's CPU on the small
        programme, same run, identical records; a training claim there re-read and shared the cap
        over all its person's: 79-109 µs, docs/scaling.md); None for any other, which takes the
        general path."""
        book = self.book
        # Sliced into a plain tuple, unpacked in place when compiled (a Sheet, a tuple's subclass, by
        # iterating it).
        fields = sheet[:]
        event_id, event_type, contract_id, person, day, hours, mode, siret, hire_type, hired, submitted = fields
        contract = book.contracts.get(contract_id)
        enrolment = book.enrolments.get(person)
        if contract is None or enrolment is None:
            return None
        training = mode == TRAINING
        if training:
            used = self._training_used.get(person)
            if used is None:  # its person's cap not shared out yet
                return None
        if book.day_of(person, day):
            return None
        # Within its contract's period and its person's eligibility, no permanent hire: nothing of
        # `_withheld` can apply (read by index: compiled, a NamedTuple's attribute is looked up by
        # name, and these four with `_withheld`'s call were 4 % of the parse path, perf 2026-12-06).
        if (contract[_CONTRACT_START] <= day <= contract[_CONTRACT_END] and hire_type != "permanent"
                and enrolment[_ELIGIBLE_FROM] <= day <= enrolment[_ELIGIBLE_UNTIL]):
            withheld = None
        else:
            withheld = self._withheld(sheet, contract, enrolment)
        if withheld is not None:
            if training:
                return None
            parts = self._share(((hours, NOT_COUNTED, *withheld),))
        elif hours <= self._param("daily_max_hours", contract_id, day):
            if training:
                # Counted whole and no other claim changed (share_training_cap): last in work-day
                # order, within what its own cap leaves; or anywhere, when the total stays within
                # the lowest of their caps (then every claim counts whole: one cut short by its cap
                # leaves the total at least at that cap).
                cap = self._param("training_cap_hours", contract_id, day)
                last, taken, lowest = used
                if hours > cap - taken or (day < last and taken + hours > lowest):
                    return None
            parts = self._counted.get(hours) or self._counted_whole(hours)
        else:
            return None  # flagged by the daily maximum: _settle's
        under = self._credited_under(contract)
        claim = _new(Claim, (event_id, person, contract_id, day, mode, hours, siret, hire_type, hired, submitted,
                             withheld, parts, event_id, under, None, None))
        _, status, rule, reason = parts[0]
        credit = self._entry(claim, entry_id(event_id, "credit"), "credit", hours, status, reason, rule, event_id,
                             event_type, under, None)
        book.put_day(person, day, event_id)  # a day's only claim: its id alone (see _on_day)
        self._worked_on(person, day)
        if training:
            book.put("training", person, (*book.training.get(person, ()), event_id))
            self._training_used[person] = (max(last, day), taken + hours, min(lowest, cap))
        book.put_record("claims", event_id, claim)
        return _accepted_outcome(origin, event_id, event_type, [credit])

    def _claim(self, sheet: Sheet) -> Claim:
        claim = Claim(sheet.event_id, sheet.beneficiary_id, sheet.contract_id, sheet.work_date, sheet.mode,
                      sheet.hours, sheet.siae_siret, sheet.hire_type, sheet.hire_date, sheet.submitted_at,
                      None, (), None, None)
        withheld = self._withheld(claim)
        return claim if withheld is None else claim._replace(withheld=withheld)

    def _withheld(self, claim: Claim | Sheet, contract: Contract | None = None,
                  enrolment: Enrolment | None = None) -> tuple[str, str] | None:
        """(rule, reason) when a claim's own rules keep all its hours from counting, else None (its
        contract and enrolment looked up unless given)."""
        contract = contract or self.book.contracts[claim.contract_id]
        enrolment = enrolment or self.book.enrolments.get(claim.beneficiary_id)
        window = (enrolment.eligible_from, enrolment.eligible_until) if enrolment else (1, 0)
        permanent = claim.hire_type == "permanent"
        months = self._param("permanent_hire_months_counted", claim.contract_id, claim.work_date) if permanent else None
        part = withheld_on(claim.hours, claim.work_date, (contract.start, contract.end), window,
                           claim.hire_date if permanent else None, months)
        if part is None:
            return None
        _, _, rule, reason = part
        return rule, reason

    def _record(self, sheet: Sheet, cause_id: str, cause_type: str) -> list[dict]:
        """Put a timesheet's hours on the ledger as a standing claim, then settle its day."""
        claim = self._claim(sheet)
        self._index(claim)
        return self._settle(claim.beneficiary_id, cause_id, cause_type, {claim.work_date}, claim.mode == TRAINING,
                            first=claim.event_id, new=claim)

    def _worked_on(self, person: str, day: int) -> None:
        """Widen the span of days (first, last) the person has claims on to `day`. A span, not the
        list of days: kept O(1) in the book and in each second's state record, where the list was
        copied and written whole at every new day. (State written before holds the list: its
        minimum and maximum are the span.)"""
        span = self.book.people.get(person)
        if span is None:
            self.book.put("people", person, (day, day))
        elif len(span) != 2:
            self.book.put("people", person, (min(*span, day), max(*span, day)))
        elif day > span[1]:  # nearly always: a later day than any before
            self.book.put("people", person, (span[0], day))
        elif day < span[0]:
            self.book.put("people", person, (day, span[1]))

    def _on_day(self, person: str, day: int) -> tuple[str, ...]:
        """The claims of a person's day. The book keeps a day's only claim as its id alone: nearly
        every day has one, and a tuple of one costs 48 bytes more per timesheet."""
        ids = self.book.day_of(person, day, ())
        return (ids,) if type(ids) is str else ids

    def _days_worked(self, person: str) -> range:
        span = self.book.people.get(person)
        return range(min(span), max(span) + 1) if span else range(0)

    def _index(self, claim: Claim) -> None:
        book, person, day = self.book, claim.beneficiary_id, claim.work_date
        ids = self._on_day(person, day)
        if claim.event_id not in ids:
            book.put_day(person, day, _day_value((*ids, claim.event_id)))
            if not ids:
                self._worked_on(person, day)
        if claim.mode == TRAINING:
            ids = book.training.get(person, ())
            if claim.event_id not in ids:
                book.put("training", person, (*ids, claim.event_id))

    def _settle(self, beneficiary_id: str, cause_id: str, cause_type: str, days: set[int], training: bool,
                first: str | None = None, new: Claim | None = None) -> list[dict]:
        """Bring the claims of `days` (and with `training`, all the person's training claims) to
        their verdicts. `first` is written first; `new` is its claim when just indexed."""
        book = self.book
        self._training_used.pop(beneficiary_id, None)  # set again below if the cap is shared out
        scope: dict[str, Claim] = {}
        for day in sorted(days):
            for claim_id in self._on_day(beneficiary_id, day):
                claim = new if new is not None and claim_id == new.event_id else book.claims.get(claim_id)
                if claim is not None:
                    scope[claim_id] = claim
        flags: dict = {}
        for day in days:
            on_day = [c for c in scope.values() if c.work_date == day and c.weighs_on_its_day]
            if len(on_day) == 1 and on_day[0].resolution is None:  # alone on its day: only the maximum can flag
                c = on_day[0]
                if c.hours > self._param("daily_max_hours", c.contract_id, day):
                    flags |= cross_check([DayClaim(c.event_id, self._contractor(c), c.hours,
                                                   self._param("daily_max_hours", c.contract_id, day))])
            elif on_day:
                flags |= cross_check([
                    DayClaim(c.event_id, self._contractor(c), c.hours, self._param("daily_max_hours", c.contract_id, day),
                             resolved=c.resolution == "count") for c in on_day])
        elsewhere: set[str] = set()  # training claims on other days: their days' verdicts stand
        training = training or any(c.mode == TRAINING for c in scope.values())
        if training:
            for claim_id in book.training.get(beneficiary_id, ()):
                claim = None if claim_id in scope else book.claims.get(claim_id)
                if claim is not None:
                    scope[claim_id] = claim
                    elsewhere.add(claim_id)

        verdicts: dict[str, tuple] = {}
        sharing: list[TrainingClaim] = []
        for claim in scope.values():
            if claim.withheld is not None:
                verdict = ((claim.hours, NOT_COUNTED, *claim.withheld),)
            elif claim.resolution == "refuse":
                verdict = ((claim.hours, NOT_COUNTED, FACILITATOR_RESOLUTION, Withheld.REFUSED_BY_FACILITATOR.value),)
            elif claim.event_id in elsewhere and claim.status == FLAGGED:
                verdict = claim.parts
            elif claim.event_id in flags:
                verdict = (tuple(str(v) if i else v for i, v in enumerate(flags[claim.event_id])),)
            elif claim.mode == TRAINING:
                sharing.append(TrainingClaim(claim.event_id, claim.work_date, claim.hours,
                                             self._param("training_cap_hours", claim.contract_id, claim.work_date)))
                continue
            else:
                verdict = ((claim.hours, COUNTED, ELIGIBLE_ON_CONTRACT, ""),)
            verdicts[claim.event_id] = verdict
        shared = share_training_cap(sharing)
        for claim_id, verdict in shared.items():
            verdicts[claim_id] = tuple((h, str(s), rule, reason) for h, s, rule, reason in verdict.parts)
        if training:  # every standing training claim of the person was shared out: what the next may use
            self._training_used[beneficiary_id] = (
                max((c.work_date for c in sharing), default=0),
                sum(h for verdict in shared.values() for h, s, _, _ in verdict.parts if s == COUNTED),
                min((c.cap for c in sharing), default=_NO_CAP))

        entries: list[dict] = []
        ordered = scope.values() if len(scope) == 1 else sorted(
            scope.values(), key=lambda c, order={k: n for n, k in enumerate(scope)}:
            (c.event_id != first, c.work_date, order[c.event_id]))
        for claim in ordered:
            parts = verdicts[claim.event_id]
            if claim.resolution is not None:  # the facilitator's decision, whatever the cap leaves of it
                parts = tuple((h, s, FACILITATOR_RESOLUTION, r) for h, s, _, r in parts)
            if [(h, s, r) for h, s, _, r in claim.parts] == [(h, s, r) for h, s, _, r in parts]:
                continue
            own = claim.event_id == cause_id
            entries += self._reverse(claim, cause_id, cause_type, subject="" if own else f"{claim.event_id}:")
            credits = self._credits(claim, parts, cause_id, cause_type, subject="" if own else claim.event_id)
            self._stand(claim, parts, cause_id if credits else None)
            entries += credits
        return entries

    def _stand(self, claim: Claim, parts: tuple, credited_by: str | None) -> None:
        """The claim as the credits of `credited_by` (None: no credit) leave it on the ledger."""
        # Built whole rather than by _replace, which costs as much again on the hot path.
        self.book.put_record("claims", claim.event_id, Claim(
            *claim[:11], self._share(parts), credited_by, self._credited_under(self.book.contracts[claim.contract_id]),
            claim.superseded_by, claim.resolution))

    def _counted_whole(self, hours: int) -> tuple:
        """The shared verdict of `hours` counted whole, kept per hours (a few hundred values): the
        common timesheet's, found without building it again."""
        parts = self._counted[hours] = self._share(((hours, COUNTED, ELIGIBLE_ON_CONTRACT, ""),))
        return parts

    def _share(self, value: tuple) -> tuple:
        """One tuple for equal verdict parts and credit parties, held by every claim that has them."""
        shared = self._shared
        if len(shared) > 100_000:  # verdicts are few (hours x rule); a hostile variety must not grow it
            shared.clear()
        return shared.setdefault(value, value)

    def _credited_under(self, contract: Contract) -> tuple[str, str, str, str]:
        # Kept per contract while the book holds that very Contract (a new registration replaces it).
        # Its id read by index, as the hot path's reads (a NamedTuple's attribute is looked up by name).
        kept = self._under.get(contract[0])
        if kept is not None and kept[0] is contract:
            return kept[1]
        under = self._share((contract.programme_id, contract.operation_id, contract.lot, contract.contractor_siret))
        self._under[contract.contract_id] = (contract, under)
        return under

    def _contractor(self, claim: Claim) -> str:
        return claim.credited[3] if claim.credited else self.book.contracts[claim.contract_id].contractor_siret

    def _entry(self, claim: Claim, entry_id_: str, kind: str, hours: int, status: str, reason: str, rule: str,
               cause_id: str, cause_type: str, under: tuple[str, str, str, str], reverses: str | None) -> dict:
        cause, at = self._cause  # the event being decided and when it was submitted (None: no time)
        # The claim's fields by index, as in _first_of_its_day (Claim's order: ledger.book).
        day = claim[3]
        return {"record": "entry", "entry_id": entry_id_, "kind": kind, "status": status, "reason": reason,
                "source_event_id": cause_id, "source_event_type": cause_type, "reverses_entry_id": reverses,
                "programme_id": under[0], "operation_id": under[1], "contract_id": claim[2],
                "lot": under[2], "contractor_siret": under[3], "beneficiary_id": claim[1],
                "siae_siret": claim[6], "mode": claim[4], "work_date": _DATE_TEXT.get(day) or _date_text(day),
                "hours": _HOURS_TEXT.get(hours) or hours_text(hours), "rule": rule, "rulebook_version": self.version,
                "submitted_at": at if at is not None and cause_id == cause else claim[9],
                "opens_source": False}

    def _credits(self, claim: Claim, parts, cause_id: str, cause_type: str, subject: str) -> list[dict]:
        under = self._credited_under(self.book.contracts[claim.contract_id])
        out = []
        for n, (hours, status, rule, reason) in enumerate(parts):
            part = subject if n == 0 else f"{subject}:part{n + 1}"
            out.append(self._entry(claim, entry_id(cause_id, "credit", part), "credit", hours, status, reason, rule,
                                   cause_id, cause_type, under, None))
        return out

    def _reverse(self, claim: Claim, cause_id: str, cause_type: str, subject: str = "") -> list[dict]:
        """Never an update: a new, opposite entry for each of the claim's standing entries."""
        return [self._entry(claim, entry_id(cause_id, "reversal", f"{subject}{standing}"), "reversal", -hours,
                            status, reason, REVERSAL, cause_id, cause_type, claim.credited, standing)
                for standing, (hours, status, _, reason) in zip(self._standing_ids(claim), claim.parts)]

    @staticmethod
    def _standing_ids(claim: Claim) -> tuple[str, ...]:
        """The ids of a claim's standing credits, as `_credits` made them for the event that made them."""
        by = claim.credited_by
        if type(by) is not str:
            return by or ()  # state written before 2026-12-04: the ids themselves
        subject = "" if by == claim.event_id else claim.event_id
        return tuple(entry_id(by, "credit", subject if n == 0 else f"{subject}:part{n + 1}")
                     for n in range(len(claim.parts)))

    def _withdraw(self, claim: Claim, cause_id: str, cause_type: str) -> list[dict]:
        """Reverse a claim and take it off its day and the person's training."""
        reversals = self._reverse(claim, cause_id, cause_type)
        person, day = claim.beneficiary_id, claim.work_date
        self.book.put_day(person, day, _day_value(tuple(i for i in self._on_day(person, day) if i != claim.event_id)))
        if claim.mode == TRAINING:
            self.book.put("training", claim.beneficiary_id,
                          tuple(i for i in self.book.training.get(claim.beneficiary_id, ()) if i != claim.event_id))
        self.book.put_record("claims", claim.event_id,
                             claim._replace(parts=(), credited_by=None, superseded_by=cause_id))
        return reversals

    def _original(self, event, raw: bytes, origin: str, original_id: str) -> Claim | Outcome:
        claim = self.book.claims.get(original_id)
        if claim is None and original_id in self.book.parked:
            # Its original waits for its own reference data: this waits for the original.
            return self._park(event, raw, origin, Reason.ORIGINAL_NOT_FOUND, f"event:{original_id}")
        if claim is None:
            return self._refuse(event, raw, origin, Reason.ORIGINAL_NOT_FOUND,
                                f"no recorded timesheet {original_id} (yet): post again later")
        if claim.beneficiary_id != event.beneficiary_id:
            return self._refuse(event, raw, origin, Reason.BENEFICIARY_MISMATCH,
                                f"timesheet {original_id} is not about beneficiary {event.beneficiary_id}")
        if claim.superseded_by is not None or not claim.parts:
            return self._refuse(event, raw, origin, Reason.ORIGINAL_SUPERSEDED,
                                f"timesheet {original_id} was already corrected or retracted"
                                + (f" by {claim.superseded_by}" if claim.superseded_by else ""))
        return claim

    def _correct(self, event, raw: bytes, origin: str) -> Outcome:
        claim = self._original(event, raw, origin, str(event.original_event_id))
        if isinstance(claim, Outcome):
            return claim
        contract_id = getattr(event, "contract_id", None)
        if event.type == "timesheet.corrected" and contract_id not in self.book.contracts:
            # Like a timesheet: its contract is reference data decided under its own key, maybe later.
            return self._park(event, raw, origin, Reason.UNKNOWN_CONTRACT, f"contract:{contract_id}")
        if contract_id is not None:
            holder = self.book.contracts.get(contract_id)
            if holder is None or holder.contractor_siret != self._contractor(claim):
                return self._refuse(event, raw, origin, Reason.TIMESHEET_NOT_YOURS,
                                    f"timesheet {event.original_event_id} was declared by another contractor than "
                                    f"the holder of contract {contract_id}")
        cause_id = str(event.event_id)
        entries = self._withdraw(claim, cause_id, event.type)
        days, training = {claim.work_date}, claim.mode == TRAINING
        new = None
        if event.type == "timesheet.corrected":
            new = self._claim(sheet_of(event))
            self._index(new)
            days.add(new.work_date)
            training = training or new.mode == TRAINING
        entries += self._settle(claim.beneficiary_id, cause_id, event.type, days, training, first=cause_id, new=new)
        return self._accepted(event, origin, entries)

    def _resolve(self, event, raw: bytes, origin: str) -> Outcome:
        claim = self._original(event, raw, origin, str(event.flagged_event_id))
        if isinstance(claim, Outcome):
            return claim
        refused = self._not_followed_by(event, raw, origin)
        if refused is not None:
            return refused
        if claim.status != FLAGGED and not self._in_a_resolved_conflict(claim):
            waiting = next((p.event_id for p in self.book.parked.values()
                            if p.beneficiary_id == claim.beneficiary_id and p.event_type.startswith("timesheet.")), None)
            if waiting is not None:
                # The claim that would flag it may be one that waits for its own reference data.
                return self._park(event, raw, origin, Reason.NOTHING_TO_RESOLVE, f"event:{waiting}")
            return self._refuse(event, raw, origin, Reason.NOTHING_TO_RESOLVE,
                                f"timesheet {event.flagged_event_id} is not flagged")
        self.book.put_record("claims", claim.event_id, claim._replace(resolution=event.decision.value))
        entries = self._settle(claim.beneficiary_id, str(event.event_id), event.type, {claim.work_date},
                               claim.mode == TRAINING, first=claim.event_id)
        # The decision is stored as a record of its own: one that changes no verdict (its conflict
        # already ended by the other claim's decision) makes no entry, and must still be counted.
        record = {**self._reference_record(event), "contract_id": claim.contract_id, "entries": len(entries)}
        return self._accepted(event, origin, entries, reference=record)

    def _in_a_resolved_conflict(self, claim: Claim) -> bool:
        """Another claim of the person's day carries a facilitator's decision: this one was in that
        conflict, and a decision on it still applies (recorded, it holds if the day changes again).
        Two decisions on one conflict ("refuse a", "count b") then give the same ledger in either
        order: refusing a first ends the conflict before b's decision arrives."""
        for other_id in self._on_day(claim.beneficiary_id, claim.work_date):
            other = self.book.claims.get(other_id) if other_id != claim.event_id else None
            if other is not None and other.resolution is not None:
                return True
        return False

    def _reevaluate(self, enrolment) -> list[dict]:
        """A changed enrolment (e.g. retroactive eligibility dates) re-evaluates the person's claims:
        each whose verdict changes is reversed and recorded again, as of this enrolment."""
        days = set()
        for day in self._days_worked(enrolment.beneficiary_id):
            for claim_id in self._on_day(enrolment.beneficiary_id, day):
                claim = self.book.claims.get(claim_id)
                if claim is None or not claim.parts:
                    continue
                days.add(claim.work_date)
                now = self._withheld(claim)
                if now != claim.withheld:
                    self.book.put_record("claims", claim.event_id, claim._replace(withheld=now))
        if not days:
            return []
        return self._settle(enrolment.beneficiary_id, str(enrolment.event_id), enrolment.type, days, training=True)

    # -- SIAE invoices ---------------------------------------------------------------------------

    def _invoice(self, event, raw: bytes, origin: str) -> Outcome:
        waiting = self._missing(event)
        if waiting is not None:
            return self._park(event, raw, origin, *waiting)
        return self._accepted(event, origin, self._invoice_entries(event))

    def _invoice_entries(self, invoice) -> list[dict]:
        contract = self.book.contracts[invoice.contract_id]
        on = invoice.period_end.toordinal()
        share = invoice.labour_share or self._param("labour_share", contract.contract_id, on)
        cost = self._param("hourly_cost_eur", contract.contract_id, on)
        inside = contract.start <= on and invoice.period_start.toordinal() <= contract.end
        event_id = str(invoice.event_id)
        return [{"record": "entry", "entry_id": entry_id(event_id, "credit"), "kind": "credit",
                 "status": COUNTED if inside else NOT_COUNTED,
                 "reason": "" if inside else Withheld.OUTSIDE_CONTRACT_PERIOD.value,
                 "source_event_id": event_id, "source_event_type": invoice.type, "reverses_entry_id": None,
                 "programme_id": contract.programme_id, "operation_id": contract.operation_id,
                 "contract_id": contract.contract_id, "lot": contract.lot,
                 "contractor_siret": contract.contractor_siret, "beneficiary_id": "",
                 "siae_siret": invoice.siae_siret, "mode": "siae_subcontract",
                 "work_date": invoice.period_end.isoformat(),
                 "hours": hours_text(hundredths(invoice_hours(invoice.amount_eur, share, cost))),
                 "rule": SIAE_INVOICE_CONVERSION, "rulebook_version": self.version,
                 "submitted_at": stamp(invoice.submitted_at)}]

    # -- pending ---------------------------------------------------------------------------------

    def _pending_record(self, parked: Parked, state: str, reason: str | None = None) -> dict:
        return {"record": "pending", "event_id": parked.event_id, "event_type": parked.event_type, "state": state,
                "reason": reason or parked.reason, "waiting_for": parked.waiting_for,
                "beneficiary_id": parked.beneficiary_id, "contract_id": parked.contract_id,
                "parked_at": _STAMPS.get(parked.parked_at) or _stamp_at(parked.parked_at),
                "expires_at": _STAMPS.get(parked.expires_at) or _stamp_at(parked.expires_at)}

    def _park(self, event, raw: bytes, origin: str, reason: Reason, waiting_for: str) -> Outcome:
        now = max(self.now, self._posted_at or 0.0)
        contract_id = getattr(event, "contract_id", "") or ""
        contract = self.book.contracts.get(contract_id)
        timeout = self._timeout(now, contract.programme_id if contract else None, contract_id)
        seq = int(self.book.clock.get("parked", 0)) + 1
        self.book.put("clock", "parked", seq)
        parked = Parked(origin, raw.decode(), str(event.event_id), event.type, reason.value, waiting_for,
                        getattr(event, "beneficiary_id", ""), contract_id, now, now + float(timeout) * 3600,
                        seq)
        self.book.put("parked", parked.event_id, parked)
        self._index_parked(parked)
        if self._known(waiting_for):  # cannot happen today; kept so that a release never misses one
            self._arrived.add(waiting_for)
        return Outcome(origin, parked.event_id, event.type, "pending", pending=self._pending_record(parked, "pending"))

    def _timeout(self, now: float, programme_id: str | None, contract_id: str) -> Decimal:
        """The rulebook's pending_timeout_hours at stream time `now`, kept per contract and day: the
        timesheets parked together (a message's, a late enrolment's person's) ask for the same."""
        key = (programme_id, contract_id, int(now // 86400))  # the UTC day: its date only on a miss
        timeout = self._timeouts.get(key)
        if timeout is None:
            day = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
            timeout = remember(self._timeouts, key,
                               self.rulebook.param("pending_timeout_hours", day, programme_id, contract_id))
        return timeout

    def _due(self) -> bool:
        deadlines = self._deadlines
        now = self.now if deadlines else None
        while deadlines:
            expires_at, event_id = deadlines[0]
            if expires_at > now:  # the earliest deadline, standing or not: nothing expires yet
                return False
            parked = self.book.parked.get(event_id)
            if parked is None or parked.expires_at != expires_at:
                heapq.heappop(deadlines)  # released or parked again meanwhile
                continue
            return True
        return False

    def release(self) -> list[Outcome]:
        """Pending timesheets whose reference data arrived, or whose time ran out, in delivery order."""
        ids: set[str] = set()
        for reference in self._arrived:
            ids |= self._awaiting.get(reference, set())
        self._arrived = set()
        now = self.now
        while self._deadlines and self._deadlines[0][0] <= now:
            _, event_id = heapq.heappop(self._deadlines)
            if event_id in self.book.parked:
                ids.add(event_id)
        outcomes = []
        for parked in sorted((self.book.parked[i] for i in ids if i in self.book.parked),
                             key=lambda p: (p.parked_at, p.seq)):
            outcomes += self._release(parked, now)
        if self._arrived:  # what was released may let what followed it go on (a correction)
            outcomes += self.release()
        return outcomes

    def _still_waiting(self, event) -> tuple[Reason, str] | None:
        """What a parked event still waits for, or None when it can be decided."""
        original = getattr(event, "original_event_id", None) or getattr(event, "flagged_event_id", None)
        if original is not None:
            if str(original) in self.book.parked:
                return Reason.ORIGINAL_NOT_FOUND, f"event:{original}"
            if event.type != "timesheet.corrected":
                return None
        return self._missing(event)

    def _release(self, parked: Parked, now: float) -> list[Outcome]:
        raw = parked.raw.encode()
        # A late enrolment releases its person's parked days at once (~50,000 in the Grand Paris
        # bench): the common timesheet is read and decided as on arrival, not through the event
        # contract's validation and the general path (120 -> 53 CPU-µs, docs/scaling.md).
        event = _event_of(raw)
        waiting = self._still_waiting(event)
        if waiting is None:
            self._unpark(parked)
            self._cause = (parked.event_id, _submitted(event))
            record = self._pending_record(parked, "resolved")
            if event.type in ("timesheet.corrected", "timesheet.retracted"):  # its original may have changed
                outcome = self._correct(event, raw, parked.origin)
            elif event.type == "claim.resolved":
                outcome = self._resolve(event, raw, parked.origin)
            elif event.type == "siae.invoice":
                outcome = self._accepted(event, parked.origin, self._invoice_entries(event))
            else:
                sheet = event if type(event) is Sheet else sheet_of(event)
                outcome = (self._first_of_its_day(sheet, parked.origin)
                           or self._accepted(event, parked.origin, self._record(sheet, parked.event_id, event.type)))
            if outcome.state == "pending":  # parked again (a correction's contract): still waiting
                return [outcome]
        elif now >= parked.expires_at:
            self._unpark(parked)
            record = self._pending_record(parked, "expired", waiting[0].value)
            outcome = rejected(parked.origin, raw, waiting[0],
                               f"{waiting[1].replace(':', ' ')} still unknown after waiting until "
                               f"{dt.datetime.fromtimestamp(parked.expires_at, dt.timezone.utc).isoformat()}",
                               parked.event_id, parked.event_type)
        else:
            if parked.waiting_for != waiting[1]:  # its contract came, its enrolment has not: wait for that
                self._unpark(parked)
                parked = parked._replace(reason=waiting[0].value, waiting_for=waiting[1])
                self.book.put("parked", parked.event_id, parked)
                self._index_parked(parked)
            return []
        outcome.pending = record
        retryable = outcome.rejection is not None and outcome.rejection["reason"] in RETRYABLE
        self.book.put_record("memos", parked.event_id,
                             Memo.of(parked.origin, Memo(self.book.memos[parked.event_id]).digest, retryable))
        return [outcome]


class BooksUnavailable(RuntimeError):
    """The state behind the desk failed (a store, not the event): retried, never a rejection."""


def history_lines(value: bytes) -> list[bytes] | None:
    """A message carries one event (a JSON object) or several (a JSON array of objects): the items
    of an array encoded one by one, or None for a single event (validated as it is). Bytes that are
    not a JSON array are left to the validator, which names the error."""
    if not value.lstrip().startswith(b"["):
        return None
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    return [orjson.dumps(item) for item in items]

