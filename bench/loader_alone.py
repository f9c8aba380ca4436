"""The loader's own CPU per event, without the engine: what the loader process costs when the
ClickHouse engine runs elsewhere (a server), measured on a real broker.

    .venv/bin/python bench/loader_alone.py                     # medium programme, 120 intake messages x 6
    .venv/bin/python bench/loader_alone.py --messages 40 --repeat 2 --out /tmp/alone.json

With the embedded engine (chDB, `chdb://` DSN) the loader's process runs every insert, its views
and its merges: `bench/run.py` charges all of it to the loader (docs/scaling.md, "Loader"). With a
server (`http://...:8123`) the same loader sends the same bytes over HTTP and the engine's CPU is
the server's. No ClickHouse server installs on this machine (shared/infra.md), so this script
measures the loader's side alone: it decides the first `--messages` intake messages of the
programme with one `PartitionProcessor` (as `bench/instructions.py` does), encodes their outputs
as the worker does (`encode_ledger`), posts those ledger messages `--repeat` times to a local
Kafka broker's ledger topic, then runs the `Loader` (its consumer, batches, tokens, offsets and
commits) over them with a store that takes each insert's bytes and drops them. The figure is the
process's CPU from the loader's start until every row was handed to the store, over the events
whose outputs were posted. What it leaves out, as a server's loader would not: the engine's work;
what it leaves in that a server's loader would add: nothing but the HTTP request per insert
(clickhouse-connect's `raw_insert`, one per table per batch).

Writes bench/results/loader_alone.json (or --out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "results" / "loader_alone.json"
BATCH = 500  # events per intake message, as bench/run.py posts them


class DroppingStore:
    """The store the loader writes to, without an engine: each insert's rows counted, then dropped."""

    def __init__(self) -> None:
        self.rows = 0
        self.inserts = 0

    def insert_json_rows(self, table: str, rows: bytes, token: str | None = None) -> None:
        self.rows += rows.count(b"\n") + 1
        self.inserts += 1

    def log_batch(self, group: str, batch_id: str, ranges) -> None:
        self.inserts += 1

    def logged_batches(self, group: str, committed) -> list:
        return []


def ledger_messages(size: str, count: int) -> tuple[int, list]:
    """(events decided, the worker's ledger messages for them) of the first `count` intake messages."""
    from bench.harness import SIZES, intake_messages, messages
    from streams.kafka.codec import encode_ledger
    from streams.settings import Settings, load_rulebook
    from streams.worker.processor import PartitionProcessor
    from streams.worker.routing import EVENTS, route

    msgs = messages(SIZES[size])
    reference = list(intake_messages(msgs.reference, BATCH))
    activity = list(intake_messages(msgs.activity, BATCH))[:count]
    processor = PartitionProcessor(load_rulebook(Settings()))
    events, out = 0, []
    for n, value in enumerate(reference + activity):
        batches = route(value, "bench", 0, n, 1_717_437_600_000 + n, 1)
        for batch in batches.values():
            decided = processor.process(EVENTS, bytes(batch), None, batches.keys_unique)
            if n >= len(reference):
                events += len(decided.outcomes)
                out += encode_ledger(decided.records)
    return events, out


def main(argv: list[str] | None = None) -> int:
    from kafka import KafkaProducer

    from streams.kafka.localkafka import LocalKafka
    from streams.kafka.topics import ensure_topics
    from streams.loader.app import Loader
    from streams.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="medium")
    parser.add_argument("--messages", type=int, default=120, help="intake messages of 500 events decided")
    parser.add_argument("--repeat", type=int, default=6, help="times their ledger messages are posted")
    parser.add_argument("--workdir", type=Path, default=None, help="the broker's log (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    events, messages = ledger_messages(args.size, args.messages)
    rows = args.repeat * sum(value.count(b"\n") + 1 for value, _ in messages)
    events *= args.repeat
    workdir = Path(tempfile.mkdtemp(prefix="ledger-loader-alone-", dir=args.workdir))
    base = Settings()
    broker = LocalKafka(workdir / "kafka", base.kafka_version, base.kafka_cache, heap="1g")
    cfg = base.model_copy(update={"kafka_dsn": broker.start(), "topic_prefix": "alone", "loader_group": "alone-loader"})
    try:
        ensure_topics(cfg)
        producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, max_request_size=16 << 20,
                                 batch_size=4 << 20, linger_ms=20)
        for _ in range(args.repeat):
            for value, headers in messages:
                producer.send(cfg.ledger_topic, value=value, partition=0,
                              headers=[(k, v if isinstance(v, bytes) else v.encode()) for k, v in headers])
        producer.flush()
        producer.close()

        store = DroppingStore()
        loader = Loader(cfg, store)
        thread = threading.Thread(target=loader.run, daemon=True)
        cpu, wall = time.process_time(), time.perf_counter()
        thread.start()
        deadline = time.monotonic() + 600
        while store.rows < rows and time.monotonic() < deadline:
            time.sleep(0.02)
        used, took = time.process_time() - cpu, time.perf_counter() - wall
        loader.stopping.set()
        thread.join(60)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if store.rows < rows:
        print(f"the loader handed over {store.rows:,} of {rows:,} rows within the time allowed", file=sys.stderr)
        return 1
    report = {"command": "bench/loader_alone.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "size": args.size, "events": events, "rows": rows, "ledger_messages": len(messages) * args.repeat,
              "store_calls": store.inserts, "cpu_seconds": round(used, 3), "seconds": round(took, 2),
              "cpu_us_per_event": round(used * 1e6 / events, 2), "cpu_us_per_row": round(used * 1e6 / rows, 2),
              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    print(f"the loader without the engine: {report['cpu_us_per_event']} CPU-µs per event "
          f"({report['cpu_us_per_row']} per row; {events:,} events, {rows:,} rows, {report['ledger_messages']:,} "
          f"ledger messages, {store.inserts} store calls, {used:.2f} CPU-s in {took:.1f} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
