"""Request bodies into validated events, with an error per refused line naming its field.

Bodies: one JSON object (POST /v1/events); a JSON array, JSONL (`application/x-ndjson`) or CSV
(`text/csv`, a header row of field names, `criteria` separated by `|`) for POST /v1/batches. Each
event is validated with `ledger.events.parse_event`, the model the worker applies; CSV rows are
converted by `streams.contractor.producer.csv_events`, as `ledger post` does.

A JSON object that repeats a key, at any depth, is refused on its line (`invalid_json`), as the
worker would refuse it: re-serialising it would otherwise keep one of the values without telling
the sender (docs/security.md, "Duplicate keys").

Line numbers: the physical line in JSONL and CSV (the CSV header is line 1, so the first row is
line 2); the 1-based position of the item in a JSON array; 1 for a single event.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ledger.events import Event, InvalidEvent, parse_event, problems
from streams.contractor.producer import CsvLineError, csv_events

JSON = "application/json"
NDJSON = "application/x-ndjson"
CSV = "text/csv"
# Other names clients use for JSON Lines.
NDJSON_ALIASES = {NDJSON, "application/jsonl", "application/x-jsonlines", "application/jsonlines"}
BATCH_TYPES = (JSON, NDJSON, CSV)

_EVENT = TypeAdapter(Event)


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None
    message: str
    reason: str

    def as_json(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message, "reason": self.reason}


@dataclass(frozen=True)
class Line:
    line: int
    value: bytes  # the event's JSON, as it goes to Kafka
    event: Any  # the validated model


class BodyError(Exception):
    """The body as a whole cannot be read (not a line's fault)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def media_type(content_type: str | None) -> str:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return NDJSON if kind in NDJSON_ALIASES else kind


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")  # spreadsheets write a byte-order mark
    except UnicodeDecodeError as error:
        raise BodyError(400, "not_utf8", f"the body is not UTF-8 text (byte {error.start})") from None


class _Repeated(dict):
    """A decoded JSON object in which (or in a value of which) some object repeats `key`."""

    key: str


def _repeated_in(value: Any) -> str | None:
    if isinstance(value, _Repeated):
        return value.key
    if isinstance(value, list):
        return next((key for item in value if (key := _repeated_in(item)) is not None), None)
    return None


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
    else:
        key = next((k for _, v in pairs if (k := _repeated_in(v)) is not None), None)
    if key is None:
        return obj
    repeated = _Repeated(obj)
    repeated.key = key
    return repeated


def _loads(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def field_errors(line: int, obj: Any, invalid: InvalidEvent) -> list[LineError]:
    """The refusal of one event, one error per field (`ledger.events.problems`)."""
    try:
        _EVENT.validate_json(json.dumps(obj))
    except ValidationError as error:
        errors = [LineError(line, p.path or ("type" if p.kind.startswith("union_tag") else None), p.message,
                            invalid.reason) for p in problems(error)]
        if errors:
            return errors
    except (ValueError, TypeError):
        pass
    return [LineError(line, None, invalid.detail, invalid.reason)]


def _validate(line: int, obj: Any) -> tuple[Line | None, list[LineError]]:
    if not isinstance(obj, dict):
        return None, [LineError(line, None, f"an event is a JSON object, not {type(obj).__name__}", "invalid_event")]
    if isinstance(obj, _Repeated):
        return None, [LineError(line, None, f"duplicate key {json.dumps(obj.key)} in a JSON object: each key must "
                                "appear once", "invalid_json")]
    try:
        value = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    except ValueError as error:  # NaN or Infinity cannot be sent as JSON
        return None, [LineError(line, None, str(error), "invalid_json")]
    try:
        event = parse_event(value)
    except InvalidEvent as invalid:
        return None, field_errors(line, obj, invalid)
    return Line(line, value.encode(), event), []


def parse(body: bytes, kind: str, single: bool, max_lines: int) -> tuple[list[Line], list[LineError]]:
    """Every line of the body, validated; raises BodyError for what is not about one line."""
    text = _text(body)
    items: list[tuple[int, Any]] = []
    errors: list[LineError] = []
    if kind == JSON:
        try:
            document = _loads(text)
        except ValueError as error:
            raise BodyError(400, "invalid_json", f"the body is not JSON: {error}") from None
        if single:
            items = [(1, document)]
        elif isinstance(document, list):
            items = list(enumerate(document, start=1))
        else:
            raise BodyError(422, "not_a_batch", "a JSON batch is an array of events (post one event to /v1/events)")
    elif kind == NDJSON and not single:
        for number, raw in enumerate(io.StringIO(text, newline=None), start=1):
            if not raw.strip():
                continue
            try:
                items.append((number, _loads(raw)))
            except ValueError as error:
                items.append((number, None))
                errors.append(LineError(number, None, f"not JSON: {error}", "invalid_json"))
            if len(items) > max_lines:
                break
    elif kind == CSV and not single:
        items = _csv_items(text, errors, max_lines)
    else:
        raise BodyError(415, "unsupported_media_type", f"unsupported Content-Type {kind or '(none)'}: "
                        + ("application/json" if single else ", ".join(BATCH_TYPES)) + " expected")
    if len(items) > max_lines:
        raise BodyError(413, "too_many_lines", f"more than {max_lines} events in one batch: split it")
    if not items:
        raise BodyError(422, "empty_batch", "the batch holds no event")
    failed = {e.line for e in errors}
    lines = []
    for number, obj in items:
        if number in failed:
            continue
        line, problems = _validate(number, obj)
        errors.extend(problems)
        if line is not None:
            lines.append(line)
    errors.sort(key=lambda e: e.line)
    return lines, errors


class _CountingLines:
    """The text's lines for the CSV reader, counting those it has read (for a broken row's number)."""

    def __init__(self, text: str):
        self._lines = iter(io.StringIO(text, newline=""))
        self.read = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.read += 1
        return line


def _csv_items(text: str, errors: list[LineError], max_lines: int) -> list[tuple[int, Any]]:
    items: list[tuple[int, Any]] = []
    source = _CountingLines(text)
    rows = csv_events(source)
    while len(items) <= max_lines:
        try:
            number, value = next(rows)
        except StopIteration:
            break
        except Exception as error:  # csv.Error, or a cell the converter cannot read
            # The reader cannot go on past a broken row: the batch is refused at this line.
            errors.append(LineError(source.read, None, f"unreadable CSV: {error}", "invalid_csv"))
            items.append((source.read, None))
            break
        if isinstance(value, CsvLineError):  # a repeated column, extra cells: refused with its line
            errors.append(LineError(value.line, value.field, value.message, "invalid_csv"))
            items.append((number, None))
            continue
        items.append((number, json.loads(value)))
    return items
