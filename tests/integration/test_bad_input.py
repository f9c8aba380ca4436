"""Bad input at volume, on the real parts: a seeded stream of malformed, truncated, oversized,
wrongly typed, deeply nested, non-UTF-8 and hostile payloads, valid timesheets mixed in, sent
straight to the intake topic (a client that does not validate). The worker never dies, and
posted = accepted + rejected, each rejection with a reason and a detail.

A message counts as the events it carries: the items of a JSON array, else one. Seed:
LEDGER_BAD_INPUT_SEED (random by default, printed).

Oversized: Kafka's default limit is ~1 MB a message (broker `message.max.bytes`, kafka-python's
`max_request_size`), so the project's producer refuses a 2 MB event before sending it (asserted
below); nothing reaches the worker. To test the worker with 2 MB payloads anyway, this test raises
its own intake topic's `max.message.bytes` to 4 MB and sends with a raw producer allowing it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import MessageSizeTooLargeError

from bench.harness import PENDING_TIMEOUT, StoreProcess, settle_pending, start_worker
from ledger.siret import with_check_digit
from streams.demo import stop_process
from streams.contractor.producer import ContractorProducer
from streams.settings import Settings
from streams.kafka.topics import ensure_topics
from streams.worker.routing import EVENTS, KEYS_HEADER, KIND_HEADER, UNIQUE

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("LEDGER_BAD_INPUT_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)
MESSAGES = int(os.environ.get("LEDGER_BAD_INPUT_MESSAGES", "3000"))
CONTRACTOR = with_check_digit("7328293200007")
BIG = 2 * 1024 * 1024


def _read_all(cfg: Settings, topic: str) -> list:
    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        out = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                out += records
        return out
    finally:
        consumer.close()


def _keys_header(headers) -> bytes | None:
    return next((value for key, value in headers if key == KEYS_HEADER), None)


def event(type_: str, **fields) -> dict:
    return {"type": type_, "event_id": str(uuid.uuid4()), "schema_version": 1, **fields}


def events_in(raw: bytes) -> int:
    """How many events a message carries, by the worker's rule (ledger.intake.split_message)."""
    if not raw.lstrip().startswith(b"["):
        return 1
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        return 1
    return len(items) if isinstance(items, list) else 1


