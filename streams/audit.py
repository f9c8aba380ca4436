"""Auditors' tools: read-only SQL on the store, and the reconciliation of the store with Kafka.

`ledger sql` runs ONE query with the ClickHouse setting `readonly=1`: the engine itself refuses any
write, DDL or settings change, on a server and on the embedded chDB store alike.

`ledger reconcile` reads the ledger and rejection topics from offset 0 with a fresh consumer (no
consumer group, nothing committed), recomputes what the store must hold (counted hours and entries
per contract, the other records per kind (reference data, pending timesheets), rejections by reason,
each deduplicated by its id exactly as the store's ReplacingMergeTree tables are) and compares it
with ClickHouse, figure by figure.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from streams.codec import decode_records
from streams.report import table
from streams.settings import Settings
from streams.sink import TABLE_OF_RECORD
from streams.store import Store

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
        hint = (" (an embedded store is opened by one process at a time: stop the loader first, or use a "
                "ClickHouse server)") if where.scheme == "chdb" and "Unable to open the chdb engine" in str(error) else ""
        raise SystemExit(f"ledger: cannot open the store {shown}, database {cfg.clickhouse_database}: "
                         f"{error}{hint}") from None


# ---------------------------------------------------------------------------------------------
# ledger sql


class NotOneStatement(ValueError):
    """The text holds no statement, or more than one."""


def one_statement(sql: str) -> str:
    """The single statement of `sql` (trailing ';' dropped); raises if there are several or none.

    Semicolons inside quotes, backquotes and comments do not count. The engine would refuse a
    write anyway (readonly=1); this refuses `SELECT 1; SELECT 2`, which is ambiguous to print.
    """
    text = sql.strip()
    i, n, end = 0, len(text), None
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            i += 1
            while i < n and text[i] != ch:
                i += 2 if text[i] == "\\" else 1
        elif text.startswith("--", i) or ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 1
        elif ch == ";":
            if end is None:
                end = i
        elif end is not None and not ch.isspace():
            raise NotOneStatement("one statement at a time: the text holds several (separated by ';')")
        i += 1
    statement = (text if end is None else text[:end]).strip()
    if not statement:
        raise NotOneStatement("no statement given")
    return statement


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def read_only_query(store: Store, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
    """Run one statement with readonly=1: ClickHouse refuses anything but reading."""
    statement = one_statement(sql)
    with store._lock:  # the store's one handle is shared with its other users
        result = store.client.query(statement, parameters=parameters, settings=READ_ONLY)
        return QueryResult(list(result.column_names), list(result.result_rows))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "|".join(_csv_value(v) for v in value)
    return str(value)


def render_csv(result: QueryResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_value(v) for v in row])
    return out.getvalue()


def render_table(result: QueryResult) -> str:
    # Keys by position: a SELECT may repeat a column name.
    keys = [(str(i), name) for i, name in enumerate(result.columns)]
    rows = [{str(i): (v if isinstance(v, (int, float, Decimal, type(None), str)) and not isinstance(v, bool)
                      else _csv_value(v)) for i, v in enumerate(row)} for row in result.rows]
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
            return f"{value:,.2f}" if isinstance(value, Decimal) else f"{value:,}"

        return f"{self.what}: kafka {shown(self.kafka)}, clickhouse {shown(self.clickhouse)}"


@dataclass
class Reconciliation:
    kafka: Totals
    store: Totals
    messages: dict[str, int]
    loader_lag: int | None = None

    @property
    def contracts(self) -> list[str]:
        return sorted(set(self.kafka.entries) | set(self.store.entries)
                      | set(self.kafka.counted_hours) | set(self.store.counted_hours))

    @property
    def differences(self) -> list[Difference]:
        found = []
        for c in self.contracts:
            kh, sh = self.kafka.counted_hours.get(c, Decimal(0)), self.store.counted_hours.get(c, Decimal(0))
            if kh != sh:
                found.append(Difference(f"contract {c} counted hours", kh, sh))
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
        return found

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        per_contract = []
        for c in self.contracts:
            kh, sh = self.kafka.counted_hours.get(c, Decimal(0)), self.store.counted_hours.get(c, Decimal(0))
            ke, se = self.kafka.entries.get(c, 0), self.store.entries.get(c, 0)
            per_contract.append({"contract": c, "kh": kh, "sh": sh, "dh": sh - kh, "ke": ke, "se": se,
                                 "check": "ok" if (kh, ke) == (sh, se) else "DIFFERENT"})
        per_contract.append({"contract": "TOTAL", "kh": self.kafka.total_hours, "sh": self.store.total_hours,
                             "dh": self.store.total_hours - self.kafka.total_hours,
                             "ke": sum(self.kafka.entries.values()), "se": sum(self.store.entries.values()),
                             "check": "ok" if not any("contract " in d.what for d in self.differences)
                             else "DIFFERENT"})
        contracts = table(per_contract, [
            ("contract", "contract"), ("kh", "kafka counted h"), ("sh", "clickhouse counted h"),
            ("dh", "difference h"), ("ke", "kafka entries"), ("se", "clickhouse entries"), ("check", "check")])
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
            lines += [f"  {d}" for d in self.differences]
        return "\n".join(lines)


def read_topic(cfg: Settings, topic: str, timeout: float = 120) -> Iterator:
    """Every message of `topic`, from offset 0 to the end offsets taken when reading starts.

    A consumer without a group: it commits nothing and disturbs no one's offsets.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None, enable_auto_commit=False,
                             client_id="ledger-reconcile", auto_offset_reset="earliest",
                             isolation_level="read_committed")
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"no topic {topic!r} on {cfg.kafka_dsn}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if consumer.position(tp) < end[tp]}
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read up to the end offsets in {timeout:.0f}s")
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for message in messages:
                    if message.offset < end[tp]:
                        yield message
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close(autocommit=False)


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
                entries[str(UUID(str(record["entry_id"])))] = (
                    record["contract_id"], record.get("status", "counted"), Decimal(str(record["hours"])))
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


