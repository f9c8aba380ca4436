"""The desk's state on plain data, and its changes as one delta per checkpoint.

Every value is a tuple (a NamedTuple) of strings and numbers: cheap to build, and invisible to the
garbage collector once it has seen it hold only atomic values, which matters when a whole programme
(millions of claims) is held in memory. Each map remembers which keys changed since the last
`take_delta()`; a delta is the last value of each changed key (None: removed), so applying the
deltas of a history in order, or the same delta twice, gives the same state.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, MutableMapping
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


# An event id's record once packed (see Records): the length of its memo (0: none), the memo, then
# its claim if it has one: the indices of the claim's values in the records' table of values
# (beneficiary, contract, mode, SIAE, hire type, withheld, parts, credited, credited_by,
# superseded_by, resolution), its day, hours and hire day, and its submission time as text.
_MEMO = struct.Struct("<H")
_PACKED = struct.Struct("<11I3i")
_OWN = 1  # credited_by is the claim's own event: the most common value, held by no table entry
# A memo "ORIGIN DIGEST r|-" packed: the index in the table of its text up to its last "/" (an
# origin's opaque prefix, the same for millions of deliveries), then the rest of its text.
_PREFIX = struct.Struct("<I")


class Records:
    """Every event id's memo and claim, most of them packed together in one bytes value (~100
    bytes for a timesheet's, where a memo string, a claim tuple and its submission time took ~320
    and two dict slots: docs/scaling.md, Memory). A programme holds millions of them and reads
    back few: a memo when an id is posted again, a claim when a correction, a second claim of its
    day or a new enrolment of its person comes.

    What changed since the last `pack()` stays whole (`memos`, `claims`, by event id): the next
    delta (`Book.take_deltas`) reads it as it is, and the desk reads back the day it just
    changed. `pack()` (the book calls it once the delta is taken) moves it into `cold`. A value
    repeated across claims (a person, a contract, a verdict, the parties credited) or across memos
    (an origin's prefix) is held once in `values` and named by its index there; the table only
    grows, as the memos do. The book sees two maps, `book.memos` and `book.claims` (`_Part`),
    whose deltas are as before."""

    HOT_LIMIT = 200_000  # ids kept whole at most when no delta is taken (a replay, a benchmark)

    def __init__(self, marks: dict[str, set[str]] | None = None) -> None:
        # An id held whole is a change the next delta takes (Book.take_deltas), not noted apart: an
        # id noted in a set at every put cost 4-7 % of the parse path (2026-12-06). `marks` (the
        # book's `dirty`) is where the ids go when they are packed before their delta is taken
        # (HOT_LIMIT); None while a delta is being applied, whose values are no change.
        self.marks = marks
        self.hot_limit = self.HOT_LIMIT  # per book: a test holds fewer
        self.memos: dict[str, str] = {}
        self.claims: dict[str, Claim] = {}
        self.cold: dict[bytes | str, bytes] = {}
        self.values: list = [None, None]  # 0: None; 1: _OWN's place, never looked up
        self.index: dict = {None: 0}  # value -> its place in `values` (_at)
        self.counts = {"memos": 0, "claims": 0}  # of the cold records that hold one

    # -- one record --------------------------------------------------------------------------

    @staticmethod
    def has_memo(record: bytes) -> bool:
        return record[:2] != b"\0\0"

    @staticmethod
    def has_claim(record: bytes) -> bool:
        return len(record) > 2 + _MEMO.unpack_from(record)[0]

    def packed_memo(self, memo: str) -> bytes:
        cut = memo.rfind("/") + 1
        return _PREFIX.pack(_at(self.index, self.values, memo[:cut])) + memo[cut:].encode()

    def memo_of(self, record: bytes) -> str | None:
        n = _MEMO.unpack_from(record)[0]
        if not n:
            return None
        return self.values[_PREFIX.unpack_from(record, 2)[0]] + record[2 + _PREFIX.size:2 + n].decode()

    @staticmethod
    def memo_part(record: bytes | None) -> bytes | None:
        """The packed memo of a record, None if it has none (or there is no record)."""
        if record is None:
            return None
        return record[2:2 + _MEMO.unpack_from(record)[0]] or None

    def claim_part(self, record: bytes) -> bytes:
        return record[2 + _MEMO.unpack_from(record)[0]:]

    def claim_of(self, key: str, record: bytes) -> Claim | None:
        at = 2 + _MEMO.unpack_from(record)[0]
        if at == len(record):
            return None
        (person, contract, mode, siae, hire_type, withheld, parts, credited, by, superseded, resolution,
         day, hours, hired) = _PACKED.unpack_from(record, at)
        v = self.values
        return Claim(key, v[person], v[contract], day, v[mode], hours, v[siae], v[hire_type], hired or None,
                     record[at + _PACKED.size:].decode(), v[withheld], v[parts], key if by == _OWN else v[by],
                     v[credited], v[superseded], v[resolution])

    def packed_claim(self, key: str, c: Claim) -> bytes:
        of, v = self.index, self.values
        return _PACKED.pack(
            _at(of, v, c.beneficiary_id), _at(of, v, c.contract_id), _at(of, v, c.mode), _at(of, v, c.siae_siret),
            _at(of, v, c.hire_type), _at(of, v, c.withheld), _at(of, v, c.parts), _at(of, v, c.credited),
            _OWN if c.credited_by == key else _at(of, v, c.credited_by), _at(of, v, c.superseded_by),
            _at(of, v, c.resolution), c.work_date, c.hours, c.hire_date or 0,
        ) + c.submitted_at.encode()

    def hold(self, name: str, key: str, value) -> None:
        """An id's memo or claim (`name`), changed: kept whole until the next pack, which comes at
        the latest when HOT_LIMIT ids are held (they are marked changed then, in `marks`)."""
        held = getattr(self, name)
        held[key] = value
        if len(held) >= self.hot_limit:
            self.spill()

    def spill(self) -> None:
        """Pack what is held whole, before its delta is taken: marked changed first (in `marks`)."""
        marks = self.marks
        if marks is not None:
            marks["memos"].update(self.memos)
            marks["claims"].update(self.claims)
        self.pack()

    def store(self, key: str, memo: bytes | None, claim: bytes) -> None:
        """Write the cold record of an id (memo None and claim empty: none), keeping the counts."""
        old = self.cold.get(key)
        if old is not None:
            self.counts["memos"] -= self.has_memo(old)
            self.counts["claims"] -= self.has_claim(old)
        if memo is None and not claim:
            self.cold.pop(key, None)
            return
        memo = memo or b""
        self.cold[key] = _MEMO.pack(len(memo)) + memo + claim
        self.counts["memos"] += bool(memo)
        self.counts["claims"] += bool(claim)

    def pack(self) -> None:
        cold, memos, claims, of, v = self.cold, self.memos, self.claims, self.index, self.values
        new_memos = new_claims = 0
        prefix = index = None
        for key, memo in memos.items():
            claim = claims.pop(key, None)
            # Nearly every id: new since the last pack, its memo and (a timesheet) its claim, packed
            # as `packed_memo` and `packed_claim` would, in one struct call, the origin's prefix
            # looked up once per run of it: 2.45 -> 2.15 CPU-µs per id (docs/scaling.md). Packed
            # before `cold` is asked whether it holds the id, so that it is asked once, putting it
            # there (setdefault): a lookup among millions of ids misses the CPU's caches.
            cut = memo.rfind("/") + 1
            if memo[:cut] != prefix:  # an origin's prefix, the same for nearly every memo
                prefix = memo[:cut]
                index = _at(of, v, prefix)
            rest = memo[cut:].encode()
            if claim is None:
                record = _MEMO_AND_PREFIX.pack(len(rest) + _PREFIX.size, index) + rest
            else:
                # Sliced whole into a plain tuple, which compiled code unpacks in place: a Claim (a
                # tuple's subclass) it unpacks by iterating it (tuple(claim) too), and reads by index
                # through an int object each time (1.7 % of the parse path, perf 2026-12-06). Values
                # that are None (most often the SIAE, hire type, withheld, superseded and resolution)
                # are at 0 without a lookup.
                fields = claim[:]
                (_, person, contract, day, mode, hours, siae, hire_type, hired, submitted, withheld, parts, by,
                 credited, superseded, resolution) = fields
                stamp = submitted.encode()
                shape = len(rest) << 16 | len(stamp)
                packer = _RECORD_PACKERS.get(shape) or _record_packer(len(rest), len(stamp))
                record = packer.pack(
                    len(rest) + _PREFIX.size, index, rest, _at(of, v, person), _at(of, v, contract), _at(of, v, mode),
                    0 if siae is None else _at(of, v, siae), 0 if hire_type is None else _at(of, v, hire_type),
                    0 if withheld is None else _at(of, v, withheld), _at(of, v, parts), _at(of, v, credited),
                    _OWN if by == key else _at(of, v, by), 0 if superseded is None else _at(of, v, superseded),
                    0 if resolution is None else _at(of, v, resolution), day, hours, hired or 0, stamp)
            if cold.setdefault(key, record) is not record:  # an id seen before: posted again, or its claim changed
                self.store(key, self.packed_memo(memo),
                           self.packed_claim(key, claim) if claim is not None else self.claim_part(cold[key]))
                continue
            new_claims += claim is not None
            new_memos += 1
        for key, claim in claims.items():  # changed without its memo: a correction, a release
            self.store(key, self.memo_part(cold.get(key)), self.packed_claim(key, claim))
        self.counts["memos"] += new_memos
        self.counts["claims"] += new_claims
        memos.clear()
        claims.clear()


_MEMO_AND_PREFIX = struct.Struct("<HI")
assert _MEMO_AND_PREFIX.size == _MEMO.size + _PREFIX.size
_RECORD_PACKERS: dict[int, struct.Struct] = {}


def _record_packer(memo_rest: int, submitted: int) -> struct.Struct:
    """The struct of a whole record (memo head, prefix, the memo's rest, the claim, its submission
    time) for these two lengths: the same bytes as `_MEMO`, `packed_memo` and `packed_claim` joined.
    The lengths are few (an origin's digits, a time's text); a hostile variety must not grow the cache."""
    if len(_RECORD_PACKERS) > 4096:
        _RECORD_PACKERS.clear()
    packer = _RECORD_PACKERS[memo_rest << 16 | submitted] = struct.Struct(
        f"<HI{memo_rest}s{_PACKED.format[1:]}{submitted}s")
    assert packer.size == _MEMO_AND_PREFIX.size + memo_rest + _PACKED.size + submitted
    return packer


class _Part(MutableMapping):
    """One of the two maps a Records holds (`memos` or `claims`), as a mapping."""

    __slots__ = ("_records", "_name", "_hot")

    def __init__(self, records: Records, name: str) -> None:
        self._records, self._name = records, name
        self._hot: dict = getattr(records, name)

    def _cold(self, key: str, record: bytes):
        return self._records.memo_of(record) if self._name == "memos" else self._records.claim_of(key, record)

    def _holds(self, record: bytes) -> bool:
        return self._records.has_memo(record) if self._name == "memos" else self._records.has_claim(record)

    def changes(self, keys) -> dict:
        """For a delta: the values held whole (changed since the last pack), and those of `keys`,
        changed otherwise (None: removed). Most often `keys` is empty and the held values are the delta."""
        hot = self._hot
        if not keys:
            return hot
        get = self.get
        changes = {k: get(k) for k in keys if k not in hot}
        changes.update(hot)
        return changes

    def get(self, key: str, default=None):
        value = self._hot.get(key)
        if value is not None:
            return value
        record = self._records.cold.get(key)
        if record is None:
            return default
        value = self._cold(key, record)
        return default if value is None else value

    def __getitem__(self, key: str):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value) -> None:
        self._records.hold(self._name, key, value)

    def __delitem__(self, key: str) -> None:
        records = self._records
        found = self._hot.pop(key, None) is not None
        record = records.cold.get(key)
        if record is not None and self._holds(record):
            found = True
            if self._name == "memos":
                records.store(key, None, records.claim_part(record))
            else:
                records.store(key, records.memo_part(record), b"")
        if not found:
            raise KeyError(key)

    def __contains__(self, key) -> bool:
        if key in self._hot:
            return True
        record = self._records.cold.get(key)
        return record is not None and self._holds(record)

    def __len__(self) -> int:
        hot, cold = self._hot, self._records.cold
        return len(hot) + self._records.counts[self._name] - sum(
            1 for k in hot if (r := cold.get(k)) is not None and self._holds(r))

    def __iter__(self) -> Iterator[str]:
        # Not copied (a copy of the keys of millions of records would weigh on a snapshot's peak):
        # like a dict's, the mapping must not change while it is iterated.
        hot = self._hot
        yield from hot
        for key, record in self._records.cold.items():
            if key not in hot and self._holds(record):
                yield key

    def __repr__(self) -> str:
        return f"<{self._name}: {len(self)}>"


def _at(index: dict, values: list, value) -> int:
    """The place of `value` in `values`, appended there as it is first asked for. (A dict subclass
    with `__missing__` did it as `index[value]`, but CPython looks a subclass's `[]` up by name at
    every use: a fifth of pack's time, 2026-12-06.)"""
    n = index.get(value)
    if n is None:
        n = index[value] = len(values)
        values.append(value)
    return n


class Days(MutableMapping):
    """"beneficiary|ordinal" -> the claims of that day (the id alone when it is the only one), held
    per person: {person: {day: ids}}. Keyed flat, a day cost its own 72-byte key string; nested,
    the day is a shared integer. The desk reads and writes with `of` and `put` (no key to build);
    the deltas keep the flat keys."""

    __slots__ = ("_people",)

    def __init__(self) -> None:
        self._people: dict[str, dict[int, str | tuple[str, ...]]] = {}

    def of(self, person: str, day: int, default=None):
        return _day_of(self._people, person, day, default)

    def put(self, person: str, day: int, ids) -> None:
        _put_day(self._people, person, day, ids)

    def changes(self, keys) -> dict:
        """The ids of the days of `keys` (None: no longer held), for a delta."""
        people, out, get = self._people, {}, self.get
        for key in keys:
            person, _, day = key.rpartition("|")
            days = people.get(person)
            out[key] = None if days is None else days.get(int(day)) if day.isascii() and day.isdigit() else get(key)
        return out

    @staticmethod
    def split(key: str) -> tuple[str, int]:
        person, _, day = key.rpartition("|")
        try:
            return person, int(day)
        except ValueError:
            raise KeyError(key) from None

    def get(self, key: str, default=None):
        try:
            return self.of(*self.split(key), default)
        except KeyError:
            return default

    def __getitem__(self, key: str):
        person, day = self.split(key)
        return self._people[person][day]

    def __setitem__(self, key: str, ids) -> None:
        self.put(*self.split(key), ids)

    def __delitem__(self, key: str) -> None:
        person, day = self.split(key)
        days = self._people[person]
        del days[day]
        if not days:
            del self._people[person]

    def __contains__(self, key) -> bool:
        return type(key) is str and self.get(key, _ABSENT) is not _ABSENT

    def __len__(self) -> int:
        # Counted when asked (a restore's log line, the benchmark), not at every day put: the book
        # writes a person's days without this class's methods (Book.put_day).
        return sum(map(len, self._people.values()))

    def __iter__(self) -> Iterator[str]:
        for person, days in self._people.items():
            for day in days:
                yield f"{person}|{day}"

    def __repr__(self) -> str:
        return f"Days({len(self)} days of {len(self._people)} people)"


_ABSENT = object()
_DAY: dict[int, int] = {}  # one int object per date ordinal, shared by every person's day


def _day_of(people: dict, person: str, day: int, default=None):
    """The ids of a person's day in `people` ({person: {day: ids}}): Days.of and Book.day_of."""
    days = people.get(person)
    return default if days is None else days.get(day, default)


def _put_day(people: dict, person: str, day: int, ids) -> None:
    """A person's day's ids in `people`: Days.put and Book.put_day."""
    days = people.get(person)
    if days is None:
        days = people[person] = {}
    if day not in days:
        day = _DAY.setdefault(day, day)
    days[day] = ids


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
_HELD = frozenset({"memos", "claims"})  # the maps of Records


class Book:
    """One state's maps (the people one desk decides for, or a whole history in a replay)."""

    def __init__(self) -> None:
        # The keys changed since the last delta, per map; for memos and claims, those changed but
        # not held whole in `records` (removed, or packed before their delta: Records.hold).
        self.dirty: dict[str, set[str]] = {name: set() for name in MAPS}
        self.records = Records(self.dirty)
        self.memos = _Part(self.records, "memos")  # Memo.of texts
        self.contracts: dict[str, Contract] = {}
        self.enrolments: dict[str, Enrolment] = {}
        self.programmes: dict[str, str | None] = {}  # programme -> its buyer
        self.claims = _Part(self.records, "claims")
        self.days = Days()  # "beneficiary|ordinal" -> the claims of that day (the id alone when only one)
        # Its {person: {day: ids}}, read and written by day_of and put_day without Days' Python layer
        # (a method call of a class that is no extension type cost ~1,000 instructions, twice a timesheet).
        self._day_map = self.days._people
        self.training: dict[str, tuple[str, ...]] = {}  # beneficiary -> standing training claims
        self.people: dict[str, tuple[int, ...]] = {}  # beneficiary -> (first, last) day (ordinals) of its claims
        self.parked: dict[str, Parked] = {}
        self.clock: dict[str, float] = {}  # "now": stream time
        # The days put by put_day since the last delta, with their ids: changed days too, kept apart
        # from dirty["days"] (a key in both is this one's) so that a timesheet's day is noted once.
        self._days_put: dict[str, Any] = {}
        self._widths: dict[str, int] = {}  # bytes per changed key of each map's last delta record

    def put(self, name: str, key: str, value: Any) -> None:
        getattr(self, name)[key] = value
        self.dirty[name].add(key)
        if name == "days":
            self._days_put.pop(key, None)

    def put_record(self, name: str, event_id: str, value: str | Claim) -> None:
        """put("memos" or "claims", ...) without the mapping's Python layer: for every event decided.
        Held whole, it is a change for the next delta (no mark in `dirty`: Records)."""
        self.records.hold(name, event_id, value)

    def memo(self, event_id: str) -> str | None:
        """memos.get(event_id) without the mapping's Python layer: for every event decided."""
        records = self.records
        memo = records.memos.get(event_id)
        if memo is not None:
            return memo
        record = records.cold.get(event_id)
        return None if record is None else records.memo_of(record)

    def day_of(self, person: str, day: int, default=None):
        """days.of(person, day, default)."""
        return _day_of(self._day_map, person, day, default)

    def put_day(self, person: str, day: int, ids) -> None:
        _put_day(self._day_map, person, day, ids)
        self._days_put[f"{person}|{day}"] = ids  # so that the delta need not read each key back (Days.changes)

    def drop(self, name: str, key: str) -> None:
        getattr(self, name).pop(key, None)
        self.dirty[name].add(key)
        if name == "days":
            self._days_put.pop(key, None)

    @property
    def changed(self) -> bool:
        return bool(self._days_put or self.records.memos or self.records.claims) or any(self.dirty.values())

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
        days_put = self._days_put
        for name, keys in self.dirty.items():
            if name == "days" and days_put:  # a key also in `keys` is days_put's: the latest
                changes = days_put if not keys else {**self.days.changes(keys - days_put.keys()), **days_put}
            elif name in _HELD:
                if not keys and not getattr(self.records, name):
                    continue
                changes = getattr(self, name).changes(keys)
            elif not keys:
                continue
            elif name == "days":
                changes = self.days.changes(keys)
            else:
                values = getattr(self, name)
                changes = {k: values.get(k) for k in keys}
            fragments += [(name, blob) for blob in self._fragments(name, changes, limit)]
            keys.clear()
        self._days_put = {}
        self.records.pack()
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
        """A state record's changes, made as they were: not changes of this book's own (no delta
        takes them again)."""
        records = self.records
        records.spill()  # this book's own changes (none in a restore) stay changes
        records.marks = None  # what is packed from here on is restored, not changed
        try:
            for name, changes in orjson.loads(delta).items():
                values, decode = getattr(self, name), _DECODE[name]
                for key, value in changes.items():
                    if value is None:
                        values.pop(key, None)
                    else:
                        values[key] = decode(value)
            records.pack()
        finally:
            records.marks = self.dirty

    def snapshot_parts(self, max_bytes: int) -> Iterator[list[bytes]]:
        """The whole state as records of at most `max_bytes`, cut a part at a time (each part's
        records, usually one, at once) while the book goes on changing between them (a few parts
        at each checkpoint, after its delta): a fuzzy snapshot, as databases take their
        checkpoints. The keys are those of the first call; each record holds the values its keys
        have when it is cut (a key removed by then is left out). The changes stay marked for the
        next deltas.

        Why the state log stays right (streams/worker/state.py applies records in log order, each
        key set to its value): a key changed after its record was cut is dirty, so a delta taken
        after it, and written after it, sets it again; a key made after the first call is in a
        delta after that; a key removed before its record was cut is not in any record after the
        first, only in a delta (None). Applied to an empty book from the first record on, a complete
        snapshot and the deltas among and after it give the book of the last record applied.
        Until 2026-12-05 a snapshot was cut whole at one checkpoint with the book held still, which
        stopped the decisions for as long as the cut took: 1-2 s at the medium size
        (docs/scaling.md, "The worker's state")."""
        limit = _fragment_limit(max_bytes)
        # The days are listed by person (each person's days as they are when the record is cut):
        # their flat keys, built for every day at once, would cost ~95 MB at the Grand Paris size.
        keys = {name: list(self.days._people if name == "days" else getattr(self, name)) for name in MAPS}
        people = self.days._people
        for name in MAPS:
            values, label, names = getattr(self, name), b'{"' + name.encode() + b'":', keys.pop(name)
            at = 0
            while at < len(names):
                step = max(1, _cut(limit) // self._widths.get(name, _FIRST_WIDTH))
                part = {}
                if name == "days":
                    while at < len(names) and len(part) < step:
                        person = names[at]
                        at += 1
                        for day, ids in people.get(person, {}).items():
                            part[f"{person}|{day}"] = ids
                else:
                    for key in names[at:at + step]:
                        value = values.get(key, _ABSENT)
                        if value is not _ABSENT:
                            part[key] = value
                    at += step
                if part:  # a part's records together: a record cut from a part built earlier could
                    # come after a delta of a later change, and undo it
                    yield [label + blob + b"}" for blob in self._fragments(name, part, limit)]

    def snapshot(self) -> bytes:
        """The whole state as one record, keys in order, leaving the changes marked (applied to an
        empty book, it gives this one; two books of the same state give the same bytes)."""
        return orjson.dumps({name: dict(getattr(self, name)) for name in MAPS}, default=tuple,
                            option=orjson.OPT_SORT_KEYS)

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
