"""Which partition decides an event, whatever partition its producer wrote it to.

Contractor systems post with their own clients: `ledger post` keys messages by beneficiary, but
`kcat -P` sets no key, and a message may hold a JSON array of many people's events. A person's
state (claims, days, training, enrolment) lives with one partition, so every event is first routed
to the partition of its key (ledger.registry.key_of) on the routed topic, and decided only there:
the routing agent never decides. An event whose key cannot be read (not JSON, no type) is routed
to the partition it was read from, where its rejection says what is wrong.

A routed message is a batch of records, each (origin, timestamp, event bytes) with their lengths
(`_RECORD`): the origin is the intake position the event was posted at (its rejection id and its
duplicate check use it), the timestamp the intake message's (stream time). Lengths, not separators,
so that bytes that are not JSON reach their rejection exactly as they were posted.

An array written compact, in ASCII and without a backslash (as a client batching compact events
writes one: `ContractorProducer` with `batch_events` > 1, the benchmark's producer, most generated
JSON) is cut into its items as they were posted, by msgspec, which reads
each item's type and key fields and skips the rest (`_split`): parsing the whole message into dicts
and writing every item back was half of routing's CPU (docs/scaling.md, "Routing without writing
back, the pack typed"). Any other message is parsed (orjson, else Python's json for what orjson
refuses) and its items written back compact, a repeated key kept.

A routed batch of events whose every event was written back from its parsed object (an array parsed
without a repeated key) is sent with the header `ledger-keys: unique`: the deciding side then need
not count each event's keys again to find a repeated one (`ledger.sheets.fast_sheet`). A batch
without it (items cut as posted, which may repeat a key; a worker before 2026-12-05; a message
decided whole as it was posted) is checked as before.
"""

from __future__ import annotations

import json
import re
import struct
from collections import defaultdict

import msgspec
import orjson

from ledger.desk import MAX_KEPT_PAYLOAD
from ledger.events import MAX_EVENT_BYTES
from ledger.registry import KEY_FIELDS, key_from, key_of
from ledger.sheets import key_marks
from streams.kafka.partitioner import partition_of  # Kafka's default partitioner

KIND_HEADER = "ledger-kind"
KEYS_HEADER, UNIQUE = "ledger-keys", b"unique"
_KEY = re.compile(rb'"\s*:')


def has_duplicate_keys(value: bytes) -> bool:
    """Whether a JSON text repeats a key in an object. Every key is followed by `":`, so when the
    parsed objects hold as many keys as the text has such matches none was repeated; only when they
    differ (a repeat, or `":` inside a string) are the objects read again with their pairs."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    if _count_keys(parsed) == len(_KEY.findall(value)):
        return False
    repeated = []

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            repeated.append(True)
        return dict(items)

    try:
        json.loads(value, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return False
    return bool(repeated)


def _count_keys(value) -> int:
    """The keys of every object in a parsed JSON value (iteratively: nesting is as deep as orjson allows)."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += len(item)
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return count


def _keys_differ(parsed, value: bytes) -> bool:
    """Whether the text has more `":` than the parsed value has keys (then a key may be repeated).
    Every parsed key has its `":` in the text, so equal counts mean none was repeated. An array of
    flat events, the usual message, is counted by its items' lengths: a nested object's keys, or a
    `":` in a string, only make the text's count larger, and send it to the exact count."""
    if type(parsed) is list and all(type(item) is dict for item in parsed):
        if sum(map(len, parsed)) == key_marks(value):
            return False
    return _count_keys(parsed) != len(_KEY.findall(value))


EVENTS, LEARN, TICK = b"events", b"learn", b"tick"


def origin(topic: str, partition: int, offset: int, index: int = 0) -> str:
    return f"{topic}/{partition}@{offset}#{index}"


def parse_origin(text: str) -> dict:
    topic, _, rest = text.rpartition("/")
    partition, _, rest = rest.partition("@")
    offset, _, index = rest.partition("#")
    return {"topic": topic, "partition": int(partition), "offset": int(offset), "index": int(index or 0)}


class Routed(defaultdict):
    """An intake message's routed batches, by the partition that decides them. `keys_unique`: every
    event they carry was written back from its parsed object, so none repeats a key."""

    def __init__(self) -> None:
        super().__init__(bytearray)
        self.keys_unique = False


def events_of(value: bytes) -> list[bytes] | None:
    """The events of an intake message as they are decided: the items of an array (as posted when
    `_split` cuts it, else each written back on its own), or None for a message decided whole (one
    event, or bytes that are not JSON)."""
    split = _split(value)
    if split is not None:
        return [bytes(raw) for raw in split[0]]
    found = _events(value)
    return None if found is None or not found[1] else [raw for _, raw in found[0]]


# An item's type and the fields events are keyed by, every other field skipped unread (a field
# missing or of any JSON type is read as it is: key_from says what makes a key).
_Keyed = msgspec.defstruct("_Keyed", [("type", object, None)] + [(f, object, None) for f in KEY_FIELDS], gc=False)
_raw_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
_keyed_items = msgspec.json.Decoder(list[_Keyed]).decode


