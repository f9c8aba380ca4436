"""The worker's Faust app, built by `build_worker(cfg)`: two agents, two timers, the commit.

- `route` (on the intake topic) sends each intake message's events to the routed topic, on the
  partition of their key (routing.py). It decides nothing, so it needs no state.
- `decide` (on the routed topic) hands each routed message to its partition's PartitionProcessor
  and sends what it returns: ledger records, rejections, and reference data for the other
  partitions to learn (a contract decided here must reach every person's partition).
- The commit timer writes each partition's state delta (state.py), waits for it and for every
  output sent before, then commits the routed offsets, then the intake offsets (once their routed
  messages are durable). Offsets are committed by the worker itself (streams.kafka.offsets), never past a
  message it has not handled: faust-streaming 0.15 can ack messages it skipped at a rebalance.
- The tick timer sends a tick through each intake partition this worker routes, so that stream
  time passes (pending timesheets expire) on a quiet partition; routed on to every routed
  partition, it advances their watermark (processor.py) behind what was posted before it.

Faust stays the framework (app, agents, consumer group, timers), but not its tables: they write a
changelog record per key set and cannot merge writes (see state.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import faust

from ledger.desk import BooksUnavailable
from streams import metrics
from streams.compiled import compiled
from streams.kafka import codec, produce
from streams.kafka.offsets import Admission, IntakeOffsets
from streams.settings import Settings, load_rulebook
from streams.worker.processor import Outputs, PartitionProcessor
from streams.worker.routing import EVENTS, KEYS_HEADER, KIND_HEADER, LEARN, TICK, UNIQUE, route
from streams.worker.state import SNAPSHOT_HEADER, UPTO_HEADER, Snapshots, forget_before_snapshots, restore

log = logging.getLogger(__name__)

# Messages an agent takes at once, and how long it waits for them: a routed message can carry
# thousands of events, and the event loop must come back to the consumer's heartbeat in between.
TAKE, TAKE_WITHIN = 100, 0.05
ROUTED_MESSAGE_BYTES = STATE_RECORD_BYTES = codec.MAX_MESSAGE_BYTES
# A snapshot's records cut at each commit, after the deltas (~7 MB): the routed lock is held while
# they are cut, so this bounds how long a snapshot pauses the decisions at each commit.
SNAPSHOT_RECORDS_PER_COMMIT = 8


def delivery(sent: asyncio.Future) -> asyncio.Future:
    """What a commit awaits of a send: its outcome (the record's metadata) and nothing else. Faust's
    FutureMessage holds its message, value and all, as long as it is held; a commit awaits what
    was sent since the one before it, so every output of that time stayed in memory with it, and a
    snapshot's records all at once (220 MB for one partition at the Grand Paris size) until the
    commit ended. The worker holds this future instead; the message goes once it is delivered."""
    done = asyncio.get_running_loop().create_future()

    def settle(future: asyncio.Future) -> None:
        if done.done():
            return
        if future.cancelled():
            done.cancel()
        elif future.exception() is not None:
            done.set_exception(future.exception())
        else:
            done.set_result(future.result())

    sent.add_done_callback(settle)
    return done


def is_tick(value: bytes | None, headers) -> bool:
    """Only a message with this value AND this header is a clock tick: the same bytes from anyone
    else are decided like any event (and rejected)."""
    if value != codec.TICK:
        return False
    items = headers.keys() if hasattr(headers, "keys") else (k for k, _ in (headers or ()))
    return codec.TICK_HEADER in items


def _kind(headers) -> bytes:
    items = headers.items() if hasattr(headers, "items") else (headers or ())
    for key, value in items:
        if key == KIND_HEADER:
            return value
    return EVENTS


def _keys_unique(headers) -> bool:
    """Whether a routed batch says its events repeat no key (routing.py, KEYS_HEADER)."""
    items = headers.items() if hasattr(headers, "items") else (headers or ())
    return any(key == KEYS_HEADER and value == UNIQUE for key, value in items)


class Worker:
    """The worker's parts, wired on one Faust app (`self.app`)."""

    def __init__(self, cfg: Settings, rulebook=None) -> None:
        self.cfg = cfg
        self.rulebook = rulebook or load_rulebook(cfg)
        self.processors: dict[int, PartitionProcessor] = {}
        self.snapshots: dict[int, Snapshots] = {}  # per routed partition: when its state log gets a snapshot
        self._cutting: dict[int, _Cut] = {}  # the snapshot being written, a few records per commit
        # Per routed partition, its last snapshot whose earlier log is not deleted yet: (offset of its
        # first record in the state log, routed offset its last record covers).
        self._written_snapshots: dict[int, tuple[int, int]] = {}
        # What was sent since the last commit (delivery futures): a commit waits for these, not for
        # the producer to be idle, which it never is while the agents go on.
        self._routed_sends: list = []
        self._output_sends: list = []
        app = self.app = faust.App(
            cfg.worker_id,
            broker=cfg.kafka_dsn,
            datadir=str(cfg.worker_datadir),
            topic_partitions=cfg.partitions,
            topic_replication_factor=cfg.replication_factor,
            producer_acks=-1,
            # Outputs are a few sends per message: let them share produce requests.
            producer_linger=cfg.worker_linger_seconds,
            # One partition's batch may be in the accumulator while the previous one is in flight;
            # a send that finds its partition's batch full waits for the broker's answer to the
            # request before (aiokafka has one request in flight per broker). At 1 MB (about one
            # routed or ledger message) the agents waited so at nearly every send. 4 MiB measured +18 %
            # events/s at the medium size, +6 % at the Grand Paris size, the broker -10 to -19 % CPU per
            # event (docs/scaling.md). The CLI cuts it to what the topics accept (topics.batch_bytes_allowed).
            producer_max_batch_size=cfg.worker_batch_bytes,
            producer_max_request_size=16 * 1024 * 1024,  # aiokafka checks each record against it, not the request
            consumer_auto_offset_reset="earliest",
            # Messages prefetched per partition: on a backlog Faust fills its buffers to this many
            # before it pauses the fetch (4096 by default: up to 4096 x ~150 kB 500-event messages),
            # while the agents take 100 at a time.
            stream_buffer_maxsize=cfg.worker_stream_buffer,
            # A killed worker's partitions stay idle until the group gives up on it: Faust's 60 s
            # for both waits is longer than Kafka's own default session (45 s).
            broker_session_timeout=cfg.worker_session_timeout_seconds,
            broker_rebalance_timeout=cfg.worker_session_timeout_seconds,
            broker_heartbeat_interval=min(3.0, cfg.worker_session_timeout_seconds / 10),
            web_enabled=False,
            autodiscover=False,
        )
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        # acks=False: offsets are committed by streams.kafka.offsets, not from Faust's acks.
        self.intake_topic = app.topic(cfg.intake_topic, key_type=bytes, value_type=bytes, acks=False, **raw)
        self.routed_topic = app.topic(cfg.routed_topic, key_type=bytes, value_type=bytes, acks=False, **raw)
        self.ledger_topic = app.topic(cfg.ledger_topic, **raw)
        self.rejections_topic = app.topic(cfg.rejections_topic, **raw)
        self.state_topic = app.topic(cfg.state_topic, **raw)
        self.intake = IntakeOffsets(app, cfg.intake_topic, cfg.worker_id, cfg.bootstrap_servers, resume=self._nothing)
        self.routed = IntakeOffsets(app, cfg.routed_topic, cfg.worker_id, cfg.bootstrap_servers, resume=self._restore)

        app.agent(self.intake_topic, name="route")(self._route_agent)
        app.agent(self.routed_topic, name="decide")(self._decide_agent)
        app.timer(interval=cfg.worker_commit_seconds, name="commit")(self.commit)
        app.timer(interval=cfg.tick_seconds, name="tick")(self.tick)
        app.on_partitions_revoked.connect(self._on_revoked)

    # -- routing ---------------------------------------------------------------------------------
    #
    # Both agents take the messages Faust has buffered (up to TAKE, waiting at most TAKE_WITHIN for
    # more): a contractor system posting one event per message (kcat, the demo) would otherwise cost
    # two Faust events and a few sends per event. Each message is still admitted in order.

    async def _admitted(self, offsets: IntakeOffsets, events) -> list:
        """The messages of `events` this worker handles now, in order, lost ones read again first."""
        out = []
        for event in events:
            message = event.message
            admission = await offsets.admit(message.partition, message.offset)
            if admission is Admission.GAP:  # Faust lost messages before this one: they come first
                async for lost in offsets.lost_before(message.partition, message.offset):
                    out.append(lost)
                    offsets.progress.decided(lost.partition, lost.offset)
                admission = offsets.progress.admit(message.partition, message.offset)
            if admission is Admission.DECIDE:
                out.append(message)
                offsets.progress.decided(message.partition, message.offset)
        return out

    async def _route_agent(self, stream) -> None:
        async for events in stream.take_events(TAKE, within=TAKE_WITHIN):
            async with self.intake.lock:
                messages = await self._admitted(self.intake, events)
                try:
                    await self._route(messages)
                except Exception as error:
                    self.intake.progress.forget({m.partition for m in messages})
                    await self._stop("cannot route intake messages", error)

    async def _route(self, messages) -> None:
        batches: dict[int, bytearray] = {}
        unique: dict[int, bool] = {}  # whether every event of a partition's batch repeats no key
        for message in messages:
            stamp = int(message.timestamp * 1000) if message.timestamp else None
            if is_tick(message.value, message.headers):
                # The clock of `ledger`'s tools (streams.contractor.producer.let_time_pass): every partition's
                # time. It travels in the value: Kafka refuses a record timestamp over an hour ahead.
                await self._flush_routed(batches, unique)
                tick = f"{message.partition}:{stamp or 0}".encode()
                for partition in range(self.cfg.partitions):
                    self._routed_sends.append(delivery(await self.routed_topic.send(
                        value=tick, partition=partition, headers=[(KIND_HEADER, TICK)])))
                continue
            routed = route(message.value or b"", message.topic, message.partition, message.offset, stamp,
                           self.cfg.partitions)
            for partition, batch in routed.items():
                pending = batches.setdefault(partition, bytearray())
                if pending and len(pending) + len(batch) > ROUTED_MESSAGE_BYTES:
                    await self._send_routed(partition, pending, unique.pop(partition))
                    pending = batches[partition] = bytearray()
                pending += batch
                unique[partition] = unique.get(partition, True) and routed.keys_unique
        await self._flush_routed(batches, unique)

    async def _flush_routed(self, batches: dict[int, bytearray], unique: dict[int, bool]) -> None:
        for partition, batch in batches.items():
            if batch:
                await self._send_routed(partition, batch, unique.get(partition, False))
        batches.clear()
        unique.clear()

    async def _send_routed(self, partition: int, batch: bytearray, keys_unique: bool) -> None:
        headers = [(KIND_HEADER, EVENTS), (KEYS_HEADER, UNIQUE)] if keys_unique else [(KIND_HEADER, EVENTS)]
        self._routed_sends.append(delivery(await self.routed_topic.send(value=bytes(batch), partition=partition,
                                                                        headers=headers)))

    # -- deciding --------------------------------------------------------------------------------

    async def _decide_agent(self, stream) -> None:
        async for events in stream.take_events(TAKE, within=TAKE_WITHIN):
            async with self.routed.lock:
                messages = await self._admitted(self.routed, events)
                outputs: dict[int, Outputs] = {}
                try:
                    for message in messages:
                        out = self.processors[message.partition].process(
                            _kind(message.headers), message.value or b"", message.timestamp,
                            keys_unique=_keys_unique(message.headers))
                        outputs.setdefault(message.partition, Outputs()).extend(out)
                        await asyncio.sleep(0)  # the heartbeat and the timers between messages
                    # What bounds the sends waiting: aiokafka's accumulator holds one open batch per
                    # partition, and a send finding it full waits until the sender takes it.
                    for partition, out in outputs.items():
                        await self._send(out, partition)
                except Exception as error:
                    # Decisions never raise but for the state or the output path failing: going on
                    # would skip these messages, so the worker stops uncommitted and a restart
                    # decides them again.
                    self.routed.progress.forget({m.partition for m in messages})
                    await self._stop("cannot decide routed messages", error)
            try:
                now = time.time()
                for message in messages:
                    if _kind(message.headers) == EVENTS and message.timestamp:
                        metrics.INTAKE_DELAY.observe(max(0.0, now - message.timestamp))
                for out in outputs.values():
                    metrics.observe_outcomes(out.outcomes, None, now)
            except Exception:  # metrics must never stop the ledger
                log.exception("metrics failed")

    async def _send(self, out: Outputs, partition: int) -> None:
        # Reference data for the other partitions first: by the time a contract shows in the store,
        # what every partition must learn of it is on its way. Then the records, on the same
        # partition number as the routed message: one person's records stay in order.
        sent = self._output_sends
        if out.learned:
            learned = bytes(out.learned)
            for other in range(self.cfg.partitions):
                if other != partition:
                    sent.append(delivery(await self.routed_topic.send(value=learned, partition=other,
                                                                      headers=[(KIND_HEADER, LEARN)])))
        for value, headers in codec.encode_ledger(out.records):
            sent.append(delivery(await self.ledger_topic.send(value=value, partition=partition, headers=headers)))
        for rejection in out.rejections:
            sent.append(delivery(await self.rejections_topic.send(value=codec.encode_rejection(rejection),
                                                                  partition=partition)))

    async def _stop(self, what: str, error: Exception) -> None:
        log.critical("%s: stopping the worker", what, exc_info=error)
        await self.app.crash(error)
        raise BooksUnavailable(what) from error

    # -- partitions come and go ------------------------------------------------------------------

    async def _nothing(self, partition: int, committed: int) -> None:
        return None

    async def _restore(self, partition: int, committed: int) -> None:
        """The partition is decided here from its committed offset: its book as of that offset."""
        started = time.monotonic()
        restored = await restore(self.cfg.bootstrap_servers, self.cfg.state_topic, partition, committed)
        book = restored.book
        self.processors[partition] = PartitionProcessor(self.rulebook, book, sources=self.cfg.partitions)
        # As the log stands: a long log without a snapshot gets one at the next commit.
        self.snapshots[partition] = Snapshots(self.cfg.worker_snapshot_min_bytes, since=restored.since_snapshot,
                                              last=restored.snapshot_bytes)
        gc.collect()
        gc.freeze()  # the restored state is long-lived: the collector need not look at it again
        log.info("routed partition %d restored at offset %d in %.1fs from %d of %d state records (%d bytes, %s): %s",
                 partition, committed, time.monotonic() - started, restored.applied, restored.read, restored.bytes,
                 "from a snapshot" if restored.from_snapshot else "from the beginning", book.size())

    async def _on_revoked(self, app, revoked, **kwargs) -> None:
        await self.intake.revoked(revoked)
        await self.routed.revoked(revoked)
        for tp in revoked:
            if tp.topic == self.cfg.routed_topic:
                # Its next owner restores it from the last commit and decides the rest again.
                self.processors.pop(tp.partition, None)
                self.snapshots.pop(tp.partition, None)
                self._cutting.pop(tp.partition, None)
                self._written_snapshots.pop(tp.partition, None)

    # -- timers ----------------------------------------------------------------------------------

    async def commit(self) -> None:
        """State deltas first, then the routed offsets they cover, then the intake offsets; each
        once what was sent for the messages before it is acknowledged. A snapshot being written
        gets its next records after the deltas (`_cut_snapshot`)."""
        if self.app.rebalancing:
            return
        routed, intake, finished = {}, {}, []
        try:
            # A delta's records name disjoint keys, so they may land in any order: all are handed to
            # the producer at once and awaited together with the outputs, durable before the offsets
            # they cover are committed. Awaited one by one, each record cost a producer round trip
            # behind the agents' turns: after a burst a commit of ~200 records took 25-60 s.
            sent: list = []
            async with self.routed.lock:
                routed = self.routed.progress.to_commit()
                for p in routed:
                    if p in self.processors:
                        records = self.processors[p].book.take_deltas(STATE_RECORD_BYTES)
                        self.snapshots[p].wrote(sum(map(len, records)), snapshot=False)
                        sent += [await self._send_state(record, p, routed[p]) for record in records]
                finished = await self._cut_snapshot(routed, sent)
                outputs, self._output_sends = self._output_sends, []
            async with self.intake.lock:
                intake = self.intake.progress.to_commit()
                forwarded, self._routed_sends = self._routed_sends, []
            await asyncio.gather(*sent, *outputs, *forwarded)
        except Exception as error:
            if self.app.should_stop:
                # Stopping (SIGTERM): the producer closed under this timer. Nothing past the last
                # commit is committed; the next worker decides it again. Not a crash.
                log.warning("stopping: the last %d routed and %d intake offsets are left uncommitted (%r)",
                            len(routed), len(intake), error)
                return
            # The deltas' changes are no longer marked, or an output was lost: the worker must not
            # go on; a restart decides again from the last commit.
            await self._stop("cannot write the state log or the outputs", error)
        for partition, cut in finished:
            self._written_snapshots[partition] = ((await cut.first).offset, cut.upto)
        if routed:
            await self.routed.commit(routed, flush=False)
        await self._forget_before_snapshots()
        if intake:
            await self.intake.commit(intake, flush=False)

    async def _cut_snapshot(self, routed: dict[int, int], sent: list) -> list:
        """Under the routed lock, after the deltas: start a partition's snapshot when one is due and
        none is being written, and cut the next SNAPSHOT_RECORDS_PER_COMMIT records of the one being
        written (Book.snapshot_parts: fuzzy, its records cut while the book goes on changing, every
        change after a record in a later delta). Cut whole at one commit, as until 2026-12-05, a
        snapshot stopped the decisions for as long as it took: 1-2 s at the medium size, the
        freshness tail in docs/scaling.md. Each record's `upto` is the next routed offset to
        decide: it holds no decision past it, so a restore to a lower committed offset leaves it
        out. Returns the snapshots whose last record was cut: [(partition, _Cut)]."""
        if not self._cutting:
            partition = self._snapshot_due(routed)
            if partition is not None:
                book = self.processors[partition].book
                self._cutting[partition] = _Cut(self.processors[partition], book.snapshot_parts(STATE_RECORD_BYTES),
                                                str(self.routed.progress.next_of(partition)).encode())
        finished = []
        for partition, cut in list(self._cutting.items()):
            if self.processors.get(partition) is not cut.processor:  # changed hands: given up
                del self._cutting[partition]
                continue
            upto = self.routed.progress.next_of(partition)
            cut_now = 0
            while cut_now < SNAPSHOT_RECORDS_PER_COMMIT:
                records = next(cut.parts, None)
                if records is None:
                    del self._cutting[partition]
                    if cut.first is not None:
                        self.snapshots[partition].wrote(cut.size, snapshot=True)
                        metrics.STATE_SNAPSHOTS.inc()
                        finished.append((partition, cut))
                    break
                for record in records:
                    future = await self._send_state(record, partition, upto, snapshot=cut.id)
                    cut.first = future if cut.first is None else cut.first
                    cut.upto, cut.size = upto, cut.size + len(record)
                    sent.append(future)
                cut_now += len(records)
        return finished

    def _snapshot_due(self, routed: dict[int, int]) -> int | None:
        """The partition whose state log gets a snapshot now, if any: one at a time, so that the
        worker never holds several partitions' snapshots being written."""
        due = None
        for p in routed:
            if p in self.processors:
                policy = self.snapshots.setdefault(p, Snapshots(self.cfg.worker_snapshot_min_bytes))
                if due is None and policy.due():
                    due = p
        return due

    async def _send_state(self, record: bytes, partition: int, upto: int, snapshot: bytes | None = None):
        headers = [(UPTO_HEADER, str(upto).encode())] + ([(SNAPSHOT_HEADER, snapshot)] if snapshot else [])
        return delivery(await self.state_topic.send(value=record, partition=partition, headers=headers))

    async def _forget_before_snapshots(self) -> None:
        """A snapshot whose last record's offset the group has committed makes the state log before
        its first record useless to any restore: delete it. A failure only leaves the log longer (a
        restore reads it and the snapshot, the same book); it is tried again at the next commit."""
        if not self._written_snapshots or self.app.rebalancing:
            return
        try:
            deleted = await forget_before_snapshots(await self.routed.admin(), self.cfg.worker_id,
                                                    self.cfg.routed_topic, self.cfg.state_topic,
                                                    dict(self._written_snapshots))
            for partition in deleted:
                self._written_snapshots.pop(partition, None)
            if deleted:
                log.info("state log snapshots complete; deleted before them in partitions %s", sorted(deleted))
        except Exception:
            log.warning("cannot delete the state log before the snapshots at %s: a restore reads from further back",
                        self._written_snapshots, exc_info=True)

    async def tick(self) -> None:
        """A tick through each intake partition this worker routes: queued behind what was posted
        there before it, it says that partition's time has come this far (processor.py)."""
        for tp in self.app.consumer.assignment():
            if tp.topic == self.cfg.intake_topic:
                await self.intake_topic.send(value=codec.TICK, partition=tp.partition,
                                             headers=[(codec.TICK_HEADER, self.cfg.worker_id.encode())])


@dataclass
class _Cut:
    """A snapshot being written: its partition's processor when it began (another one, after a
    rebalance, gives it up), its records still to cut, its id (the `ledger-snapshot` header: the
    routed offset it began at), its first record's delivery, the `upto` of its last, its bytes."""

    processor: PartitionProcessor
    parts: Iterator[list[bytes]]
    id: bytes
    first: asyncio.Future | None = None
    upto: int = 0
    size: int = 0


def tune_collector() -> None:
    """Deciding allocates many short-lived containers around long-lived state tuples: collect the
    young generation less often (measured in docs/scaling.md)."""
    gc.set_threshold(50_000, 20, 100)


def build_worker(cfg: Settings, rulebook=None) -> Worker:
    tune_collector()
    log.info("compiled by Cython: %s", ", ".join(compiled()) or "none, the Python sources run (setup.py)")
    # Its produce requests carry every routed and ledger byte the worker writes: one copy of them,
    # not aiokafka's eight (streams/kafka/produce.py).
    produce.install()
    return Worker(cfg, rulebook)
