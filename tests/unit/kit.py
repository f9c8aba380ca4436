"""A ledger in one process for the unit tests: a Desk over MemoryBooks on one partition.

Every message gets the next offset and a stream time the test chooses; the kit keeps every
decision, the final state of each delivery (a parked timesheet is decided again when it is released
or expires) and the entries as the store keeps them (one row per entry id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import Decimal

from ledger.entries import EntryKind, EntryStatus, LedgerEntry, Position
from ledger.intake import Decision, Desk, MemoryBooks, split_message
from ledger.rulebook import Rulebook

T0 = dt.datetime(2024, 6, 3, 18, 0, tzinfo=dt.timezone.utc)


def encode(item: dict | list | str | bytes) -> bytes:
    if isinstance(item, bytes):
        return item
    return (item if isinstance(item, str) else json.dumps(item)).encode()


class Ledger:
    def __init__(self, rulebook: Rulebook | None = None, partition: int = 0, topic: str = "intake",
                 now: dt.datetime = T0) -> None:
        self.books = MemoryBooks()
        self.rulebook = rulebook or Rulebook()
        self.desk = Desk(self.books, self.rulebook)
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
        raw = encode(item)
        items = split_message(raw)
        out = []
        for index, one in enumerate([raw] if items is None else items):
            out += self._keep(self.desk.decide(one, self.at(offset, index), self.now))
        self.desk.forget_released(self.partition, below=offset + 1)  # as if committed at once
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
        offset, self.offset = self.offset, self.offset + 1
        self.ticks += 1
        out = self._keep(self.desk.tick(self.partition, now, offset))
        self.desk.forget_released(self.partition, below=offset + 1)
        return out

    def later(self, **delta) -> list[Decision]:
        return self.tick(self.now + dt.timedelta(**delta))

    def _keep(self, decisions: list[Decision]) -> list[Decision]:
        self.decisions += decisions
        for d in decisions:
            self.final[d.position] = d
            for e in d.entries:
                self._rows.setdefault(e.entry_id, e)
        return decisions

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
        """posted = accepted + rejected + pending, delivery by delivery (its last decision)."""
        out = Counter()
        for d in self.final.values():
            out["pending" if d.parked else "accepted" if d.accepted else "rejected"] += 1
        return out

    def rejections(self) -> Counter:
        return Counter(d.rejection.reason.value for d in self.final.values() if d.rejection is not None)
