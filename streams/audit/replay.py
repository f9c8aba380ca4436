"""Replay: the whole ledger recomputed from the Kafka intake history under another rulebook.

The intake topic is read from offset 0 in stream order (message timestamp, then partition and
offset, the clock ticks included), routed and decided by the same PartitionProcessor as the
workers, here one for the whole history (one partition: every person's and contract's state in one
book), and written to a separate ClickHouse database. Then the two ledgers are compared contract
by contract. Every entry names the rulebook version and the rule that produced it.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from ledger.rulebook import Rulebook
from streams.kafka.codec import TICK_HEADER
from streams.settings import Settings
from streams.loader.sink import ClickHouseSink
from streams.store import Store
from streams.kafka.topics import read_topic
from streams.worker.processor import PartitionProcessor
from streams.worker.routing import EVENTS, TICK, route

BATCH = 5000


def read_history(cfg: Settings):
    """Every intake message, in stream order: (timestamp, partition, offset, value, is_tick)."""
    per_partition: dict[int, list] = defaultdict(list)
    for m in read_topic(cfg, cfg.intake_topic, timeout=None, client_id="ledger-replay"):
        tick = any(k == TICK_HEADER for k, _ in (m.headers or ()))
        per_partition[m.partition].append((m.timestamp, m.partition, m.offset, m.value, tick))
    return list(heapq.merge(*per_partition.values(), key=lambda m: (m[0], m[1], m[2])))


@dataclass
class ReplayResult:
    database: str
    messages: int
    decisions: int


def replay(cfg: Settings, rulebook: Rulebook, database: str) -> ReplayResult:
    store = Store(cfg.clickhouse_dsn, database)
    store.apply_schema()
    sink = ClickHouseSink(store)
    processor = PartitionProcessor(rulebook, sources=cfg.partitions)
    history = read_history(cfg)
    decisions = 0
    for version, (timestamp, partition, offset, value, tick) in enumerate(history):
        if tick:
            out = processor.process(TICK, f"{partition}:{timestamp}".encode(), None)
        else:
            routed = route(value or b"", cfg.intake_topic, partition, offset, timestamp, 1)
            out = processor.process(EVENTS, bytes(routed.get(0, b"")), None, routed.keys_unique)
        decisions += len(out.outcomes)
        for record in out.records:
            sink.add_ledger_record(dict(record), version=version)
        for rejection in out.rejections:
            sink.add_rejection(dict(rejection))
        if len(sink) >= BATCH:
            sink.flush()
    sink.flush()
    store.close()
    return ReplayResult(database, len(history), decisions)


def compare(store: Store, database: str) -> list[dict]:
    """Counted hours per contract in the store's database and in `database`, with the difference."""
    return store.rows("replay_differences", {"replay_database": database})


def total(rows: list[dict], column: str) -> Decimal:
    return sum((r[column] or Decimal(0) for r in rows), Decimal(0))
