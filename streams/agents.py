"""The worker's agent: every intake event gets exactly one decision, sent on to the loader."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition

from ledger.entries import Position
from ledger.events import BeneficiaryEnrolled, ContractRegistered, Event
from ledger.intake import BooksUnavailable, Claim, Decision, Desk, Memo, failed, split_message
from ledger.pending import Parked
from streams import metrics
from streams.app import (
    app,
    beneficiaries,
    cfg,
    contracts,
    days,
    events,
    intake_topic,
    ledger_topic,
    pending,
    rejections_topic,
    rulebook,
    training,
)
from streams.backoff import Backoff
from streams.offsets import Admission, IntakeOffsets
from streams.codec import TICK, TICK_HEADER, encode_accepted, encode_rejection
from streams.topics import changelog_topic

log = logging.getLogger(__name__)


class TableBooks:
    """`ledger.intake.Books` over Faust tables (values are JSON), with parsed models cached.

    Every table write is a Kafka send to its changelog, the worker's main cost. So writes wait in
    a buffer until `flush()` (once per intake message): a key written twice in a message is sent
    once, and an event's decision (memo) and its claim share one value of the `events` table.
    Reference data is written at once: other partitions' pending timesheets wait for it."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], tuple[str, object]] = {}
        # Contracts other workers registered, read from the contracts changelog (follow_contracts).
        self.followed: dict[str, str] = {}
        self._writes: dict[tuple[str, str], tuple[object, str | None]] = {}  # (table, key) -> (table, value)

    def _get(self, table, key: str) -> str | None:
        buffered = self._writes.get((table.name, key))
        return table.get(key) if buffered is None else buffered[1]

    def _set(self, table, key: str, value: str | None) -> None:
        self._writes[(table.name, key)] = (table, value)

    def _items(self, table):
        """The table's items as they will be once flushed."""
        buffered = {key: value for (name, key), (_, value) in self._writes.items() if name == table.name}
        yield from buffered.items()
        for key, value in table.items():
            if key not in buffered:
                yield key, value

    def _values(self, table):
        return (value for _, value in self._items(table))

    def flush(self) -> None:
        writes, self._writes = self._writes, {}
        for (_, key), (table, value) in writes.items():
            table[key] = value

    def _model(self, raw: str | None, kind: str, key: str, model):
        if raw is None:
            return None
        cached = self._parsed.get((kind, key))
        if cached is not None and cached[0] == raw:
            return cached[1]
        parsed = model.model_validate_json(raw)
        self._parsed[(kind, key)] = (raw, parsed)
        return parsed

    def contract(self, contract_id: str) -> ContractRegistered | None:
        raw = contracts.get(contract_id) or self.followed.get(contract_id)
        return self._model(raw, "c", contract_id, ContractRegistered)

    def beneficiary(self, beneficiary_id: str) -> BeneficiaryEnrolled | None:
        return self._model(beneficiaries.get(beneficiary_id), "b", beneficiary_id, BeneficiaryEnrolled)

    def keep_reference(self, event: Event) -> None:
        if isinstance(event, ContractRegistered):
            contracts[event.contract_id] = event.model_dump_json()
        elif isinstance(event, BeneficiaryEnrolled):
            beneficiaries[event.beneficiary_id] = event.model_dump_json()

    def reference_version(self) -> int:
        return len(contracts) + len(beneficiaries) + len(self.followed)

    # An `events` value is the memo's JSON, a newline, then the claim's JSON (or nothing): JSON
    # text never holds a raw newline, and each half parses on its own.
    def _event(self, event_id: UUID) -> tuple[str, str]:
        raw = self._get(events, str(event_id))
        memo, _, claim = (raw or "").partition("\n")
        return memo, claim

    def memo(self, event_id: UUID) -> Memo | None:
        memo, _ = self._event(event_id)
        return Memo.model_validate_json(memo) if memo else None

    def remember(self, event_id: UUID, memo: Memo) -> None:
        _, claim = self._event(event_id)
        self._set(events, str(event_id), f"{memo.model_dump_json()}\n{claim}")

    def claim(self, event_id: UUID) -> Claim | None:
        _, claim = self._event(event_id)
        return Claim.model_validate_json(claim) if claim else None

    def put_claim(self, claim: Claim) -> None:
        memo, _ = self._event(claim.event_id)
        self._set(events, str(claim.event_id), f"{memo}\n{claim.model_dump_json()}")

    def claims_of(self, beneficiary_id: str) -> list[Claim]:
        # A scan, but only when an enrolment changes: rare next to timesheets.
        needle = f'"beneficiary_id":"{beneficiary_id}"'
        found = (raw.partition("\n")[2] for raw in self._values(events) if raw)
        return [Claim.model_validate_json(claim) for claim in found if needle in claim]

    def day(self, beneficiary_id: str, day: dt.date) -> list[UUID]:
        return [UUID(i) for i in json.loads(self._get(days, f"{beneficiary_id}|{day}") or "[]")]

    def put_day(self, beneficiary_id: str, day: dt.date, claim_ids: list[UUID]) -> None:
        self._set(days, f"{beneficiary_id}|{day}", json.dumps([str(i) for i in claim_ids]))

    def training(self, beneficiary_id: str) -> list[UUID]:
        return [UUID(i) for i in json.loads(self._get(training, beneficiary_id) or "[]")]

    def put_training(self, beneficiary_id: str, claim_ids: list[UUID]) -> None:
        self._set(training, beneficiary_id, json.dumps([str(i) for i in claim_ids]))

    def park(self, parked: Parked) -> None:
        self._set(pending, str(parked.record.event_id), parked.model_dump_json())

    def parked(self, partition: int) -> list[Parked]:
        # A scan, but only when a partition resumes: the desk keeps what it read, indexed.
        found = (Parked.model_validate_json(raw) for _, raw in self._items(pending) if raw is not None)
        return [p for p in found if p.position.partition == partition]

    def unpark(self, parked: Parked) -> None:
        self._set(pending, str(parked.record.event_id), None)  # a tombstone in the changelog


