"""The rejection topic's record, as the stream layer writes it: a rejection and where its event
was posted (the position is the stream's, not the domain's: ledger.desk names a delivery by an
opaque origin). The desk builds rejections as dicts of these fields; these models document them
and read them back (tests, tools).
"""

from __future__ import annotations

from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict

from ledger.entries import LEDGER_NAMESPACE, Reason


class Position(BaseModel):
    """Where an event sat in the intake log: its delivery identity (the event_id is its content's)."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    index: int = 0  # position inside a message that carries several events

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}#{self.index}"


class Rejection(BaseModel):
    """An event the ledger cannot count, kept with its original payload and a reason."""

    model_config = ConfigDict(frozen=True)

    rejection_id: UUID
    reason: Reason
    detail: str
    event_id: str | None
    event_type: str | None
    position: Position
    payload: str
    payload_truncated: bool = False


def rejection_id(position: Position) -> UUID:
    # A rejection is identified by the delivery it answers: the same malformed bytes posted twice
    # are two rejections, the same delivery processed twice is one.
    return uuid5(LEDGER_NAMESPACE, f"rejection:{position}")
