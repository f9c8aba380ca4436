"""A ledger in one process for the unit tests: the worker's PartitionProcessor on one partition.

Every message gets the next offset and a stream time the test chooses, and goes through the same
routing and processor as in the worker; the kit keeps every decision, the final state of each
delivery (a parked timesheet is decided again when it is released or expires) and the entries as
the store keeps them (one row per entry id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from ledger.desk import Outcome
from ledger.entries import EntryKind, EntryStatus, LedgerEntry, PendingRecord
from streams.worker.records import Position, Rejection
from ledger.rulebook import Rulebook
from streams.worker.processor import PartitionProcessor
from streams.worker.routing import EVENTS, TICK, route

T0 = dt.datetime(2024, 6, 3, 18, 0, tzinfo=dt.timezone.utc)


def encode(item: dict | list | str | bytes) -> bytes:
    if isinstance(item, bytes):
        return item
    return (item if isinstance(item, str) else json.dumps(item)).encode()


@dataclass(frozen=True)
class Decision:
    """An outcome as the tests read it: models for its entries, rejection and pending record."""

    position: Position
    event: str | None  # the type of an accepted (or parked) event
    entries: tuple[LedgerEntry, ...]
    rejection: Rejection | None
    pending: PendingRecord | None
    state: str
    record: dict | None = None  # the event's own stored record: reference data, a facilitator's decision
    event_id: str | None = None

    @classmethod
    def of(cls, o: Outcome) -> Decision:
        # What intake_accounting relies on: an outcome's entries are its own event's, and exactly
        # the first is marked as the one that accounts for the event.
        assert all(e["source_event_id"] == o.event_id for e in o.entries), o
        marks = [e["opens_source"] for e in o.entries]
        assert marks == ([True] + [False] * (len(marks) - 1) if marks else []), o
        position = Position(**_position(o.origin))
        rejection = Rejection(**o.rejection, position=position) if o.rejection is not None else None
        return cls(position, o.event_type if o.state != "rejected" else None,
                   tuple(LedgerEntry(**e) for e in o.entries), rejection,
                   PendingRecord(**o.pending) if o.pending is not None else None, o.state, o.reference,
                   o.event_id)

    @property
    def stored(self) -> bool:
        """Whether the store can count this accepted delivery (intake_accounting): a row of its own
        (reference data, a decision) or an entry it is the source of."""
        return self.record is not None or any(str(e.source_event_id) == self.event_id for e in self.entries)

    # As Outcome reads its state (Outcome's own properties, compiled, apply to Outcomes only).
    accepted = property(lambda self: self.state == "accepted")
    parked = property(lambda self: self.state == "pending")


def _position(origin: str) -> dict:
    from streams.worker.routing import parse_origin
    return parse_origin(origin)


class Ledger:
    def __init__(self, rulebook: Rulebook | None = None, partition: int = 0, topic: str = "intake",
                 now: dt.datetime = T0) -> None:
        self.rulebook = rulebook or Rulebook()
        self.processor = PartitionProcessor(self.rulebook)
        self.book = self.processor.book
        self.partition, self.topic = partition, topic
        self.offset = 0
        self.ticks = 0
        self.now = now
        self.decisions: list[Decision] = []
        self.final: dict[Position, Decision] = {}  # the last word on each delivery
        self._rows: dict = {}  # entry_id -> entry, the first time it is written

    def at(self, offset: int, index: int = 0) -> Position:
        return Position(topic=self.topic, partition=self.partition, offset=offset, index=index)

    def post(self, item, *, offset: int | None = None, now: dt.datetime | None = None) -> list[Decision]:
        """Deliver one message (an event, an array of events, or raw text); its decisions, own first."""
        if offset is None:
            offset, self.offset = self.offset, self.offset + 1
        if now is not None:
            self.now = now
        routed = route(encode(item), self.topic, self.partition, offset, int(self.now.timestamp() * 1000), 1)
        out = []
        for batch in routed.values():  # with the routing's word on repeated keys, as the worker sends it
            out += self._keep(self.processor.process(EVENTS, bytes(batch), None, routed.keys_unique).outcomes)
        return out

    @property
    def posted(self) -> int:
        return self.offset - self.ticks

    def post_all(self, items, **kw) -> list[Decision]:
        return [d for item in items for d in self.post(item, **kw)]

    def one(self, item, **kw) -> Decision:
        """Deliver one event; its own decision (released ones are kept too)."""
        return self.post(item, **kw)[0]

    def tick(self, now: dt.datetime) -> list[Decision]:
        """A tick message: it has an offset of its own, like any intake message."""
        self.now = now
        self.offset += 1
        self.ticks += 1
        tick = f"{self.partition}:{int(now.timestamp() * 1000)}".encode()
        return self._keep(self.processor.process(TICK, tick, None).outcomes)

    def later(self, **delta) -> list[Decision]:
        return self.tick(self.now + dt.timedelta(**delta))

    def _keep(self, outcomes: list[Outcome]) -> list[Decision]:
        decisions = [Decision.of(o) for o in outcomes if o.state != "repeated"]
        self.decisions += decisions
        for d in decisions:
            self.final[d.position] = d
            for e in d.entries:
                self._rows.setdefault(e.entry_id, e)
        return decisions

    def desk_reindex(self) -> None:
        self.processor.desk.reindex()

    def parked(self) -> list:
        return list(self.book.parked.values())

    def training(self, beneficiary_id: str) -> tuple:
        return self.book.training.get(beneficiary_id, ())

    # -- what the store would show ---------------------------------------------------------------

    @property
    def entries(self) -> list[LedgerEntry]:
        return list(self._rows.values())

    def entries_of(self, event: dict) -> list[LedgerEntry]:
        """Entries whose source is this event (its credits, or the reversals it caused)."""
        return [e for e in self.entries if str(e.source_event_id) == event["event_id"]]

    def totals(self) -> dict[tuple[str, str], Decimal]:
        """Net hours per (contract, status), zero totals left out."""
        out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for e in self.entries:
            out[(e.contract_id, e.status.value)] += e.hours
        return {k: v for k, v in out.items() if v != 0}

    def counted(self, contract_id: str | None = None) -> Decimal:
        return sum((e.hours for e in self._rows.values() if e.status is EntryStatus.COUNTED
                    and (contract_id is None or e.contract_id == contract_id)), Decimal(0))

    def net(self, status: str, reason: str | None = None) -> Decimal:
        return sum((e.hours for e in self.entries if e.status.value == status
                    and (reason is None or e.reason == reason)), Decimal(0))

    def standing(self) -> list[LedgerEntry]:
        """Credits not reversed (yet)."""
        reversed_ids = {e.reverses_entry_id for e in self.entries if e.kind is EntryKind.REVERSAL}
        return [e for e in self.entries if e.kind is EntryKind.CREDIT and e.entry_id not in reversed_ids]

    def accounting(self) -> Counter:
        """posted = accepted + rejected + pending, delivery by delivery (its last decision). An
        accepted delivery that leaves the store nothing to count it by fails here: the store's
        accounting would miss it."""
        out = Counter()
        for d in self.final.values():
            assert not d.accepted or d.stored, f"accepted, but no row the store counts it by: {d}"
            out["pending" if d.parked else "accepted" if d.accepted else "rejected"] += 1
        return out

    def rejections(self) -> Counter:
        return Counter(d.rejection.reason.value for d in self.final.values() if d.rejection is not None)
