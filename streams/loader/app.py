"""The loader: ledger and rejection topics into ClickHouse, offsets committed only after the write.

Pass-through: a message's value is already JSONEachRow (streams/kafka/codec.py), so the loader routes it
to its table by a header and appends the bytes; nothing is decoded or encoded again per record.
Batches are bounded by rows (LEDGER_LOADER_BATCH_SIZE, at most 100,000: one block per insert, see
deploy/clickhouse/schema/004_analytics.sql) and by time (LEDGER_LOADER_BATCH_SECONDS, at most 1 s).

Exactly once at the engine. A batch is a set of Kafka offset ranges, one per (topic, partition);
its id is derived from them, and each table insert of the batch carries the deduplication token
`<table>:<batch id>`. Before writing its rows the loader logs the ranges in `loader_batches`.
Restarted (or given partitions back) before it committed, a loader reads which batches it had
logged past the committed offsets and rebuilds exactly those batches (same ranges, same tokens):
the engine skips the inserts it already holds and writes the ones it missed, as
clickhouse-kafka-connect does. If ClickHouse refuses a write, the loader keeps the batch, backs off
and tries again with the same tokens. A batch it cannot rebuild identically (its partitions now
split between two loaders, its records gone) is written as a new batch: its rows are then stored
twice, and counted once (ReplacingMergeTree by id, read with FINAL; the analytics' dedup stage).

Kafka may go away too (a broker restarted, a coordinator moved). The loader then keeps polling,
which reconnects and rejoins the group, and retries the commit of what it has stored with backoff;
it never gives up on its own. Offsets it could not commit are only a cost: their records are read
and written again, counted once.

A rebalance that never ends. kafka-python 3.0.12 can lose the result of a group join: when a join
was started by a metadata change (not by the group) and its SyncGroup answer arrives just as
`poll()`'s timeout fires, the consumer believes it is stable, applies no assignment and fetches
nothing, for ever (seen here in ~1 start in 10: "Elected group leader" and no "Updated partition
assignment" after it; `JoinGroup` retries only when `rejoin_needed`, which that kind of join never
set). Two defences: the consumer learns its topics' metadata before its first join (the spurious
second join at every start came from a first assignment made with an empty metadata snapshot), and
a loader left without an assignment for two session timeouts replaces its consumer (docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from streams import metrics
from streams.loader.backoff import Backoff
from streams.kafka.codec import ledger_rows, rejection_rows
from streams.settings import Settings
from streams.loader.sink import ClickHouseSink
from streams.store import Store

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
METADATA_TIMEOUT_S = 60.0
# Bounds one blocking commit attempt, so that a broker outage does not stop the poll loop (which is
# what reconnects and rejoins the group) for kafka-python's 30 s request timeout at a time.
COMMIT_TIMEOUT_MS = 10_000
MAX_BATCH_ROWS = 100_000
MAX_BATCH_SECONDS = 1.0
# How long a batch being rebuilt may wait for its records before the loader gives up rebuilding.
REBUILD_TIMEOUT_S = 60.0
# A join waits for every member the group knows: a loader restarted after a crash waits until its
# dead predecessor's session expires (LEDGER_LOADER_SESSION_TIMEOUT_SECONDS, 45 s by default as in
# kafka-python) before the group assigns anything. Left without partitions this many times that
# long, the loader has met the lost-join bug above (or a join that will not end) and starts a new
# consumer.
REBALANCE_STALL_SESSIONS = 2

TP = tuple[str, int]
Ranges = dict[TP, tuple[int, int]]


def batch_id(ranges: Ranges) -> str:
    """Derived from the batch's offset ranges only: the same ranges give the same id, and tokens."""
    text = ",".join(f"{topic}:{partition}:{first}-{last}" for (topic, partition), (first, last) in sorted(ranges.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def token(table: str, ranges: Ranges) -> str:
    return f"{table}:{batch_id(ranges)}"


@dataclass
class Message:
    """A polled message, already routed: its rows per table."""
    tp: TP
    offset: int
    parts: list[tuple[str, bytes, int]]  # (table, JSONEachRow bytes, rows)
    timestamp: float = 0.0  # Kafka timestamp, seconds

    @property
    def rows(self) -> int:
        return sum(n for _, _, n in self.parts)


@dataclass
class Batch:
    ranges: Ranges
    messages: list[Message]
    rebuilt: bool = False
    rows: int = field(init=False)

    def __post_init__(self):
        self.rows = sum(m.rows for m in self.messages)

    @property
    def id(self) -> str:
        return batch_id(self.ranges)

    def tokens(self) -> dict[str, str]:
        return {table: f"{table}:{self.id}" for m in self.messages for table, _, _ in m.parts}


class Batcher:
    """Pure batching logic (no Kafka, no ClickHouse): which polled messages make the next batch.

    Normal batches take the waiting messages in arrival order up to `max_rows` (at least one
    message), ready when `max_rows` wait or the oldest has waited `max_seconds`. Batches to rebuild
    (`rebuild`) come first and take exactly their recorded ranges; messages past a range wait for
    the next batch."""

    def __init__(self, max_rows: int, max_seconds: float, clock=time.monotonic):
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.clock = clock
        self.waiting: deque[tuple[float, Message]] = deque()
        self.rows = 0
        self.to_rebuild: deque[Ranges] = deque()
        self._target_since: float | None = None

    def __len__(self) -> int:
        return self.rows

    def add(self, message: Message) -> None:
        target = self.to_rebuild[0] if self.to_rebuild else None
        if target is not None and message.tp in target and message.offset < target[message.tp][0]:
            self.abandon_rebuild(f"{message.tp} offset {message.offset} before the logged range {target[message.tp]}")
        self.waiting.append((self.clock(), message))
        self.rows += message.rows

    def rebuild(self, batches: list[Ranges]) -> None:
        self.to_rebuild.extend(batches)
        self._target_since = self.clock() if self.to_rebuild else None

    def abandon_rebuild(self, why: str) -> None:
        if self.to_rebuild:
            log.warning("not rebuilding %d logged batch(es) identically (%s): their records are written as new "
                        "batches, stored twice and counted once", len(self.to_rebuild), why)
        self.to_rebuild.clear()
        self._target_since = None

    def drop(self, tps: set[TP]) -> None:
        """Forget the waiting messages of partitions given away (their new owner reads them again)."""
        kept = deque((t, m) for t, m in self.waiting if m.tp not in tps)
        self.rows = sum(m.rows for _, m in kept)
        self.waiting = kept
        if self.to_rebuild and any(tp in tps for ranges in self.to_rebuild for tp in ranges):
            self.abandon_rebuild("partitions given away")

    def _target_complete(self, target: Ranges) -> bool:
        seen = {tp: -1 for tp in target}
        for _, m in self.waiting:
            if m.tp in seen and m.offset > seen[m.tp]:
                seen[m.tp] = m.offset
        return all(seen[tp] >= last for tp, (_, last) in target.items())

    def ready(self) -> bool:
        if self.to_rebuild:
            if self._target_complete(self.to_rebuild[0]):
                return True
            if self._target_since is not None and self.clock() - self._target_since > REBUILD_TIMEOUT_S:
                self.abandon_rebuild(f"records not read again within {REBUILD_TIMEOUT_S:.0f} s")
            else:
                return False
        if not self.waiting:
            return False
        return self.rows >= self.max_rows or self.clock() - self.waiting[0][0] >= self.max_seconds

    def take(self) -> Batch:
        if self.to_rebuild:
            target = self.to_rebuild.popleft()
            self._target_since = self.clock() if self.to_rebuild else None
            taken, kept = [], deque()
            for t, m in self.waiting:
                if m.tp in target and target[m.tp][0] <= m.offset <= target[m.tp][1]:
                    taken.append(m)
                else:
                    kept.append((t, m))
            self.waiting = kept
            self.rows -= sum(m.rows for m in taken)
            return Batch(dict(target), taken, rebuilt=True)
        taken, rows = [], 0
        while self.waiting and (not taken or rows + self.waiting[0][1].rows <= self.max_rows):
            _, m = self.waiting.popleft()
            taken.append(m)
            rows += m.rows
        self.rows -= rows
        ranges: Ranges = {}
        for m in taken:
            first, last = ranges.get(m.tp, (m.offset, m.offset))
            ranges[m.tp] = (min(first, m.offset), max(last, m.offset))
        return Batch(ranges, taken)


class Membership(ConsumerRebalanceListener):
    """What the group gave and took since the loader last looked, and since when it has had nothing.

    kafka-python 3 calls the listener from its IO thread while the loader's thread may be between
    two polls: the sets are swapped under a lock, so that no change is lost."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._revoked: set[TP] = set()
        self._assigned: set[TP] = set()
        self.unassigned_since: float | None = clock()  # subscribed, not yet assigned
        self.assignments = 0

    def on_partitions_revoked(self, revoked):
        with self._lock:
            self._revoked.update((tp.topic, tp.partition) for tp in revoked)
            if self.unassigned_since is None:
                self.unassigned_since = self.clock()

    def on_partitions_assigned(self, assigned):
        with self._lock:
            self._assigned.update((tp.topic, tp.partition) for tp in assigned)
            self.unassigned_since = None  # an empty assignment is an assignment too
            self.assignments += 1

    def take(self) -> tuple[set[TP], set[TP]]:
        """(revoked, assigned) since the last call."""
        with self._lock:
            revoked, assigned = self._revoked, self._assigned
            self._revoked, self._assigned = set(), set()
        return revoked, assigned

    def stalled(self, after: float) -> bool:
        since = self.unassigned_since
        return since is not None and self.clock() - since > after


class Loader:
    def __init__(self, cfg: Settings, store: Store):
        self.cfg = cfg
        self.store = store
        self.sink = ClickHouseSink(store)
        self.max_rows = max(1, min(cfg.loader_batch_size, MAX_BATCH_ROWS))
        self.stall_after = REBALANCE_STALL_SESSIONS * cfg.loader_session_timeout_seconds
        self.batcher = Batcher(self.max_rows, min(cfg.loader_batch_seconds, MAX_BATCH_SECONDS))
        self.consumer = self._new_consumer()
        self.stopping = threading.Event()
        self.records_loaded = 0
        self.batches_written = 0
        self.batches_rebuilt = 0  # of them, rebuilt from the batch log with their first tokens
        self._uncommitted: dict[TopicPartition, int] = {}  # stored, not yet committed
        self._commit_backoff = Backoff(most=MAX_BACKOFF_S)
        self._next_commit_at = 0.0
        self._owned: set[TP] = set()
        self.consumers_renewed = 0
        self.membership = self._subscribe()

    def _new_consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.cfg.bootstrap_servers,
            group_id=self.cfg.loader_group,
            client_id="ledger-loader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max(500, min(self.max_rows, 10_000)),
            isolation_level="read_committed",
            # Its default lets the reconnect backoff grow to 30 s: a restarted broker would wait
            # that long for the loader.
            reconnect_backoff_max_ms=2000,
            session_timeout_ms=int(self.cfg.loader_session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(min(3.0, self.cfg.loader_session_timeout_seconds / 3) * 1000),
        )

    def _subscribe(self) -> Membership:
        topics = [self.cfg.ledger_topic, self.cfg.rejections_topic]
        # Subscribe only once the broker's metadata lists both topics: a consumer that joins its
        # group before that gets no partitions and idles until its next metadata refresh (minutes).
        deadline = time.monotonic() + METADATA_TIMEOUT_S
        while not all(self.consumer.partitions_for_topic(t) for t in topics):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {', '.join(topics)} not in the broker's metadata")
            time.sleep(0.2)
        membership = Membership()
        self.consumer.subscribe(topics, listener=membership)
        # A metadata update now, subscribed: the coordinator's snapshot of the topics' partitions is
        # then full when it makes the first assignment, and no second join follows (see above).
        self.consumer.topics()
        return membership

    def run(self) -> None:
        poll_backoff = Backoff(most=MAX_BACKOFF_S)
        poll_ms = max(50, int(self.batcher.max_seconds * 1000 / 4))
        try:
            while not self.stopping.is_set():
                try:
                    polled = self.consumer.poll(timeout_ms=poll_ms)
                    poll_backoff.reset()
                except (KafkaError, OSError) as error:  # what kafka-python's own retries gave up on
                    wait = poll_backoff.next()
                    log.warning("Kafka poll failed (%r); polling again in %.1fs", error, wait)
                    self.stopping.wait(wait)
                    continue
                if self.membership.stalled(self.stall_after):
                    self._renew_consumer()  # what the old one polled is read again by the new one
                    continue
                self._rebalanced()
                for tp, messages in polled.items():
                    for message in messages:
                        self.batcher.add(self.route(tp.topic, tp.partition, message))
                while self.batcher.ready() and not self.stopping.is_set():
                    self._write(self.batcher.take())
                if self._uncommitted and time.monotonic() >= self._next_commit_at:
                    self._commit()
            if self.batcher.to_rebuild:
                self.batcher.abandon_rebuild("stopping")
            while len(self.batcher):
                self._write(self.batcher.take())
            if self._uncommitted:
                self._commit()
        finally:
            self.consumer.close(autocommit=False)

    def stop(self) -> None:
        self.stopping.set()

    def route(self, topic: str, partition: int, message) -> Message:
        if topic == self.cfg.rejections_topic:
            rows, n = rejection_rows(message.value)
            parts = [("rejections", rows, n)] if n else []
        else:
            parts = ledger_rows(message.value, message.headers, version=message.offset)
        return Message((topic, partition), message.offset, parts, message.timestamp / 1000)

    def _rebalanced(self) -> None:
        revoked, assigned = self.membership.take()
        if not (revoked or assigned):
            return
        gone = revoked - assigned  # kept partitions keep their position (kafka-python 3)
        new = assigned - self._owned
        self._owned = (self._owned - gone) | assigned
        if gone:
            self.batcher.drop(gone)  # their new owner reads them again from their commit
            self._uncommitted = {tp: o for tp, o in self._uncommitted.items() if (tp.topic, tp.partition) not in gone}
        if not new:
            return
        try:
            committed = {(topic, partition): self.consumer.committed(TopicPartition(topic, partition)) or 0
                         for topic, partition in new}
            logged = self.store.logged_batches(self.cfg.loader_group, committed)
        except Exception as error:  # nothing to rebuild identically: at worst rows stored twice, counted once
            log.warning("could not read the committed offsets or the loader's batch log (%s): "
                        "batches are not rebuilt identically", error)
            return
        rebuild = []
        for ranges in logged:
            if all(tp in new and first >= committed[tp] for tp, (first, _) in ranges.items()):
                rebuild.append(ranges)
            else:
                log.warning("logged batch %s cannot be rebuilt identically here: written as new", batch_id(ranges))
        if rebuild:
            log.warning("rebuilding %d logged batch(es) past the committed offsets, with their tokens", len(rebuild))
            self.batcher.rebuild(rebuild)

    def _renew_consumer(self) -> None:
        """A new member for the group, in place of one whose join did not end (see above)."""
        log.warning("no partitions from the group for %.0f s: the loader replaces its Kafka consumer",
                    self.stall_after)
        metrics.LOADER_CONSUMERS_RENEWED.inc()
        self.consumers_renewed += 1
        # What the old member held is read again from its last commit, by whoever gets it next.
        self.batcher.drop(set(self._owned))
        self._owned, self._uncommitted = set(), {}
        try:
            self.consumer.close(autocommit=False)
        except Exception as error:
            log.warning("closing the stalled consumer failed (%r)", error)
        self.consumer = self._new_consumer()
        self.membership = self._subscribe()

    def _write(self, batch: Batch) -> None:
        if not batch.messages:
            return
        for m in batch.messages:
            for table, rows, n in m.parts:
                self.sink.add_rows(table, rows, n)
            if m.timestamp:
                self.sink.note_timestamp(m.timestamp)
        backoff = Backoff(most=MAX_BACKOFF_S)
        logged = batch.rebuilt
        while True:
            try:
                if not logged:
                    self.store.log_batch(self.cfg.loader_group, batch.id, batch.ranges)
                    logged = True
                written = self.sink.flush(batch.tokens())
                break
            except Exception as error:  # the store is down or refused: keep the batch, retry
                metrics.LOADER_WRITE_FAILURES.inc()
                wait = backoff.next()
                log.warning("ClickHouse write failed (%s); retrying in %.1fs", error, wait)
                if self.stopping.wait(wait) and wait >= MAX_BACKOFF_S:
                    raise  # stopping, and the store has been down for a while: the batch stays uncommitted
        self.records_loaded += written
        self.batches_written += 1
        self.batches_rebuilt += batch.rebuilt
        # Only now, with the rows stored, may Kafka forget them.
        for (topic, partition), (_, last) in batch.ranges.items():
            tp = TopicPartition(topic, partition)
            self._uncommitted[tp] = max(self._uncommitted.get(tp, 0), last + 1)
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
