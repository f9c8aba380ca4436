"""Timesheets parked as pending, and the index that finds the ones a release must look at.

At the size of a whole programme tens of thousands of timesheets can wait at once (their
beneficiary enrolled late, their contract registered through another worker). Every time reference
data grows, a partition's pending timesheets are looked at again: reading all of them each time
cost more than deciding the events (55 % of a worker's samples at 1.76 million events). The index
keeps them by the reference they wait for and by deadline, so a release reads only the references
awaited and the deadlines passed.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ledger.entries import PendingRecord, Position


class Parked(BaseModel):
    model_config = ConfigDict(frozen=True)

    position: Position
    raw: str
    record: PendingRecord
    # The offset of the message that released it (its record then says how). A released timesheet
    # stays here until that message's outputs are known durable (its offset committed): a worker
    # killed before sending them sends them again when it restarts from the last commit.
    released_by: int | None = None

    @property
    def waiting(self) -> bool:
        return self.released_by is None


def _in_order(parked: Parked) -> tuple[int, int]:
    return parked.position.offset, parked.position.index


@dataclass
class PendingTimesheets:
    """One partition's parked timesheets (waiting, or released and not yet committed), indexed."""

    _parked: dict[UUID, Parked] = field(default_factory=dict)
    _awaiting: dict[str, set[UUID]] = field(default_factory=dict)  # waiting_for -> ids still waiting
    _released: set[UUID] = field(default_factory=set)
    # (expires_at, id) of waiting timesheets; an entry whose timesheet was released, removed or
    # parked again with another deadline is dropped when it comes to the top.
    _deadlines: list[tuple[dt.datetime, UUID]] = field(default_factory=list)

    @classmethod
    def of(cls, parked: Iterable[Parked]) -> PendingTimesheets:
        index = cls()
        for p in parked:
            index.put(p)
        return index

    def __len__(self) -> int:
        return len(self._parked)

    def put(self, parked: Parked) -> None:
        event_id = parked.record.event_id
        self.remove(event_id)
        self._parked[event_id] = parked
        if parked.waiting:
            self._awaiting.setdefault(parked.record.waiting_for, set()).add(event_id)
            heapq.heappush(self._deadlines, (parked.record.expires_at, event_id))
        else:
            self._released.add(event_id)

    def remove(self, event_id: UUID) -> None:
        parked = self._parked.pop(event_id, None)
        if parked is None:
            return
        if parked.waiting:
            waiting = self._awaiting[parked.record.waiting_for]
            waiting.discard(event_id)
            if not waiting:
                del self._awaiting[parked.record.waiting_for]
        else:
            self._released.discard(event_id)

    def due(self, now: dt.datetime | None, arrived: Callable[[str], bool]) -> list[Parked]:
        """The waiting timesheets whose reference may have arrived or whose deadline passed, in
        the order they were delivered."""
        ids = set()
        for reference, waiting in self._awaiting.items():
            if arrived(reference):
                ids |= waiting
        if now is not None:
            # Taken off the heap and put back: those still waiting after the release stay due.
            passed = []
            while self._deadlines and self._deadlines[0][0] <= now:
                passed.append(heapq.heappop(self._deadlines))
            for expires_at, event_id in passed:
                if self._is_waiting(event_id, expires_at):
                    ids.add(event_id)
                    heapq.heappush(self._deadlines, (expires_at, event_id))
        return sorted((self._parked[i] for i in ids), key=_in_order)

    def next_deadline(self) -> dt.datetime | None:
        while self._deadlines and not self._is_waiting(self._deadlines[0][1], self._deadlines[0][0]):
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def released(self) -> list[Parked]:
        """Released and kept until committed, in the order they were released."""
        return sorted((self._parked[i] for i in self._released),
                      key=lambda p: (p.released_by, *_in_order(p)))

    def _is_waiting(self, event_id: UUID, expires_at: dt.datetime) -> bool:
        parked = self._parked.get(event_id)
        return parked is not None and parked.waiting and parked.record.expires_at == expires_at