def _split(value: bytes) -> tuple[list, list] | None:
    """(each item's bytes as posted, its type and key fields) of an array of objects written compact
    in ASCII without a backslash; None for any other message, which `_events` reads. Within those
    bounds, an item cut as posted differs from the one `_events` writes back only where a number is
    written another way (`7.50`, `1e400`) or a key is repeated (kept, as `_events` keeps it): there
    is no whitespace or escape to take off. The bounds are checked first by
    `memchr`-speed scans (0.03 CPU-µs an event; a regular expression over the message took 1.6)."""
    if (value[:1] != b"[" or not value.isascii() or b" " in value or b"\n" in value or b"\r" in value
            or b"\t" in value or b"\\" in value):
        return None
    try:
        return _raw_items(value), _keyed_items(value)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def _events(value: bytes) -> tuple[list[tuple[object, bytes]], bool, bool] | None:
    """(item, its JSON) for each event of an intake message, whether it was an array, and whether
    each item was written back from its parsed object (then none repeats a key; a repeated key is
    kept, as `_Pairs`, and written back with it); None when the message is decided whole as it was
    posted: not JSON, or nested deeper than it can be written back (a JSON bomb), which is then one
    event, rejected for it."""
    try:
        parsed = orjson.loads(value)
        encode = _orjson_or_json
    except orjson.JSONDecodeError:
        try:  # what orjson refuses but Python reads (an integer past 64 bits, NaN): the validator says why
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return None
        encode = _json
    try:
        if _keys_differ(parsed, value) and has_duplicate_keys(value):
            # orjson keeps the last of a repeated key: write the items back with all of theirs
            parsed = json.loads(value, object_pairs_hook=_Pairs)
            encode = _pairs
        if not isinstance(parsed, list) or isinstance(parsed, _Pairs):
            # A single event travels as it was posted, without the JSON whitespace around it
            # (as an array's items do; hypothesis found b"\r0" kept whole).
            return [(parsed, value.strip(b" \t\r\n"))], False, False
        if encode is _orjson_or_json:
            try:  # nearly every message: each item written by orjson, without a call of ours per item
                return list(zip(parsed, map(_dumps, parsed))), True, True
            except TypeError:  # an item nested past what orjson writes: json writes it
                pass
        return [(item, encode(item)) for item in parsed], True, encode is not _pairs
    except (RecursionError, TypeError, ValueError):
        return None


_dumps = orjson.dumps


def _orjson_or_json(item) -> bytes:
    try:
        return orjson.dumps(item)
    except TypeError:
        return _json(item)


def _json(item) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


class _Pairs(list):
    """A JSON object kept as its (key, value) pairs, repeated keys and all."""


def _pairs(item) -> bytes:
    if isinstance(item, _Pairs):
        return b"{" + b",".join(_json(k) + b":" + _pairs(v) for k, v in item) + b"}"
    if isinstance(item, list):
        return b"[" + b",".join(_pairs(v) for v in item) + b"]"
    return _json(item)


_RECORD = struct.Struct(">HqII")  # origin length, timestamp (ms), bytes carried, bytes posted
# An event longer than the contract allows is refused for its size whatever it holds: it travels cut
# to what its rejection keeps (a 2 MB payload would not fit the routed topic's messages).
CARRIED = MAX_KEPT_PAYLOAD + 1


def route(value: bytes, topic: str, partition: int, offset: int, timestamp_ms: int | None,
          partitions: int) -> Routed:
    """The events of one intake message, as routed batches by the partition that decides them."""
    out = Routed()
    stamp = timestamp_ms or 0
    here = partition % partitions
    # Each event's origin is the message's own and its index: its head formatted once per message.
    head = origin(topic, partition, offset, 0)[:-1].encode()
    split = _split(value)
    if split is not None:  # nearly every message: cut as posted, keyed without parsing the rest
        for index, (raw, fields) in enumerate(zip(*split)):
            key = key_from(fields.type, fields)
            _append(out[partition_of(key, partitions) if key is not None else here], head + b"%d" % index, stamp, raw)
        return out
    found = _events(value)
    if found is None:  # decided (rejected) where it was read, as it was posted
        _append(out[here], origin(topic, partition, offset).encode(), stamp, value)
        return out
    out.keys_unique = found[2]
    for index, (item, raw) in enumerate(found[0]):
        key = key_of(item if type(item) is not _Pairs else dict(item))
        _append(out[partition_of(key, partitions) if key is not None else here], head + b"%d" % index, stamp, raw)
    return out


def pack(where: str, stamp_ms: int | None, raw: bytes) -> bytes:
    """One record of a routed batch, as bytes of its own (see `_append`)."""
    batch = bytearray()
    _append(batch, where.encode(), stamp_ms or 0, raw)
    return bytes(batch)


def _append(batch: bytearray, where: bytes, stamp_ms: int, raw) -> None:
    """One record of a routed batch written at its end (`raw`: bytes, or a msgspec.Raw, whose buffer
    is read in place; an event past MAX_EVENT_BYTES cut to CARRIED bytes)."""
    posted = len(raw)
    if posted > MAX_EVENT_BYTES:
        raw = bytes(raw)[:CARRIED]
    batch += _RECORD.pack(len(where), stamp_ms, len(raw), posted)
    batch += where
    batch += raw


def lines(value: bytes) -> list[tuple[str, float | None, bytes]]:
    """A routed batch's events: (origin, stream time in seconds, event bytes). An event cut for its
    size comes back as an `Oversized` (bytes, with the length that was posted)."""
    data = value if type(value) is bytes else bytes(value)
    out, at, size = [], 0, len(data)
    head = _RECORD.size
    while at < size:
        length, stamp, raw_length, posted = _RECORD.unpack_from(data, at)
        at += head
        where = data[at:at + length].decode()
        at += length
        raw = data[at:at + raw_length]
        out.append((where, stamp / 1000 if stamp else None, Oversized(raw, posted) if posted > raw_length else raw))
        at += raw_length
    return out


class Oversized(bytes):
    """The first bytes of an event posted longer than the contract allows, and its posted length."""

    def __new__(cls, head: bytes, posted: int):
        self = super().__new__(cls, head)
        self.posted = posted
        return self
