"""The loader: ledger and rejection topics into ClickHouse, offsets committed only after the write.

Batches are bounded by size and time. If ClickHouse refuses a write, the loader keeps the batch,
backs off and tries again; it commits nothing meanwhile, so a crash at any point re-reads records
whose rows may already be stored, and the stores' ids make that harmless.

Kafka may go away too (a broker restarted, a coordinator moved). The loader then keeps polling,
which reconnects and rejoins the group, and retries the commit of what it has stored with backoff;
it never gives up on its own. Offsets it could not commit are only a cost: their records are read
and written again, counted once.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from streams import metrics
from streams.backoff import Backoff
from streams.settings import Settings
from streams.sink import ClickHouseSink
from streams.store import Store

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
METADATA_TIMEOUT_S = 60.0
# Bounds one blocking commit attempt, so that a broker outage does not stop the poll loop (which is
# what reconnects and rejoins the group) for kafka-python's 30 s request timeout at a time.
COMMIT_TIMEOUT_MS = 10_000


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
            # Its default lets the reconnect backoff grow to 30 s: a restarted broker would wait
            # that long for the loader.
            reconnect_backoff_max_ms=2000,
        )
        self.stopping = threading.Event()
        self.records_loaded = 0
        self._batch_offsets: dict[TopicPartition, int] = {}  # next offset after the sink's records
        self._uncommitted: dict[TopicPartition, int] = {}  # stored, not yet committed
        self._commit_backoff = Backoff(most=MAX_BACKOFF_S)
        self._next_commit_at = 0.0
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
        poll_backoff = Backoff(most=MAX_BACKOFF_S)
        try:
            while not self.stopping.is_set():
                try:
                    polled = self.consumer.poll(timeout_ms=int(self.cfg.loader_batch_seconds * 1000),
                                                max_records=self.cfg.loader_batch_size)
                    poll_backoff.reset()
                except (KafkaError, OSError) as error:  # what kafka-python's own retries gave up on
                    wait = poll_backoff.next()
                    log.warning("Kafka poll failed (%r); polling again in %.1fs", error, wait)
                    self.stopping.wait(wait)
                    continue
                for tp, messages in polled.items():
                    for message in messages:
                        self._add(tp.topic, message)
                    self._batch_offsets[tp] = max(self._batch_offsets.get(tp, 0), messages[-1].offset + 1)
                if len(self.sink) >= self.cfg.loader_batch_size or (
                        len(self.sink) and time.monotonic() - batch_started >= self.cfg.loader_batch_seconds):
                    self._flush_and_commit()
                    batch_started = time.monotonic()
                elif self._uncommitted and time.monotonic() >= self._next_commit_at:
                    self._commit()
            self._flush_and_commit()
            if self._uncommitted:
                self._commit()
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
        backoff = Backoff(most=MAX_BACKOFF_S)
        while True:
            try:
                written = self.sink.flush()
                break
            except Exception as error:  # the store is down or refused: keep the batch, retry
                metrics.LOADER_WRITE_FAILURES.inc()
                wait = backoff.next()
                log.warning("ClickHouse write failed (%s); retrying in %.1fs", error, wait)
                if self.stopping.wait(wait) and wait >= MAX_BACKOFF_S:
                    raise  # stopping, and the store has been down for a while: the batch stays uncommitted
        self.records_loaded += written
        # Only now, with the rows stored, may Kafka forget them.
        for tp, offset in self._batch_offsets.items():
            self._uncommitted[tp] = max(self._uncommitted.get(tp, 0), offset)
        self._batch_offsets = {}
        self._commit()

    def _commit(self) -> None:
        """Commit what is stored; on failure keep it for a later attempt (the poll loop goes on)."""
        # Partitions the group gave to another loader are its to commit (it reads them again from the
        # last commit): trying them here would fail for ever.
        assigned = self.consumer.assignment()
        self._uncommitted = {tp: offset for tp, offset in self._uncommitted.items() if tp in assigned}
        if not self._uncommitted:
            return
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in self._uncommitted.items()}
        try:
            self.consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        except KafkaError as error:
            # Broker unreachable, coordinator moving, or the group rebalanced (CommitFailedError).
            # Polling rejoins; then the commit is tried again. Partitions given to another loader
            # meanwhile are read again from their last commit by it: rows written twice, counted once.
            metrics.LOADER_COMMIT_FAILURES.inc()
            backoff = self._commit_backoff.next()
            self._next_commit_at = time.monotonic() + backoff
            log.warning("Kafka offset commit failed (%r); the stored records of %d partitions stay uncommitted, "
                        "retrying in %.1fs", error, len(offsets), backoff)
            return
        if self._commit_backoff.failures:
            log.warning("Kafka offset commit succeeded after %d failed attempts", self._commit_backoff.failures)
        self._uncommitted = {}
        self._commit_backoff.reset()


def run_in_thread(loader: Loader) -> threading.Thread:
    thread = threading.Thread(target=loader.run, name="ledger-loader", daemon=True)
    thread.start()
    return thread
