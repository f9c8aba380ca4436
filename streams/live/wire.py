"""Typed JSON: rows as JSON a browser reads, plus each column's kind, so that a Python client gets
back the values the store gave (Decimal, date, datetime...) and prints exactly what it would print
from the store itself (`ledger progress`, `ledger sql`, `ledger report` through the live view).

Values: Decimal as its text ("147467.63": no binary rounding), date and datetime as ISO 8601,
non-finite floats as "nan"/"inf"/"-inf", UUIDs and addresses as text, bytes as UTF-8 text
(undecodable bytes backslash-escaped), arrays and tuples as arrays, maps as objects. Kinds:
`decimal`, `int`, `float`, `bool`, `date`, `datetime`, `string`, `json` (anything else, or a
column whose values are of several kinds: left as JSON).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

KINDS = ("decimal", "int", "float", "bool", "date", "datetime", "string", "json")


def to_json(value: Any) -> Any:
    """`value` as JSON data (see the module's docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, str):
        return "string"
    return "json"


def column_kind(values) -> str:
    kinds = {kind_of(v) for v in values if v is not None}
    return kinds.pop() if len(kinds) == 1 else ("string" if not kinds else "json")


def from_json(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "decimal":
        return Decimal(value)
    if kind == "float":
        return float(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    return value


def encode_rows(rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Rows (dicts) as JSON data, and each column's kind."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    kinds = {c: column_kind(row.get(c) for row in rows) for c in columns}
    return [{k: to_json(v) for k, v in row.items()} for row in rows], kinds


def decode_rows(rows: list[dict], kinds: dict[str, str]) -> list[dict]:
    return [{k: from_json(v, kinds.get(k, "json")) for k, v in row.items()} for row in rows]


def encode_result(columns: list[str], rows: list[tuple]) -> dict:
    """A query's result (columns may repeat a name: rows are arrays)."""
    kinds = [column_kind(row[i] for row in rows) for i in range(len(columns))]
    return {"columns": list(columns), "column_types": kinds, "rows": [[to_json(v) for v in row] for row in rows]}


def decode_result(document: dict) -> tuple[list[str], list[tuple]]:
    kinds = document["column_types"]
    return document["columns"], [tuple(from_json(v, k) for v, k in zip(row, kinds)) for row in document["rows"]]
