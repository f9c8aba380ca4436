"""The loader: ledger and rejection topics into ClickHouse, offsets committed only after the write.

Batches are bounded by size and time. If ClickHouse refuses a write, the loader keeps the batch,
backs off and tries again; it commits nothing meanwhile, so a crash at any point re-reads records
whose rows may already be stored, and the stores' ids make that harmless.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from kafka import KafkaConsumer

from streams import metrics
from streams.settings import Settings
from streams.sink import ClickHouseSink
from streams.store import Store

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
METADATA_TIMEOUT_S = 60.0


class Loader:
    def __init__(self, cfg: Settings, store: Store):
        self.cfg = cfg
        self.sink = ClickHouseSink(store)
        self.consumer = KafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.loader_group,
            client_id="ledger-loader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.loader_batch_size,
            isolation_level="read_committed",
        )
        self.stopping = threading.Event()
        self.records_loaded = 0
        # Subscribe only once the broker's metadata lists both topics: a consumer that joins its
        # group before that gets no partitions and idles until its next metadata refresh (minutes).
        deadline = time.monotonic() + METADATA_TIMEOUT_S
        while not all(self.consumer.partitions_for_topic(t) for t in (cfg.ledger_topic, cfg.rejections_topic)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {cfg.ledger_topic}, {cfg.rejections_topic} not in the broker's metadata")
            time.sleep(0.2)
        self.consumer.subscribe([cfg.ledger_topic, cfg.rejections_topic])

    def run(self) -> None:
        batch_started = time.monotonic()
        try:
            while not self.stopping.is_set():
                polled = self.consumer.poll(timeout_ms=int(self.cfg.loader_batch_seconds * 1000),
                                            max_records=self.cfg.loader_batch_size)
                for tp, messages in polled.items():
                    for message in messages:
                        self._add(tp.topic, message)
                if len(self.sink) >= self.cfg.loader_batch_size or (
                        len(self.sink) and time.monotonic() - batch_started >= self.cfg.loader_batch_seconds):
                    self._flush_and_commit()
                    batch_started = time.monotonic()
            self._flush_and_commit()
        finally:
            self.consumer.close(autocommit=False)

    def stop(self) -> None:
        self.stopping.set()

    def _add(self, topic: str, message) -> None:
        self.sink.note_timestamp(message.timestamp / 1000)
        if topic == self.cfg.rejections_topic:
            self.sink.add_rejection(json.loads(message.value))
            return
        for record in json.loads(message.value):
            self.sink.add_ledger_record(record, version=message.offset)

    def _flush_and_commit(self) -> None:
        if not len(self.sink):
            return
        backoff = 0.5
        while True:
            try:
                written = self.sink.flush()
                break
            except Exception as error:  # the store is down or refused: keep the batch, retry
                metrics.LOADER_WRITE_FAILURES.inc()
                log.warning("ClickHouse write failed (%s); retrying in %.1fs", error, backoff)
                if self.stopping.wait(backoff) and backoff >= MAX_BACKOFF_S:
                    raise
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        # Only now, with the rows stored, may Kafka forget them.
        self.consumer.commit()
        self.records_loaded += written


def run_in_thread(loader: Loader) -> threading.Thread:
    thread = threading.Thread(target=loader.run, name="ledger-loader", daemon=True)
    thread.start()
    return thread
