"""The intake offsets a worker commits: never past an intake message its agent has not decided.

Faust 0.15 commits a partition's offset from the acks of its streams, and at a rebalance it can
ack a message it skipped (stale generation, paused flow: `Stream._py_aiter` acks skipped values),
commit a run of acks that starts one past the committed offset (`Consumer._new_offset`), or drop
fetched messages below a stale read offset (`Consumer._drain_messages`); faust#115, #216, #221.
Measured here: 49 of 731 events never decided after a second worker joined mid-stream. So the
intake topic is not acked through Faust. The agent admits each message through `IntakeOffsets`:
it decides the partition's offsets one after the other, a message past the next expected offset
means Faust lost some (the intake is neither compacted nor transactional: its offsets are dense),
which are read again from Kafka and decided first, and a timer commits what was decided once the
worker's outputs are flushed.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

from streams import metrics

log = logging.getLogger(__name__)


class Admission(enum.Enum):
    DECIDE = "decide"  # the next offset of its partition
    SEEN = "seen"  # decided already in this assignment (Faust delivered it again)
    GAP = "gap"  # past the next offset: the ones between were lost on the way


class IntakeProgress:
    """Per intake partition of this worker: the next offset to decide, and what was committed."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._committed: dict[int, int] = {}
        self._reported: dict[int, int] = {}

    def knows(self, partition: int) -> bool:
        return partition in self._next

    def start(self, partition: int, committed: int) -> None:
        """The partition is ours from its group's committed offset (or its first, if none)."""
        self._next[partition] = self._committed[partition] = self._reported[partition] = committed

    def expected(self, partition: int) -> int:
        return self._next[partition]

    def admit(self, partition: int, offset: int) -> Admission:
        expected = self._next[partition]
        if offset == expected:
            return Admission.DECIDE
        return Admission.SEEN if offset < expected else Admission.GAP

    def decided(self, partition: int, offset: int) -> None:
        if offset == self._next.get(partition):
            self._next[partition] = offset + 1

    def skip_to(self, partition: int, offset: int) -> None:
        """Offsets before `offset` can no longer be read: the partition goes on from there."""
        self._next[partition] = max(self._next[partition], offset)

    def forget(self, partitions) -> None:
        for partition in partitions:
            self._next.pop(partition, None)
            self._committed.pop(partition, None)
            self._reported.pop(partition, None)

    def next_of(self, partition: int) -> int | None:
        """The next offset to decide in `partition`: everything before it is decided."""
        return self._next.get(partition)

    def to_commit(self) -> dict[int, int]:
        """Kafka's committed offset is the next one to read: the next one to decide."""
        return {p: n for p, n in self._next.items() if n > self._committed.get(p, -1)}

    def newly_committed(self, partition: int) -> int | None:
        committed = self._committed.get(partition)
        if committed is None or committed == self._reported.get(partition):
            return None
        self._reported[partition] = committed
        return committed

    def committed(self, offsets: dict[int, int]) -> None:
        for partition, offset in offsets.items():
            if partition in self._committed:
                self._committed[partition] = max(self._committed[partition], offset)


