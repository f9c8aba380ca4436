"""The ledger's benchmark: every figure measured in one run, on this machine, on a synthetic programme.

    .venv/bin/python bench/run.py --size default      # Grand Paris: 20,000 beneficiaries, ~2M timesheets
    .venv/bin/python bench/run.py --size small        # ~0.2M timesheets, a few minutes

Writes bench/results/pipeline.json (or --out) and prints a table. Figures:

- generation: seconds and peak memory of ledger.synthetic.generate at this size;
- parse_attribute_rate: events/s of intake messages routed and decided by one PartitionProcessor
  (and with the worker's output encoding), one process, no I/O: the ceiling of a Python worker;
- pipeline_rate for 1 and 2 workers: events/s from the first send to Kafka until the store accounts
  for every event sent, accepted, rejected or pending (producer -> intake topic -> Faust worker ->
  ledger topic -> loader -> chDB), all on this machine (the producer, the broker, the workers and
  the loader share its 2 cores); then, everything posted, stream time jumps past the pending
  deadlines and the settled totals are checked against the generator's to the hour; the ratio to
  parse_attribute_rate;
- freshness p50/p99 at a steady rate (default 1,000 events/s): loaded_at (the ClickHouse insert) -
  submitted_at, which the paced producer sets to the moment it sends the event; for all the
  phase's entries, and apart for the events decided on arrival (`steady`) and those that waited
  for reference data posted later (`released`: their person's enrolment comes late);
- release_burst: then the late enrolments among the phase's events, posted at once: how many
  parked timesheets they released (those of the main phase too) and how long until the last of
  their entries was loaded;
- replay_seconds: a fresh loader (new consumer group, fresh chDB store and database) rebuilding the
  whole projection from the ledger and rejection topics' history;
- peak RSS (VmHWM) of each worker and of the loader process; CPU seconds of each process during the
  pipeline phase (what saturates); optionally a py-spy profile of the 1-worker run's worker.

The broker's log and the chDB stores live in --workdir (a temp dir by default), and the loader's CPU
per event depends on that directory's filesystem: on an ext4 without a journal (this machine's root
disk) every file ClickHouse creates costs several times what it costs on a journaled one
(bench/filesystem.py, docs/scaling.md). The filesystem is recorded in the results and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.harness import (SIZES, settle_pending, StoreProcess, check_alive, compare, intake_messages,  # noqa: E402
                           key_of, messages, start_worker, wait_workers_assigned)
from streams.demo import stop_process  # noqa: E402
from bench.storeproc import peak_rss_mb  # noqa: E402
from bench.filesystem import describe, filesystem_of  # noqa: E402
from streams.compiled import compiled  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Nothing may expire while a size runs, however long it takes (a timesheet waits for an enrolment
# among the freshness events until the main phase is through): timesheets wait a week of stream
# time, the rulebook's default, and settle_pending jumps past it once everything is posted.
PENDING = {"pending_timeout_hours": 168.0, "tick_seconds": 1.0}


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def parse_attribute_rate(msgs, limit: int, batch: int = 500) -> dict:
    """The worker's own path without Kafka: intake messages of `batch` events routed and decided by
    one PartitionProcessor (every partition's state in one book), then their outputs encoded.

    Each message's outputs are encoded and dropped before the next, as the worker sends them and lets
    them go: holding every output of the run until the end made the collector and the heap carry
    them, ~12 CPU-µs per event over 500,000 events (45.8 against 33.6, same run, docs/scaling.md)."""
    from streams.kafka.codec import encode_ledger, encode_rejection
    from streams.settings import Settings, load_rulebook
    from streams.worker.app import tune_collector
    from streams.worker.processor import PartitionProcessor
    from streams.worker.routing import EVENTS, route

    tune_collector()  # as the worker does
    processor = PartitionProcessor(load_rulebook(Settings()))
    clock, cpu_clock = time.perf_counter, time.process_time

    def route_and_process(values, base: int) -> collections.Counter:
        """Decide, then encode, each message's outputs; what it took, summed over the messages."""
        spent: collections.Counter = collections.Counter()
        for n, value in enumerate(intake_messages(values, batch)):
            started, cpu = clock(), cpu_clock()
            routed = route(value, "bench", 0, base + n, None, 1)
            outs = [processor.process(EVENTS, bytes(batch), None, routed.keys_unique) for batch in routed.values()]
            decided, decided_cpu = clock(), cpu_clock()
            for out in outs:
                encode_ledger(out.records)
                for rejection in out.rejections:
                    encode_rejection(rejection)
            spent["decide_s"] += decided - started
            spent["decide_cpu"] += decided_cpu - cpu
            spent["encode_s"] += clock() - decided
            spent["accepted"] += sum(o.accepted for out in outs for o in out.outcomes)
        return spent

    reference = msgs.reference
    activity = msgs.activity[:limit]
    route_and_process(reference, 0)
    spent = route_and_process(activity, len(reference))
    decide_s = spent["decide_s"]
    return {"events": len(activity), "accepted": spent["accepted"],
            "decide_seconds": round(decide_s, 2), "parse_attribute_rate": round(len(activity) / decide_s),
            "decide_cpu_us_per_event": round(spent["decide_cpu"] * 1e6 / len(activity), 1),
            "with_output_encoding_rate": round(len(activity) / (decide_s + spent["encode_s"]))}


def post(producer, items) -> None:
    futures = []
    for value, key in items:
        future = producer.send(value, key)
        if future is not None:
            futures.append(future)
    futures.extend(producer.send_pending())
    producer.flush()
    for f in futures:
        f.get(timeout=60)


def paced(producer, events: list[dict], rate: float, linger: float) -> float:
    """Send `events` at `rate` per second. Each is stamped submitted_at = the moment it is due (as
    if a contractor system created it then); the producer sends what is due every `linger` seconds,
    so its batching delay counts in the freshness measured."""
    started = time.time()
    sent = 0
    while sent < len(events):
        now = time.time()
        due = min(len(events), int((now - started) * rate) + 1)
        for i in range(sent, due):
            stamp = dt.datetime.fromtimestamp(started + i / rate, dt.timezone.utc).isoformat(timespec="milliseconds")
            # Stamped as created when due; events without a submitted_at (enrolments, resolutions) as
            # they are, and so are those a new stamp would change: a retry of an earlier event (other
            # content under its id is a conflict, not a duplicate) or a day still to come (declared
            # before it was worked, the contract refuses it).
            event = events[i]
            day = event.get("work_date") or event.get("period_start") or ""
            if "submitted_at" in event and not event.get("_retry") and day <= stamp[:10]:
                event = dict(event, submitted_at=stamp)
            event = {k: v for k, v in event.items() if k != "_retry"}
            producer.send(json.dumps(event, separators=(",", ":")).encode(), key_of(event))
        sent = due
        producer.send_pending()
        time.sleep(max(0.0, linger - (time.time() - now)))
    producer.flush()
    return time.time() - started


def profile_top(raw_path: Path, top: int = 18) -> dict:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    share = lambda c: [[f, round(100 * n / total, 1)] for f, n in c.most_common(top)]  # noqa: E731
    return {"samples": total, "self_pct": share(own), "inclusive_pct": share(inclusive)}


def _frame(frame: str) -> str:
    # "decide (ledger/intake.py:78)" -> "decide (ledger/intake.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def run_pipeline(args, msgs, freshness_events, base_cfg, workdir: Path, workers: int, profile: bool) -> dict:
    from streams.contractor.producer import ContractorProducer
    from streams.kafka.topics import ensure_topics

    name = f"bench-{int(time.time())}-w{workers}"
    run_dir = workdir / name
    run_dir.mkdir(parents=True)
    cfg = base_cfg.model_copy(update={
        "topic_prefix": name, "worker_id": name, "loader_group": f"{name}-loader",
        "clickhouse_dsn": f"chdb://{run_dir / 'store'}", "clickhouse_database": "bench"})
    ensure_topics(cfg)
    allow_settling(cfg)
    store = StoreProcess(cfg, run_dir)
    procs = [start_worker(cfg, run_dir, n) for n in range(workers)]
    result: dict = {"workers": workers, "topic_prefix": name}
    rss = RssSampler(procs[0].pid)
    try:
        wait_workers_assigned(cfg, procs)
        rss.start()
        with ContractorProducer(cfg, batch_events=args.batch) as producer:
            started = time.time()
            post(producer, msgs.reference)
            store.wait_accounted(len(msgs.reference), timeout=600, workers=procs)
            result["reference_seconds"] = round(time.time() - started, 1)

            main = msgs.activity
            # Decided, not settled: a timesheet whose enrolment is among the freshness events waits
            # for it (pending), and one naming an unknown contract waits for settle_pending.
            decided = msgs.posted - len(freshness_events)
            pids = {"producer (bench)": os.getpid(), "loader": store.pid, "broker": args.broker_pid,
                    **{f"worker-{n}": p.pid for n, p in enumerate(procs)}}
            cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
            state_before = records_written(cfg, cfg.state_topic)
            spy = None
            if profile:
                spy_out = run_dir / "worker.pyspy.txt"
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(procs[0].pid),
                                        "-d", str(args.profile_seconds), "-r", "100", "-f", "raw", "-o", str(spy_out),
                                        "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started = time.time()
            post(producer, main)
            produced = time.time()
            visible = store.wait_accounted(decided, timeout=args.timeout, workers=procs, settled=False)["time"]
            events = len(main)
            cpu = {k: round(cpu_seconds(p) - cpu_before[k], 1) for k, p in pids.items()
                   if cpu_before[k] is not None and cpu_seconds(p) is not None}
            # The workers' state log: records per intake event (a Faust table wrote ~2 per event).
            time.sleep(2 * cfg.worker_commit_seconds)  # the last commit's delta
            result["state_records"] = records_written(cfg, cfg.state_topic) - state_before
            result["state_records_per_event"] = round(result["state_records"] / events, 5)
            result["cpu_us_per_event"] = {k: round(v * 1e6 / events, 1) for k, v in cpu.items()}
            # Cores each process kept busy while the events went through: the worker is one thread
            # of decisions, so its share says whether it or its inputs bound the rate (docs/scaling.md).
            result["busy_cores"] = {k: round(v / (visible - started), 2) for k, v in cpu.items()}
            result.update({
                "events": events, "produce_seconds": round(produced - started, 1),
                "seconds": round(visible - started, 1), "pipeline_rate": round(events / (visible - started)),
                "cpu_seconds": {k: round(cpu_seconds(p) - cpu_before[k], 1) for k, p in pids.items()
                                if cpu_before[k] is not None and cpu_seconds(p) is not None},
            })
            if spy is not None:
                spy.wait(timeout=args.profile_seconds + 60)
                if spy_out.exists():
                    result["profile"] = profile_top(spy_out)
                    result["profile"]["file"] = str(spy_out)

            if freshness_events:
                # The late enrolments are not paced with the rest: posted at once after it, each
                # releases its person's parked days (~50,000 at the Grand Paris size), a burst
                # measured on its own (`release_burst`) instead of delaying the steady events.
                steady = [e for e in freshness_events if not _late_enrolment(e)]
                burst = [e for e in freshness_events if _late_enrolment(e)]
                since = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
                took = paced(producer, steady, args.freshness_rate, args.freshness_linger)
                until = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
                # The phase's last entries written before the accounting's FINAL queries are asked
                # for: those hold the store's lock and delayed them (the phase's last second was its
                # slowest in most runs until 2026-12-05). Still for 3 batch periods: nothing is on its way.
                store.wait_still(still=3 * cfg.loader_batch_seconds, timeout=60)
                store.wait_accounted(msgs.posted - len(burst), timeout=args.timeout, workers=procs, settled=False)
                fresh = store.ask("freshness", since=since, until=until)
                result["freshness"] = {"rate": args.freshness_rate, "events": len(steady),
                                       "achieved_rate": round(len(steady) / took), **fresh}
                if burst:
                    result["release_burst"] = release_burst(producer, store, burst, procs, args.timeout)

        # Only now that every event is posted may stream time pass every pending deadline: what
        # still waits is rejected, and the totals are final.
        settle_pending(cfg)
        totals = store.wait_accounted(msgs.posted, timeout=300, workers=procs)
        problems = compare(totals, msgs.expected())
        result["totals"] = {"accepted": totals["accepted"], "rejected": totals["rejected"], "hours": totals["hours"],
                            "equal_to_expected": not problems, "problems": problems[:10]}
        result["peak_rss_mb"] = {f"worker-{n}": peak_rss_mb(p.pid) for n, p in enumerate(procs)}
        result["worker_rss_timeline"] = rss.stop()
        result["state_restore"] = state_restore(cfg)
    finally:
        rss.stop()
        for p in procs:
            stop_process(p)
        last = store.stop()
    result["peak_rss_mb"] = {**result.get("peak_rss_mb", {}), "loader": last.get("peak_rss_mb")}
    result["cfg"] = cfg
    return result


class RssSampler(threading.Thread):
    """The first worker's resident memory (VmRSS) through a run, every 5 s: where its memory goes
    up (the book grows with the events; buffers with a burst)."""

    def __init__(self, pid: int, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        started = time.time()
        while not self._done.wait(self.every):
            mib = peak_rss_mb(self.pid, "VmRSS")
            if mib is None:
                return
            self.samples.append((round(time.time() - started), round(mib)))

    def stop(self) -> list[tuple[float, int]]:
        """[seconds since the start, MiB], as sampled so far."""
        self._done.set()
        return list(self.samples)


def _late_enrolment(event) -> bool:
    return isinstance(event, dict) and event.get("type") == "beneficiary.enrolled"


def release_burst(producer, store, enrolments: list[dict], procs, timeout: float) -> dict:
    """Post the late enrolments at once; how many parked timesheets they released and how long
    until the last of their entries was loaded."""
    started = time.time()
    since = dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="milliseconds")
    post(producer, [(json.dumps(e, separators=(",", ":")).encode(), key_of(e)) for e in enrolments])
    deadline = time.monotonic() + timeout
    while True:
        b = store.ask("burst", since=since)
        if b["waiting"] == 0 and b["last_loaded_at"] is not None:
            time.sleep(2)  # the loader's next batch: nothing of the burst may come after this
            again = store.ask("burst", since=since)
            if again["entries"] == b["entries"]:
                break
        check_alive(procs)
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    seconds = round(b["last_loaded_at"] - started, 2) if b["last_loaded_at"] else None
    return {"enrolments": len(enrolments), "released": b["released"], "entries": b["entries"],
            "still_waiting": b["waiting"], "seconds_to_last_entry": seconds,
            "released_per_second": round(b["released"] / seconds) if seconds else None}


def records_written(cfg, topic: str) -> int:
    """Records ever written to a topic (its partitions' end offsets: the state log's start moves
    when a snapshot lets the history before it go)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def state_restore(cfg, partition: int = 0) -> dict:
    """What a worker taking a routed partition over does: read its state log (from the last
    committed snapshot) up to the group's committed offset, timed in this process."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.worker.state import restore

    # In the workers' group only to read its committed offset: it subscribes to nothing, joins nothing.
    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=cfg.worker_id, enable_auto_commit=False)
    try:
        committed = consumer.committed(TopicPartition(cfg.routed_topic, partition))
        state = TopicPartition(cfg.state_topic, partition)
        start, end = consumer.beginning_offsets([state])[state], consumer.end_offsets([state])[state]
    finally:
        consumer.close()
    started, cpu = time.monotonic(), time.process_time()
    restored = asyncio.run(restore(cfg.bootstrap_servers, cfg.state_topic, partition, committed))
    return {"partition": partition, "seconds": round(time.monotonic() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2), "log_records_written": end,
            "log_records_kept": end - start, "records_read": restored.read, "mb_read": round(restored.bytes / 2**20, 1),
            "from_snapshot": restored.from_snapshot, "keys": sum(restored.book.size().values())}


