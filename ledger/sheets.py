"""A timesheet as the desk works on it (`Sheet`, plain values), and the fast way to a valid one.

The event contract is `ledger.events` (pydantic: JSON Schema, error wording). Validating a
timesheet there costs about ten times reading its JSON, and timesheets are nearly every event of a
programme. `fast_sheet` accepts a strict subset of the contract with plain checks: the usual shape
(canonical lower-case UUID, ISO days and RFC 3339 date-times, numbers as JSON numbers, no repeated
key) and nothing else. It reads the JSON with msgspec into a struct of the timesheet's fields,
which checks their JSON types in C and builds no dict (0.54 against orjson's 0.95 µs a timesheet,
and the dict's reads and type checks after it). Whatever it does not accept goes to pydantic,
which accepts or names the error as before. So the contract stays pydantic's: the fast path can
only say "valid, with these values" where pydantic says the same, which
tests/unit/ledger/test_sheets.py checks on generated input.
"""

from __future__ import annotations

import datetime as dt
import re
from sys import intern
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal, NamedTuple, get_args, get_origin, get_type_hints

import msgspec
import msgspec.structs
from msgspec import UNSET, UnsetType

from ledger.caches import remember
from ledger.events import (
    BENEFICIARY_KEY_PATTERN,
    FIRST_DAY,
    LAST_DAY,
    MAX_EVENT_BYTES,
    PARTNER_MODES,
    HireType,
    Mode,
    _NATIONAL_NUMBER,
)
from ledger.hashes import is_canonical_uuid
from ledger.siret import is_valid_siret
from ledger.tuples import new as _new  # a NamedTuple in one call (ledger.tuples says why)


class Sheet(NamedTuple):
    """What a timesheet (submitted or corrected) declares, in the desk's units."""

    event_id: str
    type: str
    contract_id: str
    beneficiary_id: str
    work_date: int  # date ordinal
    hours: int  # hundredths
    mode: str
    siae_siret: str | None
    hire_type: str | None
    hire_date: int | None
    submitted_at: str  # as entries record it (UTC written Z)


def stamp(moment: dt.datetime) -> str:
    """A date-time as pydantic writes it in JSON (UTC as Z)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def sheet_of(event) -> Sheet:
    """The Sheet of a validated TimesheetSubmitted or TimesheetCorrected."""
    return Sheet(str(event.event_id), event.type, event.contract_id, event.beneficiary_id,
                 event.work_date.toordinal(), int(event.hours * 100), event.mode.value, event.siae_siret,
                 event.hire_type.value if event.hire_type is not None else None,
                 event.hire_date.toordinal() if event.hire_date is not None else None, stamp(event.submitted_at))


_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_KEY = re.compile(BENEFICIARY_KEY_PATTERN.strip("^$"))
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
_PARTNER_MODES = frozenset(m.value for m in PARTNER_MODES)
_FIRST, _LAST = FIRST_DAY.toordinal(), LAST_DAY.toordinal()
_WHITESPACE = b" \t\n\r"


def key_marks(raw: bytes) -> int:
    """The `":` of a JSON text once its whitespace is gone: one after each key, so never fewer than
    the keys its parsed objects hold; more when a key is repeated (parsing keeps one) or a string
    holds `":`. Equal counts therefore mean no key was repeated. A text without whitespace is
    counted in place. The routing counts a parsed message's keys with it (`_keys_differ`);
    `fast_sheet` counts quotes instead, cheaper for one event."""
    if b" " in raw or b"\n" in raw or b"\r" in raw or b"\t" in raw:
        return raw.translate(None, _WHITESPACE).count(b'":')
    return raw.count(b'":')


# The valid days and hours seen, read `_DAYS.get(text) or _day(text)` (ledger.caches).
_DAYS: dict[str, int] = {}
_HUNDREDTHS: dict[int | float, int] = {}


def _day(text: str) -> int | None:
    """The ordinal of an ISO day within the ledger's range, else None (kept in _DAYS when valid)."""
    if not _DAY.fullmatch(text):
        return None
    try:
        ordinal = dt.date.fromisoformat(text).toordinal()
    except ValueError:
        return None
    return remember(_DAYS, text, ordinal) if _FIRST <= ordinal <= _LAST else None


