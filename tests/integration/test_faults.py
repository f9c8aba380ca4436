"""Fault injection on the real parts: each test ends with the store's totals equal to the synthetic
generator's expected totals, to the hour (accepted, rejected by reason, hours by contract).

Every test runs its own pipeline: topics and consumer groups of its own, Faust worker processes,
and the loader in a process of its own (`bench.storeproc`) that owns the test's chDB path, so a
test can kill the loader too; the test process itself never opens chDB and asks that process for
the totals. Faults are real where they can be: SIGKILL of the worker, SIGKILL of the loader
process, SIGKILL of the broker. The store's unavailability is simulated (see its test).

Sized for CI (the whole file in a few minutes on 2 cores). LEDGER_FAULT_SCALE multiplies the
programmes' sizes for longer runs, e.g. the Grand Paris size for the worker-kill test:

    LEDGER_FAULT_SCALE=19 .venv/bin/python -m pytest tests/integration/test_faults.py -k worker_killed
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.harness import (PENDING_TIMEOUT, StoreProcess, compare, messages, settle_pending,
                           size_with, start_worker)
from streams.demo import stop_process
from streams.kafka.localkafka import LocalKafka, free_port
from streams.contractor.producer import ContractorProducer
from streams.settings import Settings
from streams.kafka.topics import ensure_topics
from tests.support.kafka import log_starts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = float(os.environ.get("LEDGER_FAULT_SCALE", "1"))
# The kill points: fixed, so that a failure is reproduced by running again (printed with the result);
# LEDGER_FAULT_SEED=random draws new ones, any number chooses its own.
_SEED = os.environ.get("LEDGER_FAULT_SEED", "20261204")
SEED = random.SystemRandom().randrange(1, 10**6) if _SEED == "random" else int(_SEED)
# A SIGKILLed worker or loader stays in its consumer group until its session times out (45 s by
# default); the tests' workers and loaders use a short one so that a restarted one takes over sooner.
ACCOUNTED_TIMEOUT_S = 300 * max(1.0, SCALE)


def beneficiaries(n: int) -> int:
    return max(20, round(n * SCALE))


class Rig:
    """One pipeline on one broker: worker processes, the store process, a batching producer."""

    def __init__(self, kafka_dsn: str, workdir: Path, n_beneficiaries: int, store_env: dict | None = None,
                 seed: int = 2015, batch: int = 200, **settings):
        name = f"f{os.getpid()}-{int(time.time() * 1000) % 10**8}"
        self.workdir = workdir
        self.cfg = Settings(kafka_dsn=kafka_dsn, clickhouse_dsn=f"chdb://{workdir / 'store'}",
                            clickhouse_database="faults", topic_prefix=name, worker_id=f"{name}-worker",
                            loader_group=f"{name}-loader", loader_batch_seconds=0.2,
                            loader_batch_size=2000, worker_session_timeout_seconds=8,
                            loader_session_timeout_seconds=8,
                            **{**PENDING_TIMEOUT, **settings})
        ensure_topics(self.cfg)
        self.msgs = messages(size_with(n_beneficiaries), seed)
        self.store = StoreProcess(self.cfg, workdir, env=store_env)
        self.producer = ContractorProducer(self.cfg, batch_events=batch)
        self.workers: list = []
        self.started_workers = 0
        self.posted = 0

    def start_worker(self):
        worker = start_worker(self.cfg, self.workdir, self.started_workers)
        self.started_workers += 1
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        self.workers.remove(worker)

    def post(self, items) -> None:
        futures = [f for f in (self.producer.send(value, key) for value, key in items) if f is not None]
        futures += self.producer.send_pending()
        self.producer.flush()
        for future in futures:
            future.get(timeout=60)
        self.posted += len(items)

    def post_reference(self) -> None:
        """The programme's contracts and enrolments, decided before the activity, as a programme
        starts. (Posted at once with the activity, a contract is learned by each person's partition
        a moment after its home partition decides it; a correction or resolution racing that moment
        can be decided in another order than posted: see docs/scaling.md.)"""
        self.post(self.msgs.reference)
        self.store.wait_accounted(self.posted, timeout=120, workers=self.workers, settled=False)

    def rows(self) -> int:
        return self.store.rows()

    def totals(self) -> dict:
        # Decided or waiting first: the contracts a partition learns from another's decision are
        # then on their way ahead of the clock that expires what still waits.
        self.store.wait_accounted(self.posted, timeout=ACCOUNTED_TIMEOUT_S, workers=self.workers, settled=False)
        settle_pending(self.cfg)
        return self.store.wait_accounted(self.posted, timeout=ACCOUNTED_TIMEOUT_S, workers=self.workers)

    def assert_exact(self, expected: dict | None = None) -> dict:
        totals = self.totals()
        problems = compare(totals, expected or self.msgs.expected())
        assert not problems, "\n".join(problems[:20])
        assert totals["accepted"] + totals["rejected"] == self.posted
        return totals

    def close(self) -> None:
        for worker in self.workers:
            stop_process(worker)
        if self.store.proc.poll() is None:
            self.store.stop()
        self.producer.close()


@pytest.fixture
def rigs(kafka_dsn, tmp_path):
    made = []

    def make(*args, **kwargs) -> Rig:
        rig = Rig(kafka_dsn, tmp_path, *args, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def test_worker_sigkilled_at_random_points_while_100k_events_flow(rigs):
    """SIGKILL the worker 3 times at random moments while >= 100k events are posted and
    processed; each time a new worker takes over (its partitions' state restored from the state
    log, uncommitted messages decided again, identically). Snapshots are written every ~1 MB of
    deltas, and the log before each committed one deleted, so the restores start at snapshots
    while the kills fall anywhere around them. Seed: LEDGER_FAULT_SEED."""
    rng = random.Random(SEED)
    rig = rigs(beneficiaries(1200), worker_snapshot_min_bytes=1_000_000, log_level="info")
    assert len(rig.msgs.activity) >= 100_000 * min(1.0, SCALE), len(rig.msgs.activity)
    worker = rig.start_worker()
    rig.post(rig.msgs.reference)
    rig.store.wait_accounted(rig.posted, timeout=120, workers=rig.workers)

    chunks = 4
    activity = rig.msgs.activity
    step = -(-len(activity) // chunks)
    kills = []
    for i in range(chunks):
        rig.post(activity[i * step:(i + 1) * step])
        if i == chunks - 1:
            break
        # Let the (new) worker get going on this chunk: its partitions restored and rows coming (the
        # loader catching up on the killed worker's outputs alone would not say it). Before the last
        # kill, a snapshot is committed and the log before it deleted, so that the next worker
        # restores from one however fast this machine is. Then kill it at a random point.
        deadline = time.monotonic() + 90
        before = kills[-1] if kills else len(rig.msgs.reference)
        while (not restores(rig, rig.started_workers - 1) or rig.rows() <= before) and time.monotonic() < deadline:
            time.sleep(0.5)
        while i == chunks - 2 and not any(log_starts(rig.cfg.bootstrap_servers, rig.cfg.state_topic).values()) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(rng.uniform(0.5, 5.0))
        assert worker.poll() is None, "the worker died on its own"
        kills.append(rig.rows())
        rig.kill_worker(worker)
        worker = rig.start_worker()
    print(f"seed {SEED}: {len(activity)} activity events, killed at {kills} rows visible")
    rig.assert_exact()
    assert len(kills) == 3
    starts = log_starts(rig.cfg.bootstrap_servers, rig.cfg.state_topic)
    print(f"state log starts (records deleted before the last committed snapshot): {starts}")
    assert any(starts.values()), starts
    restored = [line for n in range(1, rig.started_workers) for line in restores(rig, n)]
    assert any("from a snapshot" in line for line in restored), restored


def restores(rig: Rig, n: int) -> list[str]:
    """The restore lines of the n-th worker started (0 the first): one per partition it took."""
    log = rig.workdir / f"worker-{n}.log"
    return [line for line in log.read_text(errors="replace").splitlines() if "restored at offset" in line] \
        if log.exists() else []



def test_loader_sigkilled_between_clickhouse_write_and_offset_commit(rigs):
    """The loader process dies by SIGKILL right after a ClickHouse write and before committing the
    offsets behind it (twice: at its 2nd, then at its 3rd commit); a new loader re-reads those
    records and writes them again; the store's ids make the second write harmless."""
    rig = rigs(beneficiaries(300), store_env={"BENCH_FAULT_KILL_AT_COMMIT": "2"})
    rig.start_worker()
    # Not post_reference(): its wait asks the store process, which this test kills at its 2nd commit.
    rig.post(rig.msgs.reference)
    rig.post(rig.msgs.activity)
    for restart_env in ({"BENCH_FAULT_KILL_AT_COMMIT": "3"}, {}):
        assert rig.store.proc.wait(timeout=240) == -signal.SIGKILL
        rig.store._stderr.close()
        rig.store = StoreProcess(rig.cfg, rig.workdir, env=restart_env)
    rig.assert_exact()
    counts = rig.store.ask("counts")
    # Rows written twice are still there until ClickHouse merges them; FINAL counts each once.
    assert counts["entries"] + counts["rejections"] + counts["reference"] >= rig.posted