STORE_ENTRIES_SQL = """
SELECT contract_id, sumIf(hours, status = 'counted') AS counted_hours, count() AS entries
FROM ledger_entries FINAL
GROUP BY contract_id
"""


def store_totals(store: Store) -> Totals:
    totals = Totals()
    for contract, hours, entries in read_only_query(store, STORE_ENTRIES_SQL).rows:
        totals.counted_hours[contract] = Decimal(hours)
        totals.entries[contract] = entries
    for kind, name in RECORD_TABLES.items():
        totals.records[kind] = read_only_query(store, f"SELECT count() FROM {name} FINAL").rows[0][0]
    for reason, n in read_only_query(store, "SELECT reason, count() FROM rejections FINAL GROUP BY reason").rows:
        totals.rejections[reason] = n
    return totals


def loader_lag(cfg: Settings) -> int | None:
    """Messages of the ledger topics the loader's group has not committed yet (None if unknown)."""
    try:
        from kafka import KafkaAdminClient, KafkaConsumer

        admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id="ledger-reconcile-admin")
        try:
            committed = admin.list_group_offsets({cfg.loader_group: None}).get(cfg.loader_group, {})
        finally:
            admin.close()
        consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None,
                                 isolation_level="read_committed")
        try:
            from kafka import TopicPartition

            tps = [TopicPartition(t, p) for t in (cfg.ledger_topic, cfg.rejections_topic)
                   for p in (consumer.partitions_for_topic(t) or ())]
            end = consumer.end_offsets(tps)
        finally:
            consumer.close(autocommit=False)
        return sum(max(0, end[tp] - max(0, committed[tp].offset if tp in committed else 0)) for tp in tps)
    except Exception:  # a diagnostic only: never let it hide the reconciliation
        return None


def reconcile(cfg: Settings, store: Store, timeout: float = 120) -> Reconciliation:
    kafka, messages = kafka_totals(cfg, timeout)
    stored = store_totals(store)
    return Reconciliation(kafka=kafka, store=stored, messages=messages, loader_lag=loader_lag(cfg))