# A UTC date-time to the second, as most senders write one ("2026-03-02T07:41:09Z" or with
# "+00:00"): its stamp is its own text, Z-ended. Each is a new one, but its day is not: the day is
# checked once and cached (`_day`), the hour, minute and second looked up among the 24 and 3,600
# there are. (Cached per hour, "2026-03-02T07" missed the cache at every new hour: a programme's
# timesheets come a dozen an hour, over 131,000 hours in 15 years; 2.4 of _moment's 4.8 thousand
# instructions, docs/scaling.md.)
_HOUR = frozenset(f"T{h:02d}" for h in range(24))
_MINUTE_SECOND = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_UTC = frozenset({"Z", "+00:00"})


def _moment(text: str) -> tuple[str, int] | None:
    """(as entries record it, its day in its own offset) of an RFC 3339 date-time, or None."""
    if text[19:] in _UTC and text[13:19] in _MINUTE_SECOND and text[10:13] in _HOUR:
        day = _DAYS.get(text[:10]) or _day(text[:10])
        if day is not None:
            return (text if len(text) == 20 else text[:19] + "Z"), day  # written Z already: itself
    return _other_moment(text)


@lru_cache(maxsize=65536)
def _other_moment(text: str) -> tuple[str, int] | None:
    if not _MOMENT.fullmatch(text) or text.endswith("-00:00"):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    day = moment.date().toordinal()
    return (stamp(moment), day) if _FIRST <= day <= _LAST else None


def _hundredths(value: int | float) -> int | None:
    """Hours as integer hundredths when exact and within (0, 24], else None (kept in _HUNDREDTHS when valid)."""
    try:
        exact = Decimal(repr(value))
    except InvalidOperation:
        return None
    if not 0 < exact <= 24:
        return None
    scaled = exact * 100
    return remember(_HUNDREDTHS, value, int(scaled)) if scaled == scaled.to_integral_value() else None


# The identifiers found valid, each as its one interned string: a programme's millions of
# timesheets name a few hundred contracts, a few dozen SIAE and some thousands of people, and the
# regular expressions, the SIRET's check digit and `intern` cost 1.5 of fast_sheet's ~4 µs when
# each timesheet ran them again. Bounded: a hostile variety is forgotten, never refused.
_VALID: dict[str, dict[str, str]] = {"contract": {}, "key": {}, "siret": {}}
_CONTRACTS, _KEYS, _SIRETS = _VALID["contract"], _VALID["key"], _VALID["siret"]
_MAX_VALID = 200_000


def _remember(kind: str, value: str) -> str:
    return remember(_VALID[kind], value, intern(value), _MAX_VALID)


def _valid(kind: str, value) -> str | None:
    """`value` as its interned self if it is a valid identifier of `kind`, else None."""
    if type(value) is not str:
        return None
    known = _VALID[kind].get(value)
    if known is not None:
        return known
    return _remember(kind, value) if _CHECKS[kind](value) else None


_CHECKS = {"contract": _IDENTIFIER.fullmatch,
           "key": lambda value: _KEY.fullmatch(value) and not _NATIONAL_NUMBER.match(value),
           "siret": is_valid_siret}