def test_broker_killed_and_restarted_mid_stream(tmp_path):
    """The broker (its own, on its own data directory) is SIGKILLed while the worker and the loader
    are busy, then started again on the same directory and port; the rest is posted after. The
    worker and the loader ride the outage out on their own, no process restarted: whatever they
    could not send or commit meanwhile they retry once the broker is back."""
    base = Settings()
    broker = LocalKafka(tmp_path / "kafka", base.kafka_version, base.kafka_cache, port=free_port())
    dsn = broker.start()
    rig = None
    try:
        rig = Rig(dsn, tmp_path, beneficiaries(300), log_level="info")
        rig.start_worker()
        rig.post(rig.msgs.reference)
        rig.store.wait_accounted(rig.posted, timeout=120, workers=rig.workers)
        half = len(rig.msgs.activity) // 2
        rig.post(rig.msgs.activity[:half])
        time.sleep(2)
        broker.kill()
        time.sleep(5)
        broker.start()
        rig.post(rig.msgs.activity[half:])
        rig.assert_exact()
    finally:
        if rig is not None:
            rig.close()
        broker.stop()


def test_store_unavailable_for_a_while(rigs):
    """Simulated: the embedded ClickHouse (chDB) runs inside the loader's process and cannot be
    stopped from outside, so from its 3rd insert on every insert raises ConnectionError for 12 s.
    The loader keeps its batch, backs off, commits nothing meanwhile, and resumes."""
    rig = rigs(beneficiaries(300), store_env={"BENCH_FAULT_STORE_DOWN": "3:12"})
    rig.start_worker()
    rig.post_reference()
    rig.post(rig.msgs.activity)
    rig.assert_exact()
    faults = rig.store.ask("counts")["faults"]
    assert faults["failed"] >= 2, faults


