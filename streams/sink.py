"""The ClickHouse sink of the loader: `add` records, `flush` them as one write per table.

Shaped like quixstreams' batching sinks: records accumulate in memory, `flush()` hands the batch
to `write()`, and only when `write()` returned may the caller commit the Kafka offsets behind it.
Writing the same records twice is harmless: every table keeps one row per id.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

from streams import metrics
from streams.store import Store

TABLE_OF_RECORD = {
    "entry": "ledger_entries",
    "programme": "programme_definitions",
    "contract": "contract_registrations",
    "beneficiary": "beneficiary_enrolments",
    "pending": "pending_timesheets",
    "pooling": "pooling_agreements",
    "outcome": "beneficiary_outcomes",
}


class ClickHouseSink:
    def __init__(self, store: Store):
        self.store = store
        self._batch: dict[str, list[bytes]] = defaultdict(list)
        self._size = 0
        self._oldest: float | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def oldest_timestamp(self) -> float | None:
        """Kafka timestamp (s) of the oldest record waiting, for freshness."""
        return self._oldest

    def add_ledger_record(self, record: dict, version: int) -> None:
        record["version"] = version
        self._add(TABLE_OF_RECORD[record["record"]], record)

    def add_rejection(self, rejection: dict) -> None:
        position = rejection.pop("position")
        rejection.update(source_topic=position["topic"], source_partition=position["partition"],
                         source_offset=position["offset"], source_index=position["index"])
        self._add("rejections", rejection)

    def note_timestamp(self, timestamp: float) -> None:
        if self._oldest is None or timestamp < self._oldest:
            self._oldest = timestamp

    def _add(self, table: str, row: dict) -> None:
        self._batch[table].append(json.dumps(row, separators=(",", ":")).encode())
        self._size += 1

    def flush(self) -> int:
        """Write the batch; raises (keeping the batch) if the store refuses it."""
        if not self._size:
            return 0
        self.write(self._batch)
        written, self._size, self._batch = self._size, 0, defaultdict(list)
        if self._oldest is not None:
            metrics.FRESHNESS.observe(max(0.0, time.time() - self._oldest))
        self._oldest = None
        return written

    def write(self, batch: dict[str, list[bytes]]) -> None:
        started = time.perf_counter()
        for table, rows in batch.items():
            self.store.insert_json_rows(table, b"\n".join(rows))
            metrics.LOADER_RECORDS.labels(table).inc(len(rows))
        metrics.LOADER_WRITE_SECONDS.observe(time.perf_counter() - started)
        metrics.LOADER_BATCH_RECORDS.observe(sum(len(rows) for rows in batch.values()))