class GuardedBooks:
    """Any failure of the tables is BooksUnavailable: it stops the worker instead of costing the
    event a rejection (the event is fine; its state could not be read or written)."""

    def __init__(self, books: TableBooks) -> None:
        self._books = books

    def __getattr__(self, name: str):
        method = getattr(self._books, name)

        def guarded(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except Exception as error:
                raise BooksUnavailable(f"table operation {name} failed: {error}") from error

        return guarded


books = TableBooks()
desk = Desk(GuardedBooks(books), rulebook)


def is_tick(value: bytes, headers) -> bool:
    if value != TICK:
        return False
    keys = headers.keys() if hasattr(headers, "keys") else (k for k, _ in (headers or ()))
    return TICK_HEADER in keys


def decide_message(value: bytes, topic: str, partition: int, offset: int, timestamp: float | None,
                   tick: bool = False) -> list[Decision]:
    now = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc) if timestamp else None
    if tick:
        return desk.tick(partition, now, offset) if now else []
    # A malformed array (even a JSON bomb) is decided as one event: split_message returns None for it.
    items = split_message(value)
    if items is None:
        return decide_safely(value, Position(topic=topic, partition=partition, offset=offset), now)
    decisions = []
    for i, item in enumerate(items):
        decisions += decide_safely(item, Position(topic=topic, partition=partition, offset=offset, index=i), now)
    return decisions


def decide_safely(raw: bytes, position: Position, now: dt.datetime | None) -> list[Decision]:
    try:
        return desk.decide(raw, position, now)
    except BooksUnavailable:
        raise  # the worker stops, uncommitted; a restart decides this event again
    except Exception as error:  # a defect on this event costs it a visible rejection, not the agent
        log.exception("processing failed at %s", position)
        return [failed(raw, position, error)]


@app.agent(intake_topic, name="attribute")
async def attribute(stream):
    async for event in stream.events():
        message = event.message
        async with intake.lock:
            admission = await intake.admit(message.partition, message.offset)
            if admission is Admission.GAP:  # Faust lost messages before this one: they come first
                async for lost in intake.lost_before(message.partition, message.offset):
                    await decide_in_turn(lost)
                admission = intake.progress.admit(message.partition, message.offset)
            if admission is Admission.DECIDE:
                await decide_in_turn(message)


async def decide_in_turn(message) -> None:
    decisions = await decide_and_send(message, intake.newly_committed(message.partition))
    intake.decided(message.partition, message.offset)
    try:
        # A tick's timestamp is the clock's, not an event's: no intake delay for it.
        tick = is_tick(message.value, message.headers)
        metrics.observe_decisions(decisions, None if tick else message.timestamp, time.time())
    except Exception:  # metrics must never stop the ledger
        log.exception("metrics failed")


