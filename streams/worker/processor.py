"""One routed partition's desk: what its messages decide, and what they make the worker send.

The Faust agent, `ledger replay`, the benchmark and the unit-test kit all drive this class: it
takes a routed message (a batch of events, reference data learned from another partition, or a
tick) and returns the records to send. It holds no Kafka client: sending, committing and
checkpointing are the caller's, so the same decisions come out however it is driven.
"""

from __future__ import annotations

from ledger.book import Book
from ledger.desk import Desk, Outcome
from ledger.rulebook import Rulebook
from streams.worker.routing import EVENTS, LEARN, TICK, lines, pack, parse_origin


class Outputs:
    """What a routed message makes the worker send. A plain class (processor.pxd makes it an
    extension type when compiled): `add` runs for every event."""

    __slots__ = ("outcomes", "records", "rejections", "learned")

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.records: list[dict] = []  # for the ledger topic: entries, pending, reference
        self.rejections: list[dict] = []
        self.learned = bytearray()  # reference data for the other partitions

    def extend(self, other: Outputs) -> None:
        self.outcomes += other.outcomes
        self.records += other.records
        self.rejections += other.rejections
        self.learned += other.learned

    def add(self, outcomes: list[Outcome]) -> None:
        self.outcomes += outcomes
        records = self.records
        for o in outcomes:
            if o.entries:
                records += o.entries
            if o.pending is not None:
                records.append(o.pending)
            if o.reference is not None:
                records.append(o.reference)
            if o.rejection is not None:
                self.rejections.append({**o.rejection, "position": parse_origin(o.origin)})
            if o.learned is not None:
                self.learned += pack(o.origin, None, o.learned.encode())


class PartitionProcessor:
    """Decides the messages of one routed partition, in order, against its Book.

    Stream time is a watermark: a routed partition takes events from every intake partition, each
    with its own backlog, so its time is the earliest of the latest times seen from each of the
    `sources` intake partitions (their events' timestamps and their ticks). A timesheet waiting for
    an enrolment still queued on another intake partition cannot expire because this one ran ahead.
    """

    def __init__(self, rulebook: Rulebook, book: Book | None = None, sources: int = 1) -> None:
        self.book = book if book is not None else Book()
        self.desk = Desk(self.book, rulebook)
        self.sources = sources
        self._latest = {int(k[4:]): v for k, v in self.book.clock.items() if k.startswith("src:")}

    def _time(self, source: int, at: float | None) -> float | None:
        """The watermark once `source` is seen at `at` (None: not advanced)."""
        if at is None or at <= self._latest.get(source, 0.0):
            return None
        self._latest[source] = at
        self.book.put("clock", f"src:{source}", at)
        if len(self._latest) < self.sources:
            return None
        return min(self._latest.values())

    def process(self, kind: bytes, value: bytes, timestamp: float | None, keys_unique: bool = False) -> Outputs:
        """`keys_unique`: the batch's events were written back from their parsed objects, so none
        repeats a key (routing.Routed.keys_unique)."""
        out = Outputs()
        if kind == EVENTS:
            desk = self.desk
            # A routed message's events are most often one intake message's: the same source and
            # time, which the watermark has just taken (_time again would be None).
            last_stamp, last_source = _NEVER, ""
            for where, stamp, raw in lines(value):
                if stamp == last_stamp and where.startswith(last_source):
                    now = None
                else:
                    last_stamp, last_source = stamp, _source_head(where)
                    now = self._time(source_of(where), stamp)
                out.add(desk.decide(raw, where, now, stamp, keys_unique))
        elif kind == LEARN:
            for _, _, raw in lines(value):
                out.add(self.desk.learn(raw))
        elif kind == TICK:  # "SOURCE:MS": an intake partition's clock, routed to every partition
            source, _, at = value.decode().partition(":")
            now = self._time(int(source), int(at) / 1000)
            if now is not None:
                out.add(self.desk.tick(now))
        else:
            raise ValueError(f"unknown routed message kind {kind!r}")
        return out


_NEVER = object()


def _source_head(origin: str) -> str:
    """`topic/partition@` of an origin `topic/partition@offset#index`."""
    return origin[:origin.index("@", origin.rindex("/")) + 1]


def source_of(origin: str) -> int:
    """The intake partition of an origin `topic/partition@offset#index`."""
    head = _source_head(origin)
    return int(head[head.rindex("/") + 1:-1])