def allow_settling(cfg) -> None:
    """Kafka refuses a message timestamp more than message.timestamp.after.max.ms ahead of its clock
    (1 h by default): the benchmark's own intake topic takes settle_pending's tick."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    ahead_ms = int((cfg.pending_timeout_hours + 1) * 3600 * 1000)
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id="bench-admin")
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, cfg.intake_topic,
                                            configs={"message.timestamp.after.max.ms": str(ahead_ms)})])
    finally:
        admin.close()


def replay(msgs, cfg, workdir: Path, timeout: float) -> dict:
    """A new loader group into a fresh store rebuilds the projection from the topics' history."""
    # Named after the run it replays, as the run's own directory is: a --workdir used before still
    # holds the last run's replay, and finding it stopped a run after its pipeline phase.
    replay_dir = workdir / f"{cfg.topic_prefix}-replay"
    replay_dir.mkdir()
    cfg = cfg.model_copy(update={"loader_group": cfg.loader_group + "-replay",
                                 "clickhouse_dsn": f"chdb://{replay_dir / 'store'}",
                                 "clickhouse_database": "replay"})
    started = time.time()
    store = StoreProcess(cfg, replay_dir)
    try:
        totals = store.wait_accounted(msgs.posted, timeout=timeout)
        visible = totals["time"]
    finally:
        last = store.stop()
    problems = compare(totals, msgs.expected())
    return {"replay_seconds": round(visible - started, 1), "records": msgs.posted,
            "records_per_second": round(msgs.posted / (visible - started)),
            "peak_rss_mb_loader": last.get("peak_rss_mb"), "equal_to_expected": not problems,
            "problems": problems[:10]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--workers", default="1,2", help="pipeline runs, by number of workers")
    parser.add_argument("--batch", type=int, default=500,
                        help="events per Kafka message at the producer (1 = one event per message)")
    parser.add_argument("--parse-limit", type=int, default=500_000, help="activity events for parse_attribute_rate")
    parser.add_argument("--freshness-rate", type=float, default=1000)
    parser.add_argument("--freshness-seconds", type=float, default=30)
    parser.add_argument("--freshness-linger", type=float, default=0.05,
                        help="the paced producer sends what is due every this many seconds")
    parser.add_argument("--profile-seconds", type=int, default=0, help="py-spy the 1-worker run's worker this long")
    parser.add_argument("--no-replay", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600, help="most seconds a pipeline run may take")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline.json")
    parser.add_argument("--workdir", type=Path, default=None, help="broker and stores (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.profile_seconds and not (Path(sys.executable).parent / "py-spy").exists():
        parser.error("--profile-seconds needs py-spy beside this Python (the dev extra installs it: make setup)")

    import logging
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    from kafka.record import util as kafka_record_util

    from streams.kafka.localkafka import LocalKafka
    from streams.settings import Settings

    size = SIZES[args.size]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "kafka_python_crc32c_in_c": kafka_record_util.crc32c_c is not None,
                    # The loader's CPU depends on it (bench/filesystem.py): the broker's log and the stores live here.
                    "workdir_filesystem": filesystem_of(workdir)},
        "size": args.size, "size_params": {k: str(v) for k, v in asdict(size).items()},
        "producer_batch_events": args.batch,
    }

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    started = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    msgs = messages(size, args.seed)
    timesheets = sum(1 for e in msgs.programme.activity if isinstance(e, dict))
    results["generation"] = {"seconds": round(time.perf_counter() - started, 1),
                             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                             "peak_rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                          - rss_before) / 1024),
                             "reference_events": len(msgs.reference), "timesheet_events": timesheets,
                             "activity_lines": len(msgs.activity), "expected": {
                                 k: v for k, v in msgs.expected().items() if k != "hours_by_contract"}}
    say(f"generated {args.size}: {results['generation']}")

    results["parse"] = parse_attribute_rate(msgs, args.parse_limit)
    # The modules of the worker's path that ran compiled (setup.py): the workers import the same.
    results["machine"]["compiled_modules"] = compiled()
    say(f"parse/attribute: {results['parse']}")

    # The freshness phase sends the programme's last timesheets, paced; the rest goes at full speed.
    # At most half of them, so that a small programme still has a main phase to measure.
    fresh_n = min(int(args.freshness_rate * args.freshness_seconds), len(msgs.activity) // 2)
    fresh_idx = [i for i in range(len(msgs.activity) - 1, -1, -1) if msgs.activity[i][1] is not None][:fresh_n]
    # msgs.activity is every phase after the reference data, in posting order (bench.harness.messages).
    prog = msgs.programme
    later = prog.activity + prog.follow_up + prog.resolutions
    freshness_events = [later[i] for i in sorted(fresh_idx)]
    # An event posted twice (the generator's duplicates: a contractor's retry) is sent as it was,
    # both times: a new stamp on either would make it other content under the same id.
    posted_ids = collections.Counter(e["event_id"] for e in later if isinstance(e, dict))
    freshness_events = [{**e, "_retry": True} if isinstance(e, dict) and posted_ids[e["event_id"]] > 1 else e
                        for e in freshness_events]
    held = set(fresh_idx)
    msgs.activity = [m for i, m in enumerate(msgs.activity) if i not in held]
    msgs_posted_total = len(msgs.reference) + len(msgs.activity) + len(freshness_events)

    class _Msgs:  # the same programme, with the freshness events counted as posted
        reference, activity, programme = msgs.reference, msgs.activity, msgs.programme
        posted = msgs_posted_total
        expected = msgs.expected

    base = Settings(**PENDING)
    broker = LocalKafka(workdir / "kafka", base.kafka_version, base.kafka_cache, heap="1g")
    base = base.model_copy(update={"kafka_dsn": broker.start()})
    args.broker_pid = broker.pid()
    say(f"Kafka at {base.kafka_dsn}, work dir {workdir}")
    runs = []
    try:
        for workers in [int(w) for w in args.workers.split(",") if w]:
            run = run_pipeline(args, _Msgs, freshness_events, base, workdir, workers,
                               profile=bool(args.profile_seconds) and not runs)
            runs.append(run)
            say(f"{workers} worker(s): {json.dumps({k: v for k, v in run.items() if k not in ('cfg', 'profile')})}")
        results["pipeline"] = [{k: v for k, v in r.items() if k != "cfg"} for r in runs]
        if runs and not args.no_replay:
            results["replay"] = replay(_Msgs, runs[0]["cfg"], workdir, args.timeout)
            say(f"replay: {results['replay']}")
    finally:
        broker.stop()
    parse_rate = results["parse"]["parse_attribute_rate"]
    for r in results.get("pipeline", []):
        r["ratio_to_parse_attribute_rate"] = round(r["pipeline_rate"] / parse_rate, 3)
    results["total_seconds"] = round(time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(table(results))
    print(f"\nwritten {args.out}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    ok = all(r["totals"]["equal_to_expected"] for r in results.get("pipeline", [])) and \
        results.get("replay", {}).get("equal_to_expected", True)
    return 0 if ok else 1


def table(results: dict) -> str:
    g, p = results["generation"], results["parse"]
    fs = results["machine"].get("workdir_filesystem")
    rows = [("size", f"{results['size']}: {g['reference_events']:,} reference + {g['activity_lines']:,} activity "
                     f"events ({g['timesheet_events']:,} timesheets)"),
            ("producer batch", f"{results['producer_batch_events']} events per Kafka message"),
            ("broker and stores on", describe(fs) if fs else "(not recorded)"),
            ("generation", f"{g['seconds']} s, peak RSS {g['peak_rss_mb']} MiB"),
            ("compiled by Cython", ", ".join(results["machine"].get("compiled_modules", [])) or
             "none: the Python sources (python setup.py build_ext --inplace)"),
            ("parse_attribute_rate", f"{p['parse_attribute_rate']:,} events/s (with output encoding "
                                     f"{p['with_output_encoding_rate']:,}/s; {p['events']:,} events; "
                                     f"{p.get('decide_cpu_us_per_event')} CPU-us/event)")]
    for r in results.get("pipeline", []):
        w = r["workers"]
        rows.append((f"pipeline_rate, {w} worker(s)", f"{r['pipeline_rate']:,} events/s ({r['events']:,} events in "
                                                       f"{r['seconds']} s; ratio {r['ratio_to_parse_attribute_rate']})"))
        if "freshness" in r:
            f = r["freshness"]
            rows.append((f"freshness, {w} worker(s)", f"p50 {f['p50']} s, p99 {f['p99']} s at {f['achieved_rate']:,}/s "
                                                      f"({f['entries']:,} entries)"))
            for part, what in (("steady", "decided on arrival"), ("released", "released by later reference data")):
                if part in f and f[part]["entries"]:
                    g = f[part]
                    rows.append((f"  {part}, {w} worker(s)", f"p50 {g['p50']} s, p90 {g['p90']} s, p99 {g['p99']} s "
                                                            f"({g['entries']:,} entries {what})"))
            if "steady_seconds" in f:
                t = f["steady_seconds"]
                rows.append((f"  slowest seconds, {w} worker(s)",
                             f"{t['over_2s']} of {t['seconds']} s with an entry over 2 s; slowest (second of the phase: "
                             "worst / median ms): " + ", ".join(f"{s['second']}: {s['worst_ms']} / {s['median_ms']}"
                                                               for s in t["slowest"])))
        if "release_burst" in r:
            b = r["release_burst"]
            rows.append((f"release burst, {w} worker(s)",
                         f"{b['enrolments']:,} late enrolments posted at once released {b['released']:,} parked "
                         f"timesheets ({b['entries']:,} entries), the last loaded after {b['seconds_to_last_entry']} s"
                         + (f"; {b['still_waiting']:,} STILL WAITING" if b["still_waiting"] else "")))
        rows.append((f"peak RSS, {w} worker(s)", ", ".join(f"{k} {v:.0f} MiB" for k, v in r["peak_rss_mb"].items()
                                                          if v is not None)))
        rows.append((f"CPU s during run, {w} worker(s)", ", ".join(f"{k} {v}" for k, v in r["cpu_seconds"].items())))
        if "cpu_us_per_event" in r:
            rows.append((f"CPU-us per event, {w} worker(s)",
                         ", ".join(f"{k} {v}" for k, v in r["cpu_us_per_event"].items())))
            if "busy_cores" in r:
                rows.append((f"cores busy while loading, {w} worker(s)",
                             ", ".join(f"{k} {v}" for k, v in r["busy_cores"].items())))
            rows.append((f"state records per event, {w} worker(s)",
                         f"{r['state_records_per_event']} ({r['state_records']:,} records)"))
        if "state_restore" in r:
            sr = r["state_restore"]
            rows.append((f"state restore, routed partition {sr['partition']}",
                         f"{sr['seconds']} s ({sr['cpu_seconds']} CPU s): {sr['records_read']:,} records, "
                         f"{sr['mb_read']} MB read {'from a snapshot' if sr['from_snapshot'] else 'from the beginning'} "
                         f"(the log keeps {sr['log_records_kept']:,} of the {sr['log_records_written']:,} written)"))
        rows.append((f"totals, {w} worker(s)", "equal to the generator's, to the hour" if r["totals"]["equal_to_expected"]
                     else f"MISMATCH {r['totals']['problems']}"))
    if "replay" in results:
        rp = results["replay"]
        rows.append(("replay_seconds", f"{rp['replay_seconds']} s ({rp['records_per_second']:,} records/s, "
                                       f"{'equal' if rp['equal_to_expected'] else 'MISMATCH'})"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


if __name__ == "__main__":
    sys.exit(main())
