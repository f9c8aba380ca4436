"""Auditors' tools: read-only SQL on the store, and the reconciliation of the store with Kafka.

`ledger sql` runs ONE read-only statement: `streams.audit.sql_guard.check_read_only` first refuses
anything but SELECT / WITH / SHOW / DESCRIBE / EXPLAIN, INTO OUTFILE, functions that reach files,
the network or another process, and settings overrides (chDB writes `INTO OUTFILE` files even with
readonly=1); the engine then runs it with `readonly=1` as well. Its output is escaped: control
characters in the terminal table, formulas and line breaks in CSV (docs/security.md).

`ledger reconcile` reads the ledger and rejection topics from offset 0 with a fresh consumer (no
consumer group, nothing committed), recomputes what the store must hold (counted hours and entries
per contract, every entry's fields the totals depend on (ENTRY_FIELDS), the other records per kind
(reference data, pending timesheets), rejections by reason, each deduplicated by its id exactly as
the store's ReplacingMergeTree tables are) and compares it with ClickHouse, figure by figure and
entry by entry.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from streams.kafka.codec import decode_records
from streams.audit.report import printable, table
from streams.settings import Settings
from streams.loader.sink import TABLE_OF_RECORD
from streams.audit.sql_guard import SqlRefused, check_read_only
from streams.store import Store
from streams.kafka.topics import read_topic

READ_ONLY = {"readonly": 1}
# Every other kind of ledger record the loader stores (reference data, pending timesheets...), with
# the fields that identify one row of its table, as the table's ReplacingMergeTree key does.
RECORD_TABLES = {kind: table for kind, table in TABLE_OF_RECORD.items() if kind != "entry"}
RECORD_KEYS = {"pending": ("event_id", "state")}
DEFAULT_KEY = ("event_id",)


def open_store(cfg: Settings) -> Store:
    """The configured store, for reading (never creates anything); a clear message if it cannot open."""
    try:
        return Store.from_settings(cfg, create=False)
    except Exception as error:
        where = urlparse(cfg.clickhouse_dsn)
        shown = cfg.clickhouse_dsn if where.scheme == "chdb" else f"{where.scheme}://{where.hostname}:{where.port}"
        hint = (" (an embedded store is opened by one process at a time: the process that owns it answers "
                "through its live view, LEDGER_LIVE_URL; docs/live.md)") if where.scheme == "chdb" and "Unable to open the chdb engine" in str(error) else ""
        raise SystemExit(f"ledger: cannot open the store {shown}, database {cfg.clickhouse_database}: "
                         f"{error}{hint}") from None


# ---------------------------------------------------------------------------------------------
# ledger sql


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def read_only_query(store: Store, sql: str, parameters: dict[str, Any] | None = None,
                    limits: dict[str, Any] | None = None) -> QueryResult:
    """Run one statement that `check_read_only` accepts, with readonly=1 as well.

    `limits`: engine settings set by the caller, never by the query: bounds (max_execution_time,
    max_result_rows... from the live view's SQL endpoint) or a query file's plan choices
    (streams.store.QUERY_SETTINGS); readonly=1 always wins.

    Raises SqlRefused (the guard's refusal) or the client's error. Values the Python client cannot
    represent (a DateTime64 beyond year 9999 or before year 1 once put in its time zone) do not
    crash: the query runs again with date-times as integers, shown as ISO text in UTC.
    """
    statement = check_read_only(sql)
    settings = {**(limits or {}), **READ_ONLY}
    with store._lock:  # the store's one handle is shared with its other users
        try:
            result = store.client.query(statement, parameters=parameters, settings=settings)
            return QueryResult(list(result.column_names), list(result.result_rows))
        except (ValueError, OverflowError, OSError) as error:
            if isinstance(error, SqlRefused) or "out of range" not in str(error):
                raise
            result = store.client.query(statement, parameters=parameters, settings=settings,
                                        query_formats={"DateTime*": "int"})
    names = [t.name for t in result.column_types]
    rows = [tuple(_datetime_text(v, name) for v, name in zip(row, names)) for row in result.result_rows]
    return QueryResult(list(result.column_names), rows)


_DATETIME_TYPE = re.compile(r"DateTime(?:64\((\d+)[^)]*\)|\b)")


def _datetime_text(value: Any, type_name: str) -> Any:
    """A DateTime/DateTime64 read as an integer (seconds, or ticks of 10^-precision s), as ISO text
    in UTC: never out of range (years beyond 9999 or before 1 are written with their digits)."""
    found = _DATETIME_TYPE.search(type_name)
    if found is None or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_datetime_text(v, type_name) for v in value)
    if not isinstance(value, int):
        return value
    precision = int(found.group(1) or 0)
    seconds, fraction = divmod(value, 10 ** precision)
    days, second = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    text = f"{year:04d}-{month:02d}-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    if precision:
        text += f".{fraction:0{precision}d}"
    return text + "Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01, proleptic Gregorian, any year."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


# Cells a spreadsheet would read as a formula (OWASP "CSV injection"): prefixed with a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    """Any value the engine returns, as text (never raises)."""
    try:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dt.date, dt.datetime, dt.time)):
            return value.isoformat()
        if isinstance(value, (list, tuple)):
            return "|".join(_text(v) for v in value)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).decode("utf-8", "backslashreplace")
        return str(value)
    except Exception:  # noqa: BLE001 - a renderer never crashes on a value: show its repr
        return repr(value)


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: numbers as they are; text starting like a formula gets a leading
    quote ('=1+1), so that a spreadsheet shows it instead of evaluating it."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _text(value)
    text = _text(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_writer(out: Any) -> Any:
    """RFC 4180 CSV: CRLF between records, and any cell holding a CR, LF, comma or quote quoted
    (QUOTE_MINIMAL quotes the characters of the line terminator: both CR and LF)."""
    return csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def render_csv(result: QueryResult) -> str:
    out = io.StringIO(newline="")
    writer = csv_writer(out)
    writer.writerow([csv_cell(c) for c in result.columns])
    for row in result.rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def render_table(result: QueryResult) -> str:
    """An aligned text table; every text escaped (no control character reaches the terminal)."""
    # Keys by position: a SELECT may repeat a column name.
    keys = [(str(i), printable(_text(name))) for i, name in enumerate(result.columns)]
    rows = [{str(i): (v if isinstance(v, (int, float, Decimal, type(None), str)) and not isinstance(v, bool)
                      else _text(v)) for i, v in enumerate(row)} for row in result.rows]
    count = f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})"
    return f"{table(rows, keys)}\n{count}" if keys else count


# ---------------------------------------------------------------------------------------------
# ledger reconcile


@dataclass
class Totals:
    """What the store should hold, or holds: every figure the reconciliation compares."""

    counted_hours: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    entries: Counter = field(default_factory=Counter)  # distinct entries per contract, any status
    records: Counter = field(default_factory=Counter)  # other records per kind: programme, contract, ...
    rejections: Counter = field(default_factory=Counter)  # per reason
    # entry_id -> its ENTRY_FIELDS, normalised (Kafka side only: the store's rows are compared with
    # them as they are read, never all held in memory)
    entry_fields: dict[str, tuple] = field(default_factory=dict)

    @property
    def total_hours(self) -> Decimal:
        return sum(self.counted_hours.values(), Decimal(0))


@dataclass
class Difference:
    what: str
    kafka: Any
    clickhouse: Any

    def __str__(self) -> str:
        def shown(value: Any) -> str:
            if isinstance(value, Decimal):
                return f"{value:,.2f}"
            if isinstance(value, int) and not isinstance(value, bool):
                return f"{value:,}"
            return "NULL" if value is None else printable(str(value))

        return f"{self.what}: kafka {shown(self.kafka)}, clickhouse {shown(self.clickhouse)}"


@dataclass
class Reconciliation:
    kafka: Totals
    store: Totals
    messages: dict[str, int]
    loader_lag: int | None = None
    entry_differences: list[Difference] = field(default_factory=list)  # field by field, per entry

    @property
    def contracts(self) -> list[str]:
        return sorted(set(self.kafka.entries) | set(self.store.entries)
                      | set(self.kafka.counted_hours) | set(self.store.counted_hours))

    @property
    def differences(self) -> list[Difference]:
        found = []
        for c in self.contracts:
            in_kafka = self.kafka.counted_hours.get(c, Decimal(0))
            in_store = self.store.counted_hours.get(c, Decimal(0))
            if in_kafka != in_store:
                found.append(Difference(f"contract {c} counted hours", in_kafka, in_store))
            if self.kafka.entries.get(c, 0) != self.store.entries.get(c, 0):
                found.append(Difference(f"contract {c} entries", self.kafka.entries.get(c, 0),
                                        self.store.entries.get(c, 0)))
        for kind in RECORD_TABLES:
            if self.kafka.records[kind] != self.store.records[kind]:
                found.append(Difference(f"{kind} records", self.kafka.records[kind], self.store.records[kind]))
        for reason in sorted(set(self.kafka.rejections) | set(self.store.rejections)):
            if self.kafka.rejections[reason] != self.store.rejections[reason]:
                found.append(Difference(f"rejections {reason}", self.kafka.rejections[reason],
                                        self.store.rejections[reason]))
        return found + self.entry_differences

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        per_contract = []
        for c in self.contracts:
            kafka_hours = self.kafka.counted_hours.get(c, Decimal(0))
            store_hours = self.store.counted_hours.get(c, Decimal(0))
            kafka_entries, store_entries = self.kafka.entries.get(c, 0), self.store.entries.get(c, 0)
            per_contract.append({
                "contract": c, "kafka_hours": kafka_hours, "store_hours": store_hours,
                "difference": store_hours - kafka_hours, "kafka_entries": kafka_entries,
                "store_entries": store_entries,
                "check": "ok" if (kafka_hours, kafka_entries) == (store_hours, store_entries) else "DIFFERENT"})
        per_contract.append({
            "contract": "TOTAL", "kafka_hours": self.kafka.total_hours, "store_hours": self.store.total_hours,
            "difference": self.store.total_hours - self.kafka.total_hours,
            "kafka_entries": sum(self.kafka.entries.values()), "store_entries": sum(self.store.entries.values()),
            "check": "ok" if not any("contract " in d.what for d in self.differences) else "DIFFERENT"})
        contracts = table(per_contract, [
            ("contract", "contract"), ("kafka_hours", "kafka counted h"), ("store_hours", "clickhouse counted h"),
            ("difference", "difference h"), ("kafka_entries", "kafka entries"), ("store_entries", "clickhouse entries"),
            ("check", "check")])
        others = [{"what": f"{kind} records", "k": self.kafka.records[kind], "s": self.store.records[kind]}
                  for kind in RECORD_TABLES]
        for reason in sorted(set(self.kafka.rejections) | set(self.store.rejections)):
            others.append({"what": f"rejections {reason}", "k": self.kafka.rejections[reason],
                           "s": self.store.rejections[reason]})
        others.append({"what": "rejections (all)", "k": sum(self.kafka.rejections.values()),
                       "s": sum(self.store.rejections.values())})
        for row in others:
            row["check"] = "ok" if row["k"] == row["s"] else "DIFFERENT"
        records = table(others, [("what", "records"), ("k", "kafka"), ("s", "clickhouse"), ("check", "check")])
        read = ", ".join(f"{topic}: {n} messages" for topic, n in self.messages.items())
        lines = [f"Read from offset 0: {read}", "", contracts, "", records, ""]
        if self.loader_lag:
            lines.append(f"note: the loader's consumer group has not yet committed {self.loader_lag} message(s) "
                         f"of these topics: differences may be records not loaded yet; run again once it caught up")
        if self.ok:
            lines.append(f"OK: ClickHouse equals the Kafka ledger: {sum(self.store.entries.values())} entries, "
                         f"{self.store.total_hours:,.2f} counted hours, {sum(self.store.records.values())} "
                         f"other records, {sum(self.store.rejections.values())} rejections")
        else:
            lines.append(f"MISMATCH: {len(self.differences)} difference(s) between the Kafka ledger and ClickHouse")
            shown = self.differences[:MAX_SHOWN]
            lines += [f"  {d}" for d in shown]
            if len(self.differences) > len(shown):
                lines.append(f"  ... and {len(self.differences) - len(shown)} more")
        return "\n".join(lines)


def kafka_totals(cfg: Settings, timeout: float = 120) -> tuple[Totals, dict[str, int]]:
    totals = Totals()
    # entry_id -> (contract, status, hours): an entry written twice counts once, as in the store
    entries: dict[str, tuple[str, str, Decimal]] = {}
    records: set[tuple] = set()
    unknown: Counter = Counter()
    rejections: dict[str, str] = {}  # rejection_id -> reason
    messages = {cfg.ledger_topic: 0, cfg.rejections_topic: 0}
    for message in read_topic(cfg, cfg.ledger_topic, timeout):
        messages[cfg.ledger_topic] += 1
        for record in decode_records(message.value):
            kind = record.get("record")
            if kind == "entry":
                entry_id = str(UUID(str(record["entry_id"])))
                entries[entry_id] = (
                    record["contract_id"], record.get("status", "counted"), Decimal(str(record["hours"])))
                totals.entry_fields[entry_id] = kafka_entry_fields(record)
            elif kind in RECORD_TABLES:
                records.add((kind, *(str(record.get(f)) for f in RECORD_KEYS.get(kind, DEFAULT_KEY))))
            else:
                unknown[str(kind)] += 1
    for message in read_topic(cfg, cfg.rejections_topic, timeout):
        messages[cfg.rejections_topic] += 1
        for rejection in decode_records(message.value):
            rejections[str(UUID(str(rejection["rejection_id"])))] = rejection["reason"]
    for contract, status, hours in entries.values():
        totals.entries[contract] += 1
        if status == "counted":
            # Reversals carry negative hours: summed as they are, they net out what they cancel.
            totals.counted_hours[contract] += hours
    totals.records.update(key[0] for key in records)
    totals.rejections.update(rejections.values())
    for kind, n in unknown.items():  # records the loader does not store: shown, not compared
        messages[f"records of kind {kind!r} (not stored)"] = n
    return totals, messages


# What every total depends on, per entry: compared field by field between Kafka and the store.
ENTRY_FIELDS = ("contract_id", "programme_id", "operation_id", "contractor_siret", "beneficiary_id", "siae_siret",
                "kind", "status", "reason", "mode", "work_date", "hours", "reverses_entry_id", "source_event_id")
NULLABLE_FIELDS = {"siae_siret", "reverses_entry_id"}
UUID_FIELDS = {"reverses_entry_id", "source_event_id"}
UNIQUE_FIELDS = {"source_event_id", "reverses_entry_id"}  # not worth interning
MAX_SHOWN = 100  # differences listed; the count says how many there are


def _normal(name: str, value: Any) -> Any:
    """A field's value as both sides can be compared: text (dates ISO), hours as Decimal, None kept
    only where the column is Nullable (a missing text is stored as '')."""
    if value is None or value == "" and name in NULLABLE_FIELDS:
        return None if name in NULLABLE_FIELDS else ""
    if name == "hours":
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
    elif name in UUID_FIELDS:
        try:
            text = str(UUID(str(value)))
        except ValueError:
            text = str(value)
    else:
        text = str(value)
    return text if name in UNIQUE_FIELDS else sys.intern(text)


def kafka_entry_fields(record: dict) -> tuple:
    return tuple(_normal(name, record.get(name, "counted" if name == "status" else None)) for name in ENTRY_FIELDS)


STORE_ENTRIES_SQL = f"SELECT toString(entry_id), {', '.join(ENTRY_FIELDS)} FROM ledger_entries FINAL"


def _stream(store: Store, sql: str) -> Iterator[tuple]:
    """The rows of one read-only query, block by block (never the whole table in memory)."""
    statement = check_read_only(sql)
    with store._lock:
        with store.client.query_row_block_stream(statement, settings=READ_ONLY) as blocks:
            for block in blocks:
                yield from block


def store_totals(store: Store, kafka_entries: dict[str, tuple] | None = None
                 ) -> tuple[Totals, list[Difference]]:
    """The store's figures, and its entries compared field by field with `kafka_entries`."""
    totals = Totals()
    differences: list[Difference] = []
    kafka_entries = kafka_entries or {}
    seen: set[str] = set()
    contract_at = ENTRY_FIELDS.index("contract_id")
    status_at, hours_at = ENTRY_FIELDS.index("status"), ENTRY_FIELDS.index("hours")
    for row in _stream(store, STORE_ENTRIES_SQL):
        entry_id, values = row[0], tuple(_normal(name, v) for name, v in zip(ENTRY_FIELDS, row[1:]))
        contract = values[contract_at]
        totals.entries[contract] += 1
        if values[status_at] == "counted":
            totals.counted_hours[contract] += values[hours_at]
        seen.add(entry_id)
        expected = kafka_entries.get(entry_id)
        if expected is None:
            differences.append(Difference(f"entry {entry_id} (contract {contract})", "absent", "present"))
            continue
        for name, want, have in zip(ENTRY_FIELDS, expected, values):
            if want != have:
                differences.append(Difference(f"entry {entry_id} (contract {expected[contract_at]}) {name}",
                                              str(want) if want is not None else None,
                                              str(have) if have is not None else None))
    for entry_id, expected in kafka_entries.items():
        if entry_id not in seen:
            differences.append(Difference(f"entry {entry_id} (contract {expected[contract_at]})", "present",
                                          "absent"))
    for kind, name in RECORD_TABLES.items():
        totals.records[kind] = read_only_query(store, f"SELECT count() FROM {name} FINAL").rows[0][0]
    for reason, n in read_only_query(store, "SELECT reason, count() FROM rejections FINAL GROUP BY reason").rows:
        totals.rejections[reason] = n
    return totals, differences


def loader_lag(cfg: Settings, attempts: int = 3) -> int | None:
    """Messages of the ledger topics the loader's group has not committed yet (None if unknown).

    Asked again when the broker does not answer (a group in the middle of a rebalance)."""
    for attempt in range(attempts):
        lag = _loader_lag(cfg)
        if lag is not None:
            return lag
        time.sleep(1.0 * (attempt + 1))
    return None


def _loader_lag(cfg: Settings) -> int | None:
    from streams.live.lag import KafkaLag

    lag = KafkaLag(cfg)
    try:
        return lag.group_lag(cfg.loader_group, [cfg.ledger_topic, cfg.rejections_topic])
    except Exception:  # a diagnostic only: never let it hide the reconciliation
        return None
    finally:
        lag.close()


def reconcile(cfg: Settings, store: Store, timeout: float = 120) -> Reconciliation:
    kafka, messages = kafka_totals(cfg, timeout)
    stored, entry_differences = store_totals(store, kafka.entry_fields)
    return Reconciliation(kafka=kafka, store=stored, messages=messages, loader_lag=loader_lag(cfg),
                          entry_differences=entry_differences)
