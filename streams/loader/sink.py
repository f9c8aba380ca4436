"""The ClickHouse sink of the loader: rows accumulate per table, `flush` writes one insert per table.

Rows arrive as JSONEachRow bytes, as the worker encoded them (streams/kafka/codec.py): the sink only
concatenates them, and each table's insert is the batch's bytes for that table, in one format the
engine parses natively. Every insert may carry an `insert_deduplication_token` (see the loader):
writing the same batch again with the same tokens is skipped by the engine; written under other
tokens it is still counted once (every table keeps one row per id, the analytics a dedup stage).
Only when `flush()` returned may the caller commit the Kafka offsets behind the batch.
"""

from __future__ import annotations

import time
from collections import defaultdict

from streams import metrics
from streams.kafka.codec import TABLE_OF_RECORD, VERSIONED_TABLES, encode_record, encode_rejection, loading_order
from streams.store import Store

__all__ = ["ClickHouseSink", "TABLE_OF_RECORD"]


class ClickHouseSink:
    def __init__(self, store: Store):
        self.store = store
        self._batch: dict[str, list[bytes]] = defaultdict(list)
        self._size = 0
        self._oldest: float | None = None

    def __len__(self) -> int:
        return self._size

    def add_rows(self, table: str, rows: bytes, count: int) -> None:
        """`count` JSONEachRow lines for `table`, passed through as they are."""
        self._batch[table].append(rows)
        self._size += count

    def add_ledger_record(self, record: dict, version: int) -> None:
        """One decoded record (replays and tests; the loader passes bytes through `add_rows`)."""
        table = TABLE_OF_RECORD[record["record"]]
        if table in VERSIONED_TABLES:
            record = {**record, "version": version}
        self.add_rows(table, encode_record(record), 1)

    def add_rejection(self, rejection: dict) -> None:
        self.add_rows("rejections", encode_rejection(rejection), 1)

    def note_timestamp(self, timestamp: float) -> None:
        if self._oldest is None or timestamp < self._oldest:
            self._oldest = timestamp

    def flush(self, tokens: dict[str, str] | None = None) -> int:
        """Write the batch (`tokens`: table -> deduplication token); raises, keeping it, if refused."""
        if not self._size:
            return 0
        self.write(self._batch, tokens or {})
        written, self._size, self._batch = self._size, 0, defaultdict(list)
        if self._oldest is not None:
            metrics.FRESHNESS.observe(max(0.0, time.time() - self._oldest))
        self._oldest = None
        return written

    def clear(self) -> None:
        self._size, self._batch, self._oldest = 0, defaultdict(list), None

    def write(self, batch: dict[str, list[bytes]], tokens: dict[str, str]) -> None:
        started = time.perf_counter()
        rows_total = 0
        for table in loading_order(batch):
            body = b"\n".join(batch[table])
            rows = body.count(b"\n") + 1
            self.store.insert_json_rows(table, body, token=tokens.get(table))
            metrics.LOADER_RECORDS.labels(table).inc(rows)
            rows_total += rows
        metrics.LOADER_WRITE_SECONDS.observe(time.perf_counter() - started)
        metrics.LOADER_BATCH_RECORDS.observe(rows_total)

