"""The contractor side: validated events posted to the intake topic with kafka-python.

acks=all and an idempotent producer: a send is acknowledged only once the broker has it, and the
client's own retries do not duplicate it. Messages are keyed so that one beneficiary's events land
on one partition, in order.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from ledger.events import InvalidEvent, parse_event
from ledger.registry import subject_of
from streams.settings import Settings

# CSV cells are text: these columns are converted to JSON values before validation. A cell that
# does not read as a number stays text, and validation then names the field.
# Kafka batches of up to 256 KiB (kafka-python's default is 16 KiB), so that a programme's backlog goes
# out in few requests; the contractor producer also packs its events into messages of at most this size.
PRODUCER_BATCH_BYTES = 256 * 1024
_CSV_INTEGERS = {"schema_version", "birth_year"}
_CSV_DECIMALS = {"hours", "target_hours", "amount_eur", "labour_share", "clause_rate", "hourly_cost_eur"}
_CSV_LISTS = {"criteria"}  # several values separated by '|'
_DECIMAL_TEXT = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")


@dataclass
class Refusal:
    line: int
    reason: str
    detail: str


@dataclass
class PostReport:
    sent: int = 0
    refused: list[Refusal] = field(default_factory=list)


class ContractorProducer:
    """`batch_events` > 1 packs up to that many events bound for one partition into one Kafka
    message (a JSON array, each event keeping its own event_id), bounded by `batch_bytes` so that
    the worker's output for it stays under Kafka's 1 MB message limit. The partition is the one
    kafka-python's default partitioner gives the key (murmur2), so a beneficiary's events land
    where they would unbatched, in order. Call `send_pending()` (or `flush()`) to send part-filled
    batches."""

    def __init__(self, cfg: Settings, batch_events: int = 1, batch_bytes: int = PRODUCER_BATCH_BYTES):
        self.topic = cfg.intake_topic
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self._pending: dict[int, list[bytes]] = {}
        self._pending_bytes: dict[int, int] = {}
        self._partitions: list[int] | None = None
        self._partition_of: dict[bytes, int] = {}
        self._producer = KafkaProducer(
            bootstrap_servers=cfg.bootstrap_servers,
            client_id="ledger-contractor",
            acks="all",
            enable_idempotence=True,
            linger_ms=10,
            batch_size=PRODUCER_BATCH_BYTES,
            retries=10,
        )

    def send(self, value: bytes, key: str | None):
        """Send one event (or a message the caller made). Batching: only a validated event (a JSON
        object) with a key may be packed; returns the future of the message sent, or None while
        the event waits in its partition's batch."""
        raw_key = key.encode() if key is not None else None
        if self.batch_events <= 1 or raw_key is None:
            return self._producer.send(self.topic, value=value, key=raw_key)
        partition = self._partition(raw_key)
        pending = self._pending.setdefault(partition, [])
        if pending and self._pending_bytes[partition] + len(value) + 1 > self.batch_bytes:
            future = self._send_batch(partition)
            pending = self._pending.setdefault(partition, [])
        else:
            future = None
        pending.append(value)
        self._pending_bytes[partition] = self._pending_bytes.get(partition, 1) + len(value) + 1
        if len(pending) >= self.batch_events:
            future = self._send_batch(partition)
        return future

    def send_pending(self) -> list:
        """Send every part-filled batch; their futures."""
        return [self._send_batch(p) for p in list(self._pending) if self._pending[p]]

    def _partition(self, key: bytes) -> int:
        partition = self._partition_of.get(key)
        if partition is None:
            if self._partitions is None:
                self._partitions = sorted(self._producer.partitions_for(self.topic))
            # kafka-python's DefaultPartitioner, computed here so that the message can carry several keys.
            partition = self._partitions[(murmur2(key) & 0x7FFFFFFF) % len(self._partitions)]
            self._partition_of[key] = partition
        return partition

    def _send_batch(self, partition: int):
        events = self._pending.pop(partition)
        self._pending_bytes.pop(partition, None)
        value = b"[" + b",".join(events) + b"]" if len(events) > 1 else events[0]
        return self._producer.send(self.topic, value=value, partition=partition)

    def flush(self, timeout: float | None = None) -> None:
        self.send_pending()
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        self.send_pending()
        self._producer.close()

    def __enter__(self) -> ContractorProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CsvLineError(ValueError):
    """A CSV line that is not an event's row (a repeated column, more cells than columns): refused with
    its line number, as a line that is not a valid event is."""

    def __init__(self, line: int, field: str | None, message: str):
        super().__init__(message)
        self.line, self.field, self.message = line, field, message


