"""The contractor side: validated events posted to the intake topic with kafka-python.

acks=all and an idempotent producer: a send is acknowledged only once the broker has it, and the
client's own retries do not duplicate it. Messages are keyed so that one beneficiary's events land
on one partition, in order.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from kafka import KafkaProducer

from ledger.events import InvalidEvent, parse_event, partition_key
from streams.settings import Settings

# CSV cells are text: these columns are converted to JSON values before validation. A cell that
# does not read as a number stays text, and validation then names the field.
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
    def __init__(self, cfg: Settings):
        self.topic = cfg.intake_topic
        self._producer = KafkaProducer(
            bootstrap_servers=cfg.bootstrap_servers,
            client_id="ledger-contractor",
            acks="all",
            enable_idempotence=True,
            linger_ms=10,
            batch_size=256 * 1024,
            retries=10,
        )

    def send(self, value: bytes, key: str | None):
        return self._producer.send(self.topic, value=value, key=key.encode() if key is not None else None)

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> ContractorProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, JSON text) for each event in a JSONL or CSV file."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            yield from csv_events(f)
        return
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line.rstrip("\n")


def csv_events(f: io.TextIOBase) -> Iterator[tuple[int, str]]:
    reader = csv.DictReader(f)
    for row in reader:
        obj = {}
        for column, cell in row.items():
            if column is None or cell is None or cell == "":
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


def post_lines(producer: ContractorProducer, lines: Iterable[tuple[int, str]], progress=None,
               validate: bool = True) -> PostReport:
    """Validate each line and send it; a refused line is reported with its number and reason and
    the rest goes on. With validate=False lines are sent as they are (a client that does not
    validate: the worker then rejects what is wrong)."""
    report = PostReport()
    futures = []
    for number, text in lines:
        raw = text.encode()
        try:
            key = partition_key(parse_event(raw))
        except InvalidEvent as invalid:
            if validate:
                report.refused.append(Refusal(number, invalid.reason, invalid.detail))
                if progress is not None:
                    progress.update(1)
                continue
            key = None
        futures.append(producer.send(raw, key))
        report.sent += 1
        if progress is not None:
            progress.update(1)
    producer.flush()
    for future in futures:
        future.get(timeout=30)  # raises if the broker did not acknowledge
    return report
