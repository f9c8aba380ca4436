"""The desk's state on plain data, and its changes as one delta per checkpoint.

Every value is a tuple (a NamedTuple) of strings and numbers: cheap to build, and invisible to the
garbage collector once it has seen it hold only atomic values, which matters when a whole programme
(millions of claims) is held in memory. Each map remembers which keys changed since the last
`take_delta()`; a delta is the last value of each changed key (None: removed), so applying the
deltas of a history in order, or the same delta twice, gives the same state.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, NamedTuple

import orjson


class Memo(str):
    """An event id's first delivery: where, of what content, and whether the id may be posted again.

    The book keeps it as one plain string ("ORIGIN DIGEST r|-", made by `Memo.of`), not a tuple of
    three: a programme remembers millions of ids, and a tuple with its two strings costs twice the
    memory of one string. Nor an instance of this class: a str subclass is not stored compact (146
    bytes for a 50-character memo, 98 as a plain string). `Memo(text)` reads one."""

    __slots__ = ()

    @staticmethod
    def of(origin: str, digest: str, retryable: bool = False) -> str:
        return f"{origin} {digest} {'r' if retryable else '-'}"

    @property
    def origin(self) -> str:
        return self.rsplit(" ", 2)[0]

    @property
    def digest(self) -> str:
        return self.rsplit(" ", 2)[1]

    @property
    def retryable(self) -> bool:
        return self.endswith(" r")


class Contract(NamedTuple):
    contract_id: str
    programme_id: str
    operation_id: str
    lot: str
    contractor_siret: str
    start: int  # date ordinals
    end: int
    buyer_id: str | None


class Enrolment(NamedTuple):
    beneficiary_id: str
    facilitator_id: str
    eligible_from: int  # date ordinals; eligible_until with the rulebook's window applied
    eligible_until: int


# A part of a verdict: (hours in hundredths, status, rule, reason).
Part = tuple[int, str, str, str]


class Claim(NamedTuple):
    """One timesheet's hours as they stand on the ledger: what to reverse, what to evaluate again."""

    event_id: str
    beneficiary_id: str
    contract_id: str
    work_date: int  # ordinal
    mode: str
    hours: int  # hundredths, as declared
    siae_siret: str | None
    hire_type: str | None
    hire_date: int | None
    submitted_at: str  # as recorded on entries
    # (rule, reason) when the timesheet's own rules keep all its hours from counting.
    withheld: tuple[str, str] | None
    parts: tuple[Part, ...]  # the standing credits' verdict; () once reversed
    # The event whose credits stand (their ids derive from it and the parts: Desk._standing_ids),
    # or None; in state written before 2026-12-04, the tuple of their ids. An id was 133 bytes a
    # claim; the event is most often the claim's own, one string already held.
    credited_by: str | tuple[str, ...] | None
    credited: tuple[str, str, str, str] | None  # (programme, operation, lot, contractor) of the credits
    superseded_by: str | None = None
    resolution: str | None = None  # a facilitator's "count" or "refuse"

    @property
    def status(self) -> str:
        statuses = {status for _, status, _, _ in self.parts}
        for status in ("flagged", "counted"):
            if status in statuses:
                return status
        return "not_counted"

    @property
    def weighs_on_its_day(self) -> bool:
        return self.withheld is None and self.resolution != "refuse"


class Parked(NamedTuple):
    """A timesheet (or invoice, or correction) waiting for the reference data it names."""

    origin: str
    raw: str
    event_id: str
    event_type: str
    reason: str
    waiting_for: str  # "contract:<id>" or "beneficiary:<id>"
    beneficiary_id: str
    contract_id: str
    parked_at: float  # stream time, epoch seconds
    expires_at: float
    seq: int = 0  # the order it was parked in: releases at one stream time follow it


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# How each map's values come back from JSON.
_DECODE = {
    "memos": str,
    "contracts": lambda v: Contract(*v),
    "enrolments": lambda v: Enrolment(*v),
    "programmes": lambda v: v,
    "claims": lambda v: Claim(*_tuples(v)),
    "days": lambda v: v if isinstance(v, str) else tuple(v),
    "training": tuple,
    "people": tuple,
    "parked": lambda v: Parked(*v),
    "clock": lambda v: v,
}
MAPS = tuple(_DECODE)