def read_lines(path: Path) -> Iterator[tuple[int, str | CsvLineError]]:
    """(line number, JSON text) for each event in a JSONL or CSV file; a CSV line that cannot be an
    event gives a CsvLineError instead of the text. A UTF-8 byte-order mark (spreadsheets write one)
    is dropped, as the gateway does."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            yield from csv_events(f)
        return
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line.rstrip("\n")


def csv_events(f: Iterable[str]) -> Iterator[tuple[int, str | CsvLineError]]:
    """(line number, JSON text) for each row of a CSV text with a header row of field names.

    A header that names a column twice yields one CsvLineError for line 1 and nothing else (which
    value would count is a guess: the file is refused); a row with more cells than the header has
    columns yields a CsvLineError for its line (the extra cells would be lost). Fewer cells than
    columns: the missing ones are empty, i.e. absent fields."""
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None:
        return
    if header and header[0].startswith("\ufeff"):  # a byte-order mark the caller did not drop
        header[0] = header[0][1:]
    seen: set[str] = set()
    for column in header:
        if column in seen:
            yield reader.line_num, CsvLineError(reader.line_num, column, f"column {column!r} appears more than "
                                                "once in the header: the file is refused")
            return
        seen.add(column)
    for cells in reader:
        if not cells:
            continue  # a blank line
        if len(cells) > len(header):
            yield reader.line_num, CsvLineError(reader.line_num, None, f"{len(cells)} cells but the header has "
                                                f"{len(header)} columns: the extra cells belong to no field")
            continue
        obj = {}
        for column, cell in zip(header, cells):
            if cell == "":
                continue  # empty cell: field absent
            if column in _CSV_INTEGERS:
                obj[column] = int(cell) if cell.isdigit() else cell
            elif column in _CSV_DECIMALS:
                # Few enough digits that the float is the decimal written (checked by the pattern).
                obj[column] = float(cell) if _DECIMAL_TEXT.match(cell) else cell
            elif column in _CSV_LISTS:
                obj[column] = cell.split("|")
            else:
                obj[column] = cell
        yield reader.line_num, json.dumps(obj)


def post_lines(producer: ContractorProducer, lines: Iterable[tuple[int, str | CsvLineError]], progress=None,
               validate: bool = True) -> PostReport:
    """Validate each line and send it; a refused line is reported with its number and reason and
    the rest goes on. With validate=False lines are sent as they are (a client that does not
    validate: the worker then rejects what is wrong)."""
    report = PostReport()
    futures = []
    for number, text in lines:
        if isinstance(text, CsvLineError):  # not a row of fields: never sent
            report.refused.append(Refusal(number, "invalid_csv", text.message))
            if progress is not None:
                progress.update(1)
            continue
        raw = text.encode()
        try:
            key = subject_of(parse_event(raw))
        except InvalidEvent as invalid:
            if validate:
                report.refused.append(Refusal(number, invalid.reason, invalid.detail))
                if progress is not None:
                    progress.update(1)
                continue
            key = None
        future = producer.send(raw, key)
        if future is not None:
            futures.append(future)
        report.sent += 1
        if progress is not None:
            progress.update(1)
    futures.extend(producer.send_pending())
    producer.flush()
    for future in futures:
        future.get(timeout=30)  # raises if the broker did not acknowledge
    return report


def let_time_pass(cfg: Settings, until: dt.datetime) -> None:
    """Advance every intake partition's stream time to `until` with the worker's own tick.

    For tests and benchmarks that wait for pending timesheets to expire without waiting the
    rulebook's days: a tick is the workers' clock (streams.worker.app, its tick timer), and only a client with
    write access to the intake topic can send one. Kafka refuses timestamps more than an hour ahead
    (log.message.timestamp.after.max.ms), so `until` must be within that.
    """
    from streams.kafka.codec import TICK, TICK_HEADER

    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, acks="all", client_id="ledger-clock")
    try:
        futures = [producer.send(cfg.intake_topic, value=TICK, partition=partition,
                                 timestamp_ms=int(until.timestamp() * 1000), headers=[(TICK_HEADER, b"clock")])
                   for partition in sorted(producer.partitions_for(cfg.intake_topic))]
        producer.flush()
        for future in futures:
            future.get(timeout=30)  # raises if the broker refused the tick
    finally:
        producer.close()