async def decide_and_send(message, committed: int | None) -> list[Decision]:
    """`committed`: the partition's offset last committed, if it moved on (the outputs of the
    messages before it are durable: what they released from pending no longer needs keeping)."""
    try:
        if committed is not None:
            desk.forget_released(message.partition, below=committed)
        decisions = decide_message(message.value or b"", message.topic, message.partition, message.offset,
                                   message.timestamp, is_tick(message.value, message.headers))
        desk.books.flush()  # the tables' changes first, then the outputs that follow from them
        await ebb()
        await send(decisions, message.partition)
        return decisions
    except Exception as error:
        # Decisions never raise but for BooksUnavailable: this is the state or the output path
        # failing. Going on would skip this message, so the worker stops, uncommitted, and a
        # restart processes the message again.
        log.critical("cannot process %s/%s@%s: stopping the worker", message.topic, message.partition,
                     message.offset, exc_info=True)
        await app.crash(error)
        raise


async def ebb() -> None:
    """Table writes wait in Faust's producer buffer for its sender task, and nothing bounds it while
    the agent outpaces the sender (Faust's conductor only waits for 100 of them, 0.1 s each).
    Measured on the small benchmark: 255,491 changelog sends waiting, a 3.3 GB worker, and seconds
    of lag behind them. So the agent lets the buffer drain before it goes on (polling: Faust's own
    flush waits on an event per message sent, which cost more than the sending)."""
    buffer = app.producer.buffer
    if buffer.size > cfg.worker_buffered_writes:
        while buffer.size > cfg.worker_buffered_writes // 4:
            await asyncio.sleep(0.002)


async def send(decisions: list[Decision], partition: int) -> None:
    # Same partition number as the intake message: one beneficiary's records stay in order.
    # One ledger message per intake message, split in order while it would pass ~900 kB (an
    # intake message near Kafka's 1 MB limit gives ~1.7 times as many bytes of entries).
    parts = [decisions]
    while parts:
        part = parts.pop()
        accepted = encode_accepted(part, rulebook)
        if accepted is not None and len(accepted) > 900_000 and len(part) > 1:
            parts += [part[len(part) // 2:], part[:len(part) // 2]]
        elif accepted is not None:
            await ledger_topic.send(value=accepted, partition=partition)
    for d in decisions:
        if d.rejection is not None:
            await rejections_topic.send(value=encode_rejection(d.rejection), partition=partition)
            log.debug("rejected %s at %s: %s", d.rejection.reason.value, d.position, d.rejection.detail)


async def resume(partition: int, committed: int) -> None:
    """The partition is read from its last commit: what its messages since then released from
    pending is sent again (they are read again, but what they released no longer waits)."""
    await send(desk.resume(partition, committed), partition)


intake = IntakeOffsets(app, cfg.intake_topic, cfg.worker_id, cfg.bootstrap_servers, resume=resume)


@app.timer(interval=cfg.worker_commit_seconds)
async def commit_intake() -> None:
    await intake.commit()


@app.on_partitions_revoked.connect
async def on_revoked(app, revoked, **kwargs) -> None:
    await intake.revoked(revoked)
    desk.leave(tp.partition for tp in revoked if tp.topic == cfg.intake_topic)


@app.timer(interval=cfg.tick_seconds)
async def tick() -> None:
    """Stream time must pass on a quiet partition too, for pending timesheets to expire: the worker
    sends a tick through each of its intake partitions (processed in order like any message)."""
    for tp in app.consumer.assignment():
        if tp.topic == cfg.intake_topic:
            await intake_topic.send(value=TICK, partition=tp.partition, headers=[(TICK_HEADER, cfg.worker_id.encode())])


@app.task
async def follow_contracts() -> None:
    """Every worker must know every contract: a timesheet on one worker's partitions may name a
    contract registered through another's. A GlobalTable copies all of its changelog when a worker
    starts, but its copies stop following each other's writes once workers run side by side
    (faust#716; measured here: two workers, half the timesheets rejected as unknown_contract). So
    each worker also reads the whole contracts changelog, from its start and then as it grows; a
    timesheet that arrives first waits as pending, released when the contract is read."""
    topic = changelog_topic(cfg, contracts.name)
    backoff = Backoff(first=1.0, most=30.0)
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, enable_auto_commit=False,
                                    auto_offset_reset="earliest", group_id=None)
        try:
            await consumer.start()
            consumer.assign([TopicPartition(topic, p) for p in range(cfg.partitions)])
            while True:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        if record.key is not None and record.value is not None:
                            # Faust's str tables store JSON-encoded strings, keys and values alike.
                            books.followed[json.loads(record.key)] = json.loads(record.value)
                backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception:  # a broker outage: read again from the start once it is back
            wait = backoff.next()
            log.warning("following %s failed; again in %.0fs", topic, wait, exc_info=True)
            await asyncio.sleep(wait)
        finally:
            await consumer.stop()