class Stream:
    """Seeded payloads; valid timesheets use their own (beneficiary, day) so that each counts."""

    def __init__(self, rng: random.Random, beneficiaries: list[str]):
        self.rng = rng
        self.beneficiaries = beneficiaries
        self.days = iter(range(10**6))
        self.valid_hours = Decimal(0)
        self.valid = 0

    def timesheet(self, **fields) -> dict:
        n = next(self.days)
        day = dt.date(2024, 1, 1) + dt.timedelta(days=n // len(self.beneficiaries) % 700)
        body = dict(contract_id="c-bad", beneficiary_id=self.beneficiaries[n % len(self.beneficiaries)],
                    work_date=day.isoformat(), hours=self.rng.choice([7, 7.5, 3.25, 8]), mode="direct_hire",
                    submitted_at=f"{day.isoformat()}T18:00:00+00:00")
        body.update(fields)
        return event("timesheet.submitted", **body)

    def valid_one(self) -> bytes:
        t = self.timesheet()
        self.valid += 1
        self.valid_hours += Decimal(str(t["hours"]))
        return json.dumps(t).encode()

    def bad_one(self) -> bytes:
        rng = self.rng
        t = self.timesheet()  # consumes a day, never counted
        kind = rng.randrange(23)
        if kind == 0:  # truncated
            raw = json.dumps(t).encode()
            return raw[:rng.randrange(1, len(raw) - 1)]
        if kind == 1:  # random bytes, usually not UTF-8
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        if kind == 2:  # valid JSON with invalid UTF-8 inside a string
            return json.dumps(t).encode().replace(b'"direct_hire"', b'"direct\xff\xfehire"')
        if kind == 3:  # wrong types
            field = rng.choice(["hours", "work_date", "event_id", "schema_version", "mode", "contract_id"])
            return json.dumps({**t, field: rng.choice(["7.5", True, None, [], {}, -1, 1e308, "", 0])}).encode()
        if kind == 4:  # huge numbers: beyond float, beyond Python's 4300-digit int limit
            return (json.dumps({**t, "hours": 0})[:-1] + ', "x": 0}').replace(
                '"hours": 0', '"hours": ' + rng.choice(["1e400", "-1e400", "9" * 5000, "1" + "0" * 400])).encode()
        if kind == 5:  # deeply nested arrays (a JSON bomb for recursive parsers)
            depth = rng.choice([1000, 100_000])
            return b"[" * depth + b"]" * depth
        if kind == 6:  # deeply nested object inside an event field
            depth = rng.choice([500, 50_000])
            return (json.dumps(t)[:-1] + ', "hours_detail": ' + '{"a":' * depth + "1" + "}" * depth + "}").encode()
        if kind == 7:  # null bytes, raw and escaped
            return rng.choice([b"\x00" * 50, json.dumps({**t, "contract_id": "c-bad\u0000"}).encode(),
                               json.dumps(t).encode() + b"\x00"])
        if kind == 8:  # prototype-pollution-like keys
            key = rng.choice(["__proto__", "constructor", "prototype", "__class__", "__dict__"])
            return json.dumps({**t, key: {"polluted": True, "isAdmin": True}}).encode()
        if kind == 9:  # not an object
            return rng.choice([b"null", b"true", b"42", b'"timesheet"', b"", b"   ", b"{}", b"NaN", b"Infinity"])
        if kind == 10:  # an array of junk items: one rejection each
            return json.dumps([rng.choice([1, None, "x", [], {}, {"type": "timesheet.submitted"}])
                               for _ in range(rng.randrange(1, 40))]).encode()
        if kind == 11:  # an array mixing valid timesheets and junk
            items = []
            for _ in range(rng.randrange(2, 30)):
                if rng.random() < 0.5:
                    v = self.timesheet()
                    self.valid += 1
                    self.valid_hours += Decimal(str(v["hours"]))
                    items.append(v)
                else:
                    items.append({**self.timesheet(), "hours": "seven"})
            return json.dumps(items).encode()
        if kind == 12:  # many unknown fields: a very long list of validation errors
            return json.dumps({**t, **{f"f{i}": i for i in range(rng.choice([100, 20_000]))}}).encode()
        if kind == 13:  # a long string where an identifier goes
            return json.dumps({**t, "contract_id": "c" * rng.choice([65, 100_000])}).encode()
        if kind == 14:  # unknown event type, wrong schema version
            return json.dumps({**t, "type": rng.choice(["timesheet.deleted", "", "x" * 1000]),
                               "schema_version": rng.choice([2, 0, -1])}).encode()
        if kind == 15:  # a national-number-looking beneficiary key, an e-mail
            return json.dumps({**t, "beneficiary_id": rng.choice(["1850775123456", "jean.dupont@example.org"])}).encode()
        if kind == 16:  # duplicate keys (the last wins in most parsers)
            raw = json.dumps(t)
            return (raw[:-1] + ', "hours": "x"}').encode()
        if kind == 17:  # hours out of range, bad dates, naive datetime
            return json.dumps({**t, **rng.choice([{"hours": 25}, {"hours": 0}, {"hours": -7}, {"hours": 7.123},
                                                  {"work_date": "2024-02-30"},
                                                  {"submitted_at": "2024-01-01T18:00:00"}])}).encode()
        if kind == 18:  # control characters and unicode oddities
            return json.dumps({**t, "contract_id": rng.choice(["c-\u202ebad", "c-\ud800", "c\tbad", "ｃ-bad"])},
                              ensure_ascii=rng.random() < 0.5).encode("utf-8", errors="surrogatepass")
        if kind == 19:  # an empty array: carries no event
            return b"[]"
        if kind == 21:  # an array of valid timesheets and one repeating a key, compact or spaced: the
            # routing must not vouch for its keys (routing.py, KEYS_HEADER), and the repeat is refused
            comma, colon = rng.choice([(",", ":"), (", ", ": ")])
            items = []
            for _ in range(rng.randrange(1, 6)):
                v = self.timesheet()
                self.valid += 1
                self.valid_hours += Decimal(str(v["hours"]))
                items.append(json.dumps(v, separators=(comma, colon)))
            repeated = json.dumps(self.timesheet(hours=7), separators=(comma, colon))
            items.insert(rng.randrange(len(items) + 1), f'{repeated[:-1]}{comma}"hours"{colon}8}}')
            return ("[" + comma.join(items) + "]").encode()
        if kind == 20:  # an oversized payload (2 MB), a single event with a huge string
            return json.dumps({**t, "contract_id": "c" * BIG}).encode()
        return json.dumps({**t, "partner": {"siret": "1" * 14}, "mode": "geiq"}).encode()


@pytest.mark.slow
def test_hostile_stream_every_event_decided_and_the_worker_survives(kafka_dsn, tmp_path):
    rng = random.Random(SEED)
    name = f"bad{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    cfg = Settings(kafka_dsn=kafka_dsn, clickhouse_dsn=f"chdb://{tmp_path / 'store'}", clickhouse_database="bad",
                   topic_prefix=name, worker_id=f"{name}-worker", loader_group=f"{name}-loader",
                   loader_batch_seconds=0.2, **PENDING_TIMEOUT)
    ensure_topics(cfg)
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, cfg.intake_topic,
                                        configs={"max.message.bytes": str(4 * 1024 * 1024)})])
    admin.close()

    # The project's producer keeps Kafka's default limit: a 2 MB event is refused before sending.
    with ContractorProducer(cfg) as refusing:
        with pytest.raises(MessageSizeTooLargeError):
            refusing.send(b'{"x": "' + b"y" * BIG + b'"}', "b-toolarge1").get(timeout=30)

    store = StoreProcess(cfg, tmp_path)
    worker = start_worker(cfg, tmp_path)
    raw = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, acks="all", linger_ms=5,
                        max_request_size=4 * 1024 * 1024)
    try:
        beneficiaries = [f"bad-{n:010d}" for n in range(50)]
        reference = [event("contract.registered", contract_id="c-bad", programme_id="gpe", buyer_id="buyer-sgp", operation_id="L15S",
                           lot="GC-01", contractor_siret=CONTRACTOR, start_date="2023-01-01",
                           end_date="2030-12-31", target_hours=100000)]
        reference += [event("beneficiary.enrolled", beneficiary_id=b, facilitator_id="fac-01", criteria=["rsa"],
                            eligible_from="2023-06-01", eligible_until="2029-12-31") for b in beneficiaries]
        for e in reference:
            raw.send(cfg.intake_topic, json.dumps(e).encode(), key=e.get("beneficiary_id", "c-bad").encode())
        raw.flush()
        store.wait_accounted(len(reference), timeout=120, workers=[worker])

        stream = Stream(rng, beneficiaries)
        posted = len(reference)
        futures = []
        for _ in range(MESSAGES):
            value = stream.valid_one() if rng.random() < 0.3 else stream.bad_one()
            posted += events_in(value)
            key = rng.choice([None, rng.choice(beneficiaries).encode(), b"\xff\x00", b"k" * 1000])
            futures.append(raw.send(cfg.intake_topic, value, key=key))
        raw.flush()
        for f in futures:
            f.get(timeout=60)
        print(f"seed {SEED}: {MESSAGES} messages, {posted} events, {stream.valid} valid timesheets")

        # Everything decided or waiting first (reference data learned by every partition), then
        # stream time passes every deadline: what still waits is rejected for it.
        store.wait_accounted(posted, timeout=400, workers=[worker], settled=False)
        settle_pending(cfg)
        totals = store.wait_accounted(posted, timeout=400, workers=[worker])
        assert worker.poll() is None, "the worker died"
        assert totals["accepted"] + totals["rejected"] == posted
        assert totals["accepted"] == len(reference) + stream.valid
        assert Decimal(totals["hours"]) == stream.valid_hours
        assert totals["rejections_without_reason"] == 0
        # A random mutation is sometimes a valid timesheet naming a contract or person nobody
        # registered: it waits, then is rejected for that (settle_pending above).
        assert set(totals["rejections_by_reason"]) <= {"invalid_json", "invalid_event", "processing_error",
                                                       "duplicate_event", "unknown_contract",
                                                       "unknown_beneficiary"}, totals["rejections_by_reason"]

        # Batches routed from arrays written back item by item say their events repeat no key; the
        # others (single events, an array with a repeated key) leave the deciding side to check.
        routed = Counter(_keys_header(m.headers) for m in _read_all(cfg, cfg.routed_topic)
                         if (KIND_HEADER, EVENTS) in m.headers)
        assert routed[UNIQUE] > 0 and routed[None] > 0, routed

        # Still alive and still counting after all that.
        last = stream.timesheet()
        raw.send(cfg.intake_topic, json.dumps(last).encode(), key=last["beneficiary_id"].encode()).get(timeout=30)
        totals = store.wait_accounted(posted + 1, timeout=120, workers=[worker])
        assert Decimal(totals["hours"]) == stream.valid_hours + Decimal(str(last["hours"]))
    finally:
        raw.close()
        stop_process(worker)
        store.stop()