class _Usual(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The JSON of a `timesheet.submitted` of the usual shape, its fields' JSON types checked as
    msgspec reads it (in C, without a dict): a string where a string is due, a number for the hours
    (never a boolean), the version 1, a mode and a hire type among the contract's (each read as the
    one string of its Literal, not a new one per timesheet), no field the contract does not name.
    Never tracked by the garbage collector: it holds strings and numbers only."""

    type: Literal["timesheet.submitted"]
    event_id: str
    schema_version: Literal[1]
    contract_id: str
    beneficiary_id: str
    work_date: str
    hours: int | float
    mode: Literal[tuple(m.value for m in Mode)]  # type: ignore[valid-type]
    submitted_at: str
    # Left out (UNSET) or null (None): the contract treats both as absent, the digest does not.
    siae_siret: str | None | UnsetType = UNSET
    hire_type: Literal[tuple(h.value for h in HireType)] | None | UnsetType = UNSET  # type: ignore[valid-type]
    hire_date: str | None | UnsetType = UNSET


_read_usual = msgspec.json.Decoder(_Usual).decode
_fields = msgspec.structs.astuple
assert _Usual.__struct_fields__ == ("type", "event_id", "schema_version", "contract_id", "beneficiary_id", "work_date",
                                    "hours", "mode", "submitted_at", "siae_siret", "hire_type", "hire_date")
# Written back with its keys sorted, the fields it was posted with and no other: the same bytes as
# `orjson.dumps(orjson.loads(raw), option=OPT_SORT_KEYS)` for every timesheet fast_sheet accepts (their
# strings are plain ASCII, their numbers written the shortest way by both), which is what the
# desk's content digest reads (ledger.desk.digest_of; tests/unit/ledger/test_sheets.py holds it).
_sorted_json = msgspec.json.Encoder(order="sorted").encode
_REQUIRED_KEYS = len(_Usual.__struct_fields__) - len(_Usual.__struct_defaults__)
# The quotes of a usual timesheet's text: two for each key and two for each value that is a string
# (a required field's when its type is text; each optional field's counted as it comes).
_REQUIRED_QUOTES = 2 * (_REQUIRED_KEYS + sum(
    hint is str or (get_origin(hint) is Literal and all(type(a) is str for a in get_args(hint)))
    for hint in list(get_type_hints(_Usual).values())[:_REQUIRED_KEYS]))
_QUOTE = b'"'


def fast_sheet(raw: bytes, keys_unique: bool = False) -> tuple[Sheet, bytes] | None:
    """`raw` as a Sheet, and its JSON with its keys sorted (for its digest), when it is a
    `timesheet.submitted` of the usual shape; else None (then pydantic decides). Never a Sheet for
    what the contract refuses. `keys_unique`: the caller knows `raw` repeats no key (it wrote it from
    a parsed object), which is then not counted."""
    if len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        usual = _read_usual(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    # Its fields at once, in the struct's order (compiled, each attribute read went through the
    # generic lookup: 2.8 % of the parse path, perf 2026-12-06).
    (_, event_id, _, contract_id, key, work_date, hours, mode, submitted_at, siret, hire_type,
     hire_date) = _fields(usual)
    # A repeated key (msgspec keeps the last, the contract refuses it) adds two quotes to those the
    # fields read account for: their values are strings or numbers, so no other quote is in the
    # text but an escaped one, which sends it to pydantic too. One count of one byte, whitespace or
    # not: counting `":` the way key_marks does took 0.9 CPU-µs a timesheet, 2026-12-06.
    if not keys_unique and raw.count(_QUOTE) != _REQUIRED_QUOTES + 2 * (
            (siret is not UNSET) + (hire_type is not UNSET) + (hire_date is not UNSET)
            + (type(siret) is str) + (type(hire_type) is str) + (type(hire_date) is str)):
        return None
    # A field left out and a null one are alike to the contract (not to the digest): None from here on.
    siret = None if siret is UNSET else siret
    hire_type = None if hire_type is UNSET else hire_type
    hire_date = None if hire_date is UNSET else hire_date
    if not is_canonical_uuid(event_id):
        return None
    # Found among those seen before without a call, nearly always (valid identifiers are never empty).
    contract_id = _CONTRACTS.get(contract_id) or _valid("contract", contract_id)
    key = _KEYS.get(key) or _valid("key", key)
    if contract_id is None or key is None:
        return None
    day = _DAYS.get(work_date) or _day(work_date)
    hundredths = _HUNDREDTHS.get(hours) or _hundredths(hours)
    moment = _moment(submitted_at)
    if day is None or hundredths is None or moment is None or moment[1] < day:
        return None
    partner = (_SIRETS.get(siret) or _valid("siret", siret)) if siret is not None else None
    if (mode in _PARTNER_MODES) != (siret is not None) or (siret is not None and partner is None):
        return None
    if hire_type is not None and mode != "direct_hire":
        return None
    hired = None
    if hire_date is not None:
        hired = _DAYS.get(hire_date) or _day(hire_date)
        if hired is None or hired > day:
            return None
    elif hire_type == "permanent":
        return None
    # Interned (contract, key and SIRET by _remember): a claim keeps them for good, and a
    # programme's millions name a few thousand.
    return _new(Sheet, (event_id, "timesheet.submitted", contract_id, key, day, hundredths, mode,
                        partner, hire_type, hired, moment[0])), _sorted_json(usual)