class Book:
    """One state's maps (the people one desk decides for, or a whole history in a replay)."""

    def __init__(self) -> None:
        self.memos: dict[str, str] = {}  # Memo.of texts
        self.contracts: dict[str, Contract] = {}
        self.enrolments: dict[str, Enrolment] = {}
        self.programmes: dict[str, str | None] = {}  # programme -> its buyer
        self.claims: dict[str, Claim] = {}
        # "beneficiary|ordinal" -> the claims of that day: the id alone when it is the only one
        self.days: dict[str, str | tuple[str, ...]] = {}
        self.training: dict[str, tuple[str, ...]] = {}  # beneficiary -> standing training claims
        self.people: dict[str, tuple[int, ...]] = {}  # beneficiary -> (first, last) day (ordinals) of its claims
        self.parked: dict[str, Parked] = {}
        self.clock: dict[str, float] = {}  # "now": stream time
        self.dirty: dict[str, set[str]] = {name: set() for name in MAPS}
        self._widths: dict[str, int] = {}  # bytes per changed key of each map's last delta record

    def put(self, name: str, key: str, value: Any) -> None:
        getattr(self, name)[key] = value
        self.dirty[name].add(key)

    def drop(self, name: str, key: str) -> None:
        getattr(self, name).pop(key, None)
        self.dirty[name].add(key)

    @property
    def changed(self) -> bool:
        return any(self.dirty.values())

    def take_delta(self) -> bytes | None:
        """The changes since the last call, as one JSON record (None when nothing changed)."""
        deltas = self.take_deltas(max_bytes=1 << 62)
        return deltas[0] if deltas else None

    def take_deltas(self, max_bytes: int) -> list[bytes]:
        """The changes since the last call, as JSON records of at most `max_bytes` each (the changes
        of a busy second can pass what one record may hold; a key whose value alone is larger is a
        record of its own). Each changed key is in exactly one record, so applied in any
        order they give what one delta would."""
        limit = _fragment_limit(max_bytes)
        fragments = []
        for name, keys in self.dirty.items():
            if keys:
                values = getattr(self, name)
                fragments += [(name, blob) for blob in self._fragments(name, {k: values.get(k) for k in keys}, limit)]
                keys.clear()
        # Joined into records as they fit: a record's members are fragments of distinct maps.
        records, members, names, size = [], [], set(), 2
        for name, blob in fragments:
            member = b'"' + name.encode() + b'":' + blob
            if members and (size + len(member) + 1 > max_bytes or name in names):
                records.append(b"{" + b",".join(members) + b"}")
                members, names, size = [], set(), 2
            members.append(member)
            names.add(name)
            size += len(member) + 1
        if members:
            records.append(b"{" + b",".join(members) + b"}")
        return records

    def _fragments(self, name: str, changes: dict, limit: int) -> list[bytes]:
        """One map's changes as JSON objects of at most `limit` bytes, each change written once as a
        rule (re-reading a whole delta to measure each key alone cost 12 % of the worker's CPU once a
        second's changes passed the limit: docs/scaling.md). A map's values being alike in size, they are
        cut by count, by the width of the map's last fragments, and a part still too large again."""
        width = self._widths.get(name)
        step = max(1, _cut(limit) // width) if width else len(changes)
        items = list(changes.items())
        pending = [items[i:i + step] for i in range(0, len(items), step)][::-1]
        out = []
        while pending:
            part = pending.pop()
            blob = orjson.dumps(dict(part), default=tuple)  # NamedTuples as arrays
            self._widths[name] = len(blob) // len(part) + 1
            if len(blob) <= limit or len(part) == 1:
                out.append(blob)
            else:
                step = max(1, _cut(len(part) * limit // len(blob)))
                pending += [part[i:i + step] for i in range(0, len(part), step)][::-1]
        return out

    def apply(self, delta: bytes) -> None:
        for name, changes in orjson.loads(delta).items():
            values, decode = getattr(self, name), _DECODE[name]
            for key, value in changes.items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = decode(value)

    def snapshot_records(self, max_bytes: int) -> Iterator[bytes]:
        """The whole state as records of at most `max_bytes` (a key too large alone is a record of
        its own), with the changes not taken yet, removals included. Applied to an empty book they
        give this one; applied after the history before them they change nothing: so a restore may
        start at a snapshot instead of at the beginning of the history (streams/worker/state.py).
        Generated a part at a time, so that the state is never copied whole (whole copies of four
        books at once added 800 MB to the worker's peak at the Grand Paris size): the book must not
        change until the last record is taken."""
        limit = _fragment_limit(max_bytes)
        for name in MAPS:
            values, label = getattr(self, name), b'{"' + name.encode() + b'":'
            part = dict.fromkeys(k for k in self.dirty[name] if k not in values)  # removed
            items = iter(values.items())
            while True:
                step = max(1, _cut(limit) // self._widths.get(name, _FIRST_WIDTH))
                part.update(islice(items, max(0, step - len(part))))
                if not part:
                    break
                for blob in self._fragments(name, part, limit):
                    yield label + blob + b"}"
                part = {}
            self.dirty[name].clear()

    def snapshot(self) -> bytes:
        """The whole state as one record, leaving the changes marked (applied to an empty book, it
        gives this one)."""
        return orjson.dumps({name: getattr(self, name) for name in MAPS}, default=tuple)

    def size(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in MAPS}


_FIRST_WIDTH = 256  # bytes per value of a map whose width no record has measured yet


def _cut(n: int) -> int:
    """Three quarters of `n`: a part is cut to fill that much of its limit, by the width of the map's
    last values, so that values a little wider than those still fit without a second cut."""
    return n * 3 // 4


def _fragment_limit(max_bytes: int) -> int:
    """The most bytes a map's fragment may take in a record of `max_bytes`."""
    return max(1, max_bytes - len(b'{"":}') - max(map(len, MAPS)))
