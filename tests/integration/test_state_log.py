"""The worker's state log on a real broker (streams.worker.state): the history before a snapshot is
deleted only once the workers' group has committed the offset the snapshot covers, and a restore
then starts at the snapshot with the same book."""

from __future__ import annotations

import asyncio
import os
import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from kafka import KafkaConsumer, KafkaProducer

from streams.settings import Settings
from streams.kafka.topics import ensure_topics
from streams.worker.state import SNAPSHOT_HEADER, UPTO_HEADER, forget_before_snapshots, restore


def _settings(kafka_dsn: str) -> Settings:
    name = f"s{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    return Settings(kafka_dsn=kafka_dsn, topic_prefix=name, worker_id=f"{name}-worker", partitions=1)


def _write(cfg: Settings, records: list[tuple[dict, int, bool]]) -> list[int]:
    """(delta, upto, is a snapshot) records on partition 0 of the state log; their offsets."""
    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, acks="all")
    try:
        sent = [producer.send(cfg.state_topic, value=orjson.dumps(delta), partition=0,
                              headers=[(UPTO_HEADER, str(upto).encode())] + ([(SNAPSHOT_HEADER, b"1")] if snap else []))
                for delta, upto, snap in records]
        return [future.get(timeout=30).offset for future in sent]
    finally:
        producer.close()


async def _commit(cfg: Settings, offset: int) -> None:
    """The workers' group commits `offset` on routed partition 0 (as a worker's commit does)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=cfg.worker_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(cfg.routed_topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


def _log_start(cfg: Settings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None)
    try:
        tp = TopicPartition(cfg.state_topic, 0)
        return consumer.beginning_offsets([tp])[tp]
    finally:
        consumer.close()


def test_the_log_before_a_snapshot_goes_only_once_its_offset_is_committed(kafka_dsn):
    cfg = _settings(kafka_dsn)
    ensure_topics(cfg)
    offsets = _write(cfg, [
        ({"programmes": {"gpe": "buyer-a"}, "clock": {"now": 1.0}}, 10, False),
        ({"programmes": {"old": "buyer-b"}}, 20, False),
        ({"programmes": {"old": None}, "clock": {"now": 2.0}}, 30, False),  # a removal before the snapshot
        # The snapshot at 40: every key, and the removal not written yet.
        ({"programmes": {"gpe": "buyer-c", "old": None}, "clock": {"now": 3.0}}, 40, True),
        ({"clock": {"now": 4.0}}, 50, False),
    ])
    snapshot = {0: (offsets[3], 40)}

    async def scenario():
        admin = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers)
        await admin.start()
        try:
            whole = (await restore(cfg.bootstrap_servers, cfg.state_topic, 0, committed=50)).book
            # The group is behind the snapshot (its worker died before committing it): kept.
            await _commit(cfg, 35)
            assert await forget_before_snapshots(admin, cfg.worker_id, cfg.routed_topic, cfg.state_topic,
                                                 snapshot) == {}
            assert _log_start(cfg) == offsets[0]
            before = await restore(cfg.bootstrap_servers, cfg.state_topic, 0, committed=35)
            assert not before.from_snapshot and before.book.programmes == {"gpe": "buyer-a"}
            # Committed: the history before the snapshot goes, and the book is the same from it.
            await _commit(cfg, 40)
            assert await forget_before_snapshots(admin, cfg.worker_id, cfg.routed_topic, cfg.state_topic,
                                                 snapshot) == {0: offsets[3]}
            assert _log_start(cfg) == offsets[3]
            after = await restore(cfg.bootstrap_servers, cfg.state_topic, 0, committed=50)
            assert after.from_snapshot and after.read == 2
            assert after.book.snapshot() == whole.snapshot()
            assert after.book.programmes == {"gpe": "buyer-c"} and after.book.clock == {"now": 4.0}
        finally:
            await admin.close()

    asyncio.run(scenario())
