"""The loader on the real broker and engine: pass-through batches, tokens, a loader killed between
its insert and its offset commit, entries written twice under other tokens."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.kafka.codec import encode_ledger, encode_rejection
from streams.loader.app import Loader, run_in_thread

CONTRACTS = ["c-a", "c-b", "c-c"]


def entry(n: int, reversal_of: int | None = None) -> dict:
    m = n if reversal_of is None else reversal_of
    return {"record": "entry", "entry_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"entry:{n}")),
            "kind": "credit" if reversal_of is None else "reversal",
            "status": "flagged" if m % 11 == 0 else "counted", "reason": "claimed_by_two_contractors" if m % 11 == 0 else "",
            "source_event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"event:{n}")), "source_event_type": "timesheet.submitted",
            "reverses_entry_id": None if reversal_of is None else str(uuid.uuid5(uuid.NAMESPACE_URL, f"entry:{m}")),
            "programme_id": "gpe", "operation_id": "L15", "contract_id": CONTRACTS[m % 3], "lot": "GC-01",
            "contractor_siret": "73282932000074", "beneficiary_id": f"b-{m % 17}",
            "siae_siret": "44201188000121" if m % 4 == 0 else None, "mode": "direct_hire",
            "work_date": f"2025-03-{m % 28 + 1:02d}", "hours": ("-" if reversal_of is not None else "") + ("7.50" if m % 2 else "8.00"),
            "rule": "default", "rulebook_version": "2026.1", "submitted_at": "2025-03-30T18:00:00+01:00"}


def entries(first: int, count: int) -> list[dict]:
    # every 10th is a reversal of the entry before it (negative hours)
    return [entry(n, reversal_of=n - 1 if n % 10 == 9 else None) for n in range(first, first + count)]


def rejection(n: int) -> dict:
    return {"rejection_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"rejection:{n}")), "reason": "unknown_contract",
            "detail": "no such contract", "event_id": str(n), "event_type": "timesheet.submitted",
            "position": {"topic": "intake", "partition": n % 4, "offset": n, "index": 0},
            "payload": '{"work_date":"2025-03-04","hours":7}', "payload_truncated": False}


def expected_hours(records: list[dict]) -> dict[str, Decimal]:
    unique = {r["entry_id"]: r for r in records}
    out: dict[str, Decimal] = {}
    for r in unique.values():
        if r["status"] == "counted":
            out[r["contract_id"]] = out.get(r["contract_id"], Decimal(0)) + Decimal(r["hours"])
    return out


def produce(cfg, ledger: list[list[dict]], rejections: list[dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, acks="all")
    try:
        for n, records in enumerate(ledger):  # one list per "intake message", spread over partitions
            for value, headers in encode_ledger(records):
                producer.send(cfg.ledger_topic, value, headers=headers, partition=n % cfg.partitions)
        for n, r in enumerate(rejections):
            producer.send(cfg.rejections_topic, encode_rejection(r), partition=n % cfg.partitions)
        producer.flush(timeout=30)
    finally:
        producer.close()


def rows(pipeline, sql: str) -> list[dict]:
    return pipeline.rows(sql)


def count(pipeline, sql: str) -> int:
    return int(pipeline.store.query(sql).result_rows[0][0])


def hours(pipeline) -> dict[str, Decimal]:
    return {r["contract_id"]: r["h"] for r in pipeline.rows(
        "SELECT contract_id, sum(hours) AS h FROM ledger_entries FINAL WHERE status = 'counted' GROUP BY contract_id")}


def aggregate_hours(pipeline) -> dict[str, Decimal]:
    return {r["contract_id"]: r["h"] for r in pipeline.rows(
        "SELECT contract_id, toDecimal64(sum(hours), 2) AS h FROM hours_by_contract_day WHERE status = 'counted' "
        "GROUP BY contract_id HAVING h != 0")}


def wait_for(predicate, timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def start(pipeline, no_commit: bool = False) -> tuple[Loader, object]:
    loader = Loader(pipeline.cfg, pipeline.store)
    if no_commit:  # killed after its inserts, before any offset commit
        loader._commit = lambda: None
    thread = run_in_thread(loader)
    wait_for(lambda: loader.consumer.assignment(), 30, "partitions")
    return loader, thread


def committed(pipeline) -> dict[tuple[str, int], int | None]:
    consumer = KafkaConsumer(bootstrap_servers=pipeline.cfg.bootstrap_servers, group_id=pipeline.cfg.loader_group,
                             enable_auto_commit=False)
    try:
        return {(t, p): consumer.committed(TopicPartition(t, p))
                for t in (pipeline.cfg.ledger_topic, pipeline.cfg.rejections_topic) for p in range(pipeline.cfg.partitions)}
    finally:
        consumer.close()


def test_the_same_batch_twice_and_the_same_entries_under_another_token(pipeline_factory):
    pipeline = pipeline_factory(start=False)
    store = pipeline.store
    records = entries(0, 300)
    body = b"\n".join(v for v, _ in encode_ledger(records))
    store.client.command("SYSTEM STOP MERGES ledger_entries")
    store.insert_json_rows("ledger_entries", body, token="ledger_entries:batch-1")
    store.insert_json_rows("ledger_entries", body, token="ledger_entries:batch-1")  # the loader's retry
    assert count(pipeline, "SELECT count() FROM ledger_entries") == 300  # skipped by the engine
    store.insert_json_rows("ledger_entries", body, token="ledger_entries:batch-7")  # a worker's re-send
    assert count(pipeline, "SELECT count() FROM ledger_entries") == 600  # stored twice...
    assert count(pipeline, "SELECT count() FROM ledger_entries FINAL") == 300  # ...one row per id
    assert aggregate_hours(pipeline) == hours(pipeline) == expected_hours(records)  # counted once
    assert count(pipeline, "SELECT count() FROM entry_keys") == 300
    assert pipeline.store.rows("analytics_check") == []


def test_loader_killed_between_insert_and_commit_rebuilds_the_same_batches(pipeline_factory):
    pipeline = pipeline_factory(start=False)
    pipeline.cfg = pipeline.cfg.model_copy(update={"loader_batch_size": 400})
    pipeline.store.client.command("SYSTEM STOP MERGES ledger_entries")
    pipeline.store.client.command("SYSTEM STOP MERGES rejections")
    first = [entries(n * 50, 50) for n in range(40)]  # 2,000 entries, in 40 messages over 4 partitions
    first.append([{"record": "contract", "event_id": str(uuid.uuid4()), "contract_id": "c-a", "programme_id": "gpe",
                   "operation_id": "L15", "lot": "GC-01", "contractor_siret": "73282932000074",
                   "start_date": "2024-01-01", "end_date": "2027-12-31", "target_hours": "10000"}])
    produce(pipeline.cfg, first, [rejection(n) for n in range(30)])

    loader, thread = start(pipeline, no_commit=True)
    wait_for(lambda: loader.records_loaded >= 2031, what="the first loader's inserts")
    loader.stop()
    thread.join(timeout=30)
    written = loader.batches_written
    assert written >= 5 and all(offset is None for offset in committed(pipeline).values())
    logged = count(pipeline, "SELECT uniqExact(batch_id) FROM loader_batches")
    assert logged == written

    # More records arrive meanwhile: the new loader reads everything again from offset 0.
    more = [entries(2000 + n * 50, 50) for n in range(8)]
    produce(pipeline.cfg, more, [rejection(n) for n in range(30, 40)])
    again, thread = start(pipeline)
    try:
        wait_for(lambda: count(pipeline, "SELECT count() FROM ledger_entries FINAL") == 2400
                 and count(pipeline, "SELECT count() FROM rejections FINAL") == 40, what="all rows")
        wait_for(lambda: all(o is not None for o in committed(pipeline).values()), what="the commit")
    finally:
        again.stop()
        thread.join(timeout=30)
    assert again.batches_rebuilt == written  # each logged batch rebuilt with its ranges and tokens
    # Nothing stored twice although every record was read and inserted twice: the engine skipped them.
    assert count(pipeline, "SELECT count() FROM ledger_entries") == 2400
    assert count(pipeline, "SELECT count() FROM rejections") == 40
    assert count(pipeline, "SELECT count() FROM contract_registrations") == 1
    everything = [r for message in first[:-1] + more for r in message]
    assert aggregate_hours(pipeline) == hours(pipeline) == expected_hours(everything)
    assert count(pipeline, "SELECT sum(events) FROM rejections_by_reason_day") == 40
    assert pipeline.store.rows("analytics_check") == []


def test_a_worker_resending_entries_at_later_offsets_counts_them_once(pipeline_factory):
    pipeline = pipeline_factory(start=False)
    records = [entries(n * 20, 20) for n in range(10)]
    produce(pipeline.cfg, records, [rejection(0), rejection(1)])
    loader, thread = start(pipeline)
    try:
        wait_for(lambda: count(pipeline, "SELECT count() FROM ledger_entries FINAL") == 200, what="entries")
        # A worker restarted before its commit sends the same records again (byte-identical, new offsets).
        produce(pipeline.cfg, records[3:7], [rejection(1)])
        wait_for(lambda: loader.records_loaded >= 200 + 2 + 80 + 1, what="the re-sent records")
    finally:
        loader.stop()
        thread.join(timeout=30)
    everything = [r for message in records for r in message]
    assert aggregate_hours(pipeline) == hours(pipeline) == expected_hours(everything)
    assert count(pipeline, "SELECT sum(events) FROM rejections_by_reason_day") == 2
    assert pipeline.store.rows("analytics_check") == []


def test_a_loader_starting_on_new_topics_joins_its_group_once(pipeline_factory):
    """kafka-python 3.0.12 made its first assignment from an empty metadata snapshot, so a start was
    often followed by a second join, and that join could lose its result (a loader with no
    partitions for ever, ~1 start in 10 here, most often beside a starting worker): see
    streams/loader/app.py. Subscribed to known metadata, the loader joins once and keeps what it got."""
    pipeline = pipeline_factory()  # a worker starting, then the loader, as in every pipeline test
    loader = pipeline.loader
    wait_for(lambda: loader.consumer.assignment(), 30, "partitions")
    first = set(loader.consumer.assignment())
    assert len(first) == 2 * pipeline.cfg.partitions
    deadline = time.monotonic() + 3  # the second join came within half a second of the first
    while time.monotonic() < deadline:
        assert loader.membership.assignments == 1
        assert set(loader.consumer.assignment()) == first
        time.sleep(0.1)
    assert loader.consumers_renewed == 0