def test_every_event_delivered_twice_then_loader_replayed_from_offset_0(rigs, tmp_path):
    """Every message is posted twice (a contractor system that retries everything): the second
    delivery of each valid event is a duplicate_event rejection, each malformed line is rejected
    twice. Then new loader groups read both topics again from offset 0, into the same database
    (every row written again, counted once) and into a fresh one: the same totals each time."""
    rig = rigs(beneficiaries(200))
    rig.start_worker()
    rig.post(rig.msgs.reference)
    rig.store.wait_accounted(rig.posted, timeout=120, workers=rig.workers)
    rig.post(rig.msgs.reference + rig.msgs.activity)
    rig.post(rig.msgs.activity)
    expected = rig.msgs.expected()
    valid = sum(1 for _, key in rig.msgs.reference + rig.msgs.activity if key is not None)
    malformed = Counter(rig.msgs.programme.expected.malformed_by_reason)
    reasons = Counter(expected["rejections_by_reason"]) + malformed + Counter({"duplicate_event": valid})
    expected.update(rejected=expected["rejected"] + valid + sum(malformed.values()),
                    rejections_by_reason=dict(reasons))
    rig.assert_exact(expected)
    written = rig.store.ask("counts")
    rig.store.stop()

    for group, database in (("-replay-same", "faults"), ("-replay-fresh", "faults_replayed")):
        rig.cfg = rig.cfg.model_copy(update={"loader_group": rig.cfg.loader_group + group,
                                             "clickhouse_database": database})
        rig.store = StoreProcess(rig.cfg, tmp_path, name=f"store{group}")
        deadline = time.monotonic() + 180
        rows = written["entries"] + written["rejections"] + written["reference"]
        while rig.store.ask("counts")["loaded"] < rows:
            assert time.monotonic() < deadline, "the replaying loader did not read the whole history"
            time.sleep(0.5)
        rig.assert_exact(expected)
        rig.store.stop()