@dataclass(frozen=True)
class Delivery:
    """An intake message read again from Kafka: the attributes of a Faust message the agent uses."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None  # seconds, as Faust gives them
    value: bytes | None
    headers: tuple = ()


class IntakeOffsets:
    """IntakeProgress over a Faust app's consumer (the intake topic created with acks=False).

    Messages Faust lost are read again by a consumer of our own, assigned to the partition and
    outside the group, and decided before the message that showed they were missing: seeking
    Faust's consumer back does not hold (its fetcher goes on with what it had fetched, and drops
    what comes below its read offset)."""

    READ_TIMEOUT_SECONDS = 30.0

    def __init__(self, app, topic: str, group_id: str, bootstrap_servers: str,
                 resume: Callable[[int, int], Awaitable[None]]) -> None:
        """`resume(partition, offset)` runs before a partition is read from its committed offset."""
        self.app = app
        self._resume = resume
        self.topic = topic
        self.group_id = group_id
        self.bootstrap_servers = bootstrap_servers
        self.progress = IntakeProgress()
        # Held while a message is decided and its outputs sent: a revocation waits for it, so the
        # partition's next owner restores tables that hold this message's writes.
        self.lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def admit(self, partition: int, offset: int) -> Admission | None:
        """How the agent takes this message (under `lock`); None: not this worker's to decide now."""
        try:
            if not self.progress.knows(partition):
                tp = TP(self.topic, partition)
                if tp not in self.app.consumer.assignment():
                    return None  # fetched before a revocation: its next owner decides it
                start = await self._start_offset(tp)
                await self._resume(partition, start)
                self.progress.start(partition, start)
        except Exception:
            # The broker did not answer. The message stays uncommitted, and the next one that
            # comes finds it missing.
            log.warning("intake partition %d: cannot place offset %d; it will be read again", partition, offset,
                        exc_info=True)
            return None
        return self.progress.admit(partition, offset)

    async def lost_before(self, partition: int, offset: int) -> AsyncIterator[Delivery]:
        """The messages from the next expected offset up to `offset`, read from Kafka."""
        expected = self.progress.expected(partition)
        log.warning("intake partition %d: offset %d delivered while %d is next; reading %d to %d again",
                    partition, offset, expected, expected, offset - 1)
        metrics.INTAKE_REREADS.inc()
        tp = TopicPartition(self.topic, partition)
        try:
            reader = await self._reading()
            reader.assign([tp])
            reader.seek(tp, expected)
            deadline = time.monotonic() + self.READ_TIMEOUT_SECONDS
            while self.progress.expected(partition) < offset and time.monotonic() < deadline:
                for record in (await reader.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if record.offset >= offset:
                        return
                    if record.offset > self.progress.expected(partition):
                        # Retention removed them before any worker decided them: nothing can
                        # read them again. Loud, and the partition goes on from what is left.
                        log.error("intake partition %d: offsets %d to %d were deleted from Kafka before they "
                                  "were decided", partition, self.progress.expected(partition), record.offset - 1)
                        self.progress.skip_to(partition, record.offset)
                    yield Delivery(self.topic, partition, record.offset,
                                   record.timestamp / 1000 if record.timestamp is not None else None,
                                   record.value, tuple(record.headers or ()))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("intake partition %d: reading from %d again failed; the next message retries",
                        partition, self.progress.expected(partition), exc_info=True)

    def decided(self, partition: int, offset: int) -> None:
        self.progress.decided(partition, offset)

    def newly_committed(self, partition: int) -> int | None:
        """The partition's committed offset, once each time it has moved on (or None)."""
        return self.progress.newly_committed(partition)

    async def admin(self) -> AIOKafkaAdminClient:
        """This worker's admin client (started once)."""
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
            await admin.start()
            self._admin = admin
        return self._admin

    async def _start_offset(self, tp: TP) -> int:
        committed = await (await self.admin()).list_consumer_group_offsets(
            self.group_id, partitions=[TopicPartition(tp.topic, tp.partition)])
        found = committed.get(TopicPartition(tp.topic, tp.partition))
        if found is not None and found.offset >= 0:
            return found.offset
        # No commit yet: from the start (auto_offset_reset=earliest).
        return (await self.app.consumer.earliest_offsets(tp))[tp]

    async def _reading(self) -> AIOKafkaConsumer:
        if self._reader is None:
            self._reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, group_id=None,
                                            enable_auto_commit=False, auto_offset_reset="earliest")
            await self._reader.start()
        return self._reader

    async def revoked(self, partitions) -> None:
        async with self.lock:  # the message being decided finishes, its outputs sent
            await self.app.producer.flush()
            self.progress.forget({tp.partition for tp in partitions if tp.topic == self.topic})

    async def commit(self, offsets: dict[int, int] | None = None, flush: bool = True) -> bool:
        """Commit what was decided (or `offsets`, taken from `progress.to_commit()` by the caller),
        once every output sent before is acknowledged (by a flush of the producer, unless the
        caller waited for those outputs itself: `flush=False`). True when they were committed."""
        if self.app.rebalancing:
            return False  # the partitions are changing hands: the next owner starts from the last commit
        offsets = self.progress.to_commit() if offsets is None else offsets
        if not offsets:
            return False
        if flush:
            await self.app.producer.flush()
        if self.app.rebalancing:
            return False
        # Faust's own commit path (assignment check, then the consumer thread's commit).
        if await self.app.consumer._commit({TP(self.topic, p): o for p, o in offsets.items()}):
            self.progress.committed(offsets)
            return True
        return False
