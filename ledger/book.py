"""The desk's state on plain data, and its changes as one delta per checkpoint.

Every value is a tuple (a NamedTuple) of strings and numbers: cheap to build, and invisible to the
garbage collector once it has seen it hold only atomic values, which matters when a whole programme
(millions of claims) is held in memory. Each map remembers which keys changed since the last
`take_delta()`; a delta is the last value of each changed key (None: removed), so applying the
deltas of a history in order, or the same delta twice, gives the same state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class Memo(str):
    """An event id's first delivery: where, of what content, and whether the id may be posted again.

    One string ("ORIGIN DIGEST r|-"), not a tuple of three: a programme remembers millions of ids,
    and a tuple with its two strings costs twice the memory of one string."""

    __slots__ = ()

    @classmethod
    def of(cls, origin: str, digest: str, retryable: bool = False) -> Memo:
        return cls(f"{origin} {digest} {'r' if retryable else '-'}")

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
    entry_ids: tuple[str, ...]  # the standing credits' ids, one per part
    credited: tuple[str, str, str, str] | None  # (programme, operation, lot, contractor) of the credits
    superseded_by: str | None = None
    resolution: str | None = None  # a facilitator's "count" or "refuse"

    @property
    def status(self) -> str:
        statuses = {p[1] for p in self.parts}
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
    "memos": Memo,
    "contracts": lambda v: Contract(*v),
    "enrolments": lambda v: Enrolment(*v),
    "programmes": lambda v: v,
    "claims": lambda v: Claim(*_tuples(v)),
    "days": tuple,
    "training": tuple,
    "people": tuple,
    "parked": lambda v: Parked(*v),
    "clock": lambda v: v,
}
MAPS = tuple(_DECODE)


class Book:
    """One state's maps (a partition's people, or a whole history in a replay)."""

    def __init__(self) -> None:
        self.memos: dict[str, Memo] = {}
        self.contracts: dict[str, Contract] = {}
        self.enrolments: dict[str, Enrolment] = {}
        self.programmes: dict[str, str | None] = {}  # programme -> its buyer
        self.claims: dict[str, Claim] = {}
        self.days: dict[str, tuple[str, ...]] = {}  # "beneficiary|ordinal" -> claims that day
        self.training: dict[str, tuple[str, ...]] = {}  # beneficiary -> standing training claims
        self.people: dict[str, tuple[int, ...]] = {}  # beneficiary -> the days (ordinals) it has claims on
        self.parked: dict[str, Parked] = {}
        self.clock: dict[str, float] = {}  # "now": stream time
        self.dirty: dict[str, set[str]] = {name: set() for name in MAPS}

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
        """The changes since the last call, as JSON (None when nothing changed)."""
        if not self.changed:
            return None
        delta = {}
        for name, keys in self.dirty.items():
            if keys:
                values = getattr(self, name)
                delta[name] = {key: values.get(key) for key in keys}
                keys.clear()
        return orjson.dumps(delta, default=tuple)  # NamedTuples as arrays

    def take_deltas(self, max_bytes: int) -> list[bytes]:
        """The changes since the last call, as JSON records of at most about `max_bytes` each (a
        second's changes of a busy partition can pass a Kafka message's limit). Applied in order,
        they give what one delta would."""
        delta = self.take_delta()
        if delta is None:
            return []
        if len(delta) <= max_bytes:
            return [delta]
        chunks, chunk, size = [], {}, 2
        for name, changes in orjson.loads(delta).items():
            for key, value in changes.items():
                item = len(orjson.dumps({key: value})) + len(name) + 8
                if chunk and size + item > max_bytes:
                    chunks.append(orjson.dumps(chunk))
                    chunk, size = {}, 2
                chunk.setdefault(name, {})[key] = value
                size += item
        if chunk:
            chunks.append(orjson.dumps(chunk))
        return chunks

    def apply(self, delta: bytes) -> None:
        for name, changes in orjson.loads(delta).items():
            values, decode = getattr(self, name), _DECODE[name]
            for key, value in changes.items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = decode(value)

    def snapshot(self) -> bytes:
        """The whole state as one delta (applied to an empty book, it gives this one)."""
        return orjson.dumps({name: getattr(self, name) for name in MAPS}, default=tuple)

    def size(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in MAPS}
