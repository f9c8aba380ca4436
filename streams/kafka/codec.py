"""How ledger records and rejections travel on Kafka, and how the loader routes them to tables.

THE WIRE FORMAT (what `encode_ledger` writes, what the loader passes through to ClickHouse)

* A ledger message is JSONEachRow: one compact JSON object per line, lines separated by b"\\n",
  every line a record of ONE table, named by the Kafka header `ledger-table` (e.g.
  `ledger_entries`). Each object starts with `"record":"<kind>"` (`entry`: hours recorded or
  reversed; `pending`: a timesheet waiting for reference data, or what became of it; or the
  reference data the entries rely on: `programme`, `contract`, `beneficiary`, `pooling`,
  `outcome`; or `resolution`, a facilitator's decision on a flagged claim), then the fields of
  that record with today's JSON types (entries as
  `ledger.entries.LedgerEntry` dumped to JSON, pending records as `PendingRecord`, reference
  records from `reference_record`). The loader hands the bytes to ClickHouse unchanged
  (`INSERT ... FORMAT JSONEachRow`, unknown fields such as `record` skipped): no per-record
  decoding. Messages stay under ~900 kB (`MAX_MESSAGE_BYTES`): a longer list is cut between lines.
* Reference records carry no `version`: the loader appends `"version": <ledger offset>` to each
  of their lines (a byte operation; these records are few), as later registrations win.
* A rejection message is one compact JSON object: the `Rejection` fields, its `position` object,
  and the same position flattened into the table's columns `source_topic`, `source_partition`,
  `source_offset`, `source_index` (so that it too passes through unchanged).
* Still read (the loader routes them without decoding when they are compact): today's worker's
  ledger message, a JSON array of records of any kinds (`encode_accepted`, each element starting
  with `{"record":"`); and, decoded record by record, any other JSON array or object a producer
  sent (e.g. tests, an older worker), and rejections with `position` only.

The worker calls `encode_ledger(records)` (plain dicts) and `encode_rejection(rejection)`, and
sends each (value, headers) pair as one message on the intake message's partition.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from itertools import accumulate

import orjson
from collections.abc import Iterable

from pydantic import BaseModel

from ledger.events import (
    BeneficiaryEnrolled,
    BeneficiaryOutcome,
    ContractRegistered,
    Event,
    PoolingAgreed,
    ProgrammeDefined,
)
from ledger.rulebook import Rulebook

REFERENCE_RECORDS = {ProgrammeDefined: "programme", ContractRegistered: "contract", BeneficiaryEnrolled: "beneficiary",
                     PoolingAgreed: "pooling", BeneficiaryOutcome: "outcome"}

TABLE_OF_RECORD = {
    "entry": "ledger_entries",
    "programme": "programme_definitions",
    "contract": "contract_registrations",
    "beneficiary": "beneficiary_enrolments",
    "pending": "pending_timesheets",
    "pooling": "pooling_agreements",
    "outcome": "beneficiary_outcomes",
    "resolution": "claim_resolutions",
}
# Tables whose rows carry `version` (the ledger offset of the record): the loader appends it.
VERSIONED_TABLES = frozenset({"programme_definitions", "contract_registrations", "beneficiary_enrolments",
                              "pooling_agreements", "beneficiary_outcomes", "claim_resolutions"})
TABLE_HEADER = "ledger-table"
# The most bytes of one message the pipeline writes (ledger records, routed events, state records):
# under the broker's default 1 MB limit (message.max.bytes), with room for its framing and headers.
MAX_MESSAGE_BYTES = 900_000

# The worker's own clock signal on an intake partition (see streams.worker.app, its tick timer): not an event. Only
# a message with this value AND this header is a tick; the same bytes from anyone else are decided
# like any event (and rejected), so nobody can make posted events vanish or forge stream time by
# accident. (Writing the header on purpose takes write access to the intake topic, which the
# deployment's ACLs give to the gateway and the workers only.)
TICK = b'{"type":"ledger.tick"}'
TICK_HEADER = "ledger-tick"

_RECORD_PREFIX = b'{"record":"'


def reference_record(event: Event, rulebook: Rulebook) -> dict:
    record = {"record": REFERENCE_RECORDS[type(event)], **event.model_dump(mode="json")}
    # The store keeps the effective values, so that auditors need not re-apply defaults.
    if isinstance(event, ContractRegistered):
        record["target_hours"] = str(rulebook.target_hours(event))
    elif isinstance(event, BeneficiaryEnrolled):
        record["eligible_until"] = rulebook.eligible_until(event).isoformat()
    return record


def _dumps(value: dict) -> bytes:
    # orjson writes what json.dumps(separators=(",", ":"), ensure_ascii=False) writes, at a tenth of
    # the cost; Decimals (and anything else it does not know) as their text, as before.
    return orjson.dumps(value, default=str)


def encode_record(record: dict) -> bytes:
    """One record as one compact JSON line, `"record"` first."""
    if next(iter(record), None) != "record":
        record = {"record": record["record"], **{k: v for k, v in record.items() if k != "record"}}
    return _dumps(record)


def _messages(table: str, lines: list[bytes]) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """`lines` joined by newlines into messages of at most MAX_MESSAGE_BYTES (a longer line alone),
    cut where the running size of the lines and their newlines passes it: found by bisection over
    that running size, not line by line in Python."""
    headers = [(TABLE_HEADER, table.encode())]
    ends = list(accumulate(len(line) + 1 for line in lines))  # bytes up to each line's newline
    out, start, before = [], 0, 0
    while start < len(lines):
        # The lines from `start` whose sizes with a newline each fit (as the line-by-line cut had it).
        stop = max(start + 1, bisect_right(ends, before + MAX_MESSAGE_BYTES, lo=start))
        out.append((b"\n".join(lines[start:stop]), headers))
        start, before = stop, ends[stop - 1]
    return out


def encode_lines(lines: Iterable[tuple[str, bytes]]) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """(kind, JSON line) pairs -> ledger messages, one table each: pending records first (see
    `loading_order`), then the others in the order of first appearance."""
    by_table: dict[str, list[bytes]] = {}
    for kind, line in lines:
        by_table.setdefault(TABLE_OF_RECORD[kind], []).append(line)
    return [m for table in loading_order(by_table) for m in _messages(table, by_table[table])]


def loading_order(tables: Iterable[str]) -> list[str]:
    """Tables in the order their rows should become visible: `pending_timesheets` first. A released
    timesheet is a `resolved` pending record and the entries it makes; stored in that order, a
    reader between the two sees it neither pending nor accepted for a moment (posted is not reached
    yet), never both (posted reached with an event still to come: a count read too early)."""
    return sorted(tables, key=lambda table: table != TABLE_OF_RECORD["pending"])


def encode_ledger(records: list[dict]) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """Plain dict records (each with its `record` kind) -> (value, headers) ledger messages."""
    return encode_lines((r["record"], encode_record(r)) for r in records)


def encode_rejection(rejection) -> bytes:
    """A rejection (a `Rejection` or its JSON dict) as one JSON object, position also flattened."""
    if isinstance(rejection, BaseModel):
        rejection = rejection.model_dump(mode="json")
    position = rejection.get("position")
    if position is not None and "source_offset" not in rejection:
        rejection = {**rejection, "source_topic": position["topic"], "source_partition": position["partition"],
                     "source_offset": position["offset"], "source_index": position.get("index", 0)}
    return _dumps(rejection)


def decode_records(value: bytes) -> list[dict]:
    """Every record of a ledger or rejection message, whatever its format (for audits, not the loader)."""
    value = value.strip()
    if value.startswith(b"["):
        records = json.loads(value)
        return records if isinstance(records, list) else [records]
    return [json.loads(line) for line in value.split(b"\n") if line.strip()]


# The loader's side: message -> (table, JSONEachRow bytes, rows), without decoding when possible.

def _with_version(lines: list[bytes], version: int) -> list[bytes]:
    suffix = b',"version":%d}' % version
    return [line.rstrip()[:-1] + suffix for line in lines]


def _route_lines(lines: list[bytes], version: int) -> list[tuple[str, bytes, int]]:
    """Compact record lines (each starting with {"record":"KIND") grouped by table."""
    by_table: dict[str, list[bytes]] = {}
    for line in lines:
        kind = line[len(_RECORD_PREFIX):line.index(b'"', len(_RECORD_PREFIX))].decode()
        by_table.setdefault(TABLE_OF_RECORD[kind], []).append(line)
    out = []
    for table, table_lines in by_table.items():
        if table in VERSIONED_TABLES:
            table_lines = _with_version(table_lines, version)
        out.append((table, b"\n".join(table_lines), len(table_lines)))
    return out


def ledger_rows(value: bytes, headers, version: int) -> list[tuple[str, bytes, int]]:
    """A ledger message as (table, JSONEachRow bytes, rows) parts; `version` is its offset."""
    table = None
    for key, header_value in headers or ():
        if key == TABLE_HEADER:
            table = header_value.decode()
    value = value.strip()
    if not value:
        return []
    if table is not None:  # this format: passed through as it is
        if table in VERSIONED_TABLES:
            lines = _with_version(value.split(b"\n"), version)
            return [(table, b"\n".join(lines), len(lines))]
        return [(table, value, value.count(b"\n") + 1)]
    if value.startswith(b"[" + _RECORD_PREFIX) and value.endswith(b"}]"):  # today's worker
        body = value[1:-1].replace(b'},' + _RECORD_PREFIX, b'}\n' + _RECORD_PREFIX)
        n = body.count(b"\n") + 1
        if body.count(b'{"record":"entry"') == n:
            return [("ledger_entries", body, n)]
        return _route_lines(body.split(b"\n"), version)
    if value.startswith(_RECORD_PREFIX) and b"\n" in value:  # JSONEachRow without the header
        return _route_lines(value.split(b"\n"), version)
    # Anything else: decoded and encoded again, record by record.
    lines = [encode_record(r) for r in decode_records(value)]
    return _route_lines(lines, version)


def rejection_rows(value: bytes) -> tuple[bytes, int]:
    """A rejection message as (JSONEachRow bytes, rows)."""
    value = value.strip()
    if value.startswith(b"{") and b'"source_offset":' in value and b"\n" not in value:
        return value, 1
    rows = [encode_rejection(r) for r in decode_records(value)]
    return b"\n".join(rows), len(rows)
