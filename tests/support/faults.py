"""The fault tests' rig (tests/integration/test_faults*.py): one pipeline on one broker, worker
processes, the store process (`bench.storeproc`, which owns the test's chDB path, so that a test can
kill the loader too), a batching producer, and the check against the generator's totals.

LEDGER_FAULT_SCALE multiplies the programmes' sizes for longer runs; LEDGER_FAULT_SEED chooses the
kill points (fixed by default, printed with the result; `random` draws new ones).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from bench.harness import PENDING_TIMEOUT, StoreProcess, compare, messages, settle_pending, size_with, start_worker
from streams.contractor.producer import ContractorProducer
from streams.demo import stop_process
from streams.kafka.topics import ensure_topics
from streams.settings import Settings

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


def restores(rig: Rig, n: int) -> list[str]:
    """The restore lines of the n-th worker started (0 the first): one per partition it took."""
    log = rig.workdir / f"worker-{n}.log"
    return [line for line in log.read_text(errors="replace").splitlines() if "restored at offset" in line] \
        if log.exists() else []
