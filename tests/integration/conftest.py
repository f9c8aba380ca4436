"""Real parts for the integration tests: one Apache Kafka broker and one chDB store per session.

chDB opens one path per process, so tests share the store and isolate themselves by database;
they share the broker and isolate themselves by topic prefix and consumer group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from streams.demo import settings_env, start_worker, stop_process, wait_accounted, wait_settled
from streams.loader.app import Loader, run_in_thread
from streams.kafka.localkafka import LocalKafka
from streams.contractor.producer import ContractorProducer, let_time_pass, post_lines
from streams.settings import Settings
from tests.support.faults import Rig
from streams.store import Store
from streams.kafka.topics import ensure_topics

_names = itertools.count(1)
PENDING_TIMEOUT_S = 20  # long enough that a slow, loaded machine still sees them pending


@pytest.fixture(scope="session")
def kafka_dsn(tmp_path_factory):
    if os.environ.get("LEDGER_TEST_KAFKA_DSN"):
        yield os.environ["LEDGER_TEST_KAFKA_DSN"]
        return
    base = Settings()
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), base.kafka_version, base.kafka_cache)
    yield broker.start()
    broker.stop()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chdb")


class Pipeline:
    """A worker process, a loader thread and a producer, on topics and a database of their own."""

    def __init__(self, cfg: Settings, workdir: Path):
        self.cfg = cfg
        self.workdir = workdir
        ensure_topics(cfg)
        self.store = Store.from_settings(cfg)
        self.store.apply_schema()
        self.worker: subprocess.Popen | None = None
        self.loader: Loader | None = None
        self.producer = ContractorProducer(cfg)
        self.posted = 0

    def start_worker(self) -> None:
        self.worker = start_worker(self.cfg, self.workdir / "worker.log")

    def stop_worker(self, kill: bool = False) -> None:
        if self.worker is not None:
            if kill:
                self.worker.kill()
                self.worker.wait()
            else:
                stop_process(self.worker)
            self.worker = None

    def start_loader(self) -> None:
        self.loader = Loader(self.cfg, self.store)
        self._loader_thread = run_in_thread(self.loader)

    def stop_loader(self) -> None:
        if self.loader is not None:
            self.loader.stop()
            self._loader_thread.join(timeout=30)
            self.loader = None

    def post(self, *events: dict | str, validate: bool = False) -> int:
        lines = [(n, json.dumps(e) if isinstance(e, dict) else e) for n, e in enumerate(events, start=1)]
        report = post_lines(self.producer, lines, validate=validate)
        self.posted += report.sent
        return report.sent

    def let_time_pass(self) -> None:
        """Stream time past every pending deadline (the worker's own clock tick, dated ahead), so that
        a test sees pending events expire when it says so, not when the wall clock gets there."""
        let_time_pass(self.cfg, dt.datetime.now(dt.timezone.utc)
                      + dt.timedelta(hours=self.cfg.pending_timeout_hours, minutes=1))

    def wait_accounted(self, timeout: float = 120) -> dict:
        """Until every posted event is accepted, rejected or pending."""
        with self._worker_log_on_timeout():
            return wait_accounted(self.store, self.posted, self.worker, timeout=timeout)

    def wait_settled(self, timeout: float = 120) -> dict:
        """Until every posted event is accepted or rejected (pending ones resolved or expired)."""
        with self._worker_log_on_timeout():
            return wait_settled(self.store, self.posted, self.worker, timeout=timeout)

    @contextlib.contextmanager
    def _worker_log_on_timeout(self, lines: int = 40):
        # CI keeps only pytest's output: a stalled pipeline must say there what its worker was doing.
        try:
            yield
        except TimeoutError as timeout:
            log = self.workdir / "worker.log"
            tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            raise TimeoutError(f"{timeout}\nlast lines of {log}:\n" + "\n".join(tail)) from None

    def rows(self, sql: str, **parameters) -> list[dict]:
        result = self.store.query(sql, parameters)
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def rejection_topic(self, expected: int, timeout: float = 30) -> list[dict]:
        """The rejection topic's messages, read from Kafka itself."""
        consumer = KafkaConsumer(self.cfg.rejections_topic, bootstrap_servers=self.cfg.bootstrap_servers,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=2000)
        found, deadline = [], time.monotonic() + timeout
        try:
            while len(found) < expected and time.monotonic() < deadline:
                for message in consumer:
                    found.append(json.loads(message.value))
        finally:
            consumer.close()
        return found

    def close(self) -> None:
        self.stop_loader()
        self.stop_worker()
        self.producer.close()
        self.store.close()

    def env(self) -> dict[str, str]:
        return dict(os.environ, **settings_env(self.cfg))


@pytest.fixture
def pipeline_factory(kafka_dsn, chdb_path, tmp_path):
    made = []

    def make(start: bool = True) -> Pipeline:
        n = next(_names)
        name = f"t{n}-{os.getpid()}-{int(time.time())}"
        cfg = Settings(kafka_dsn=kafka_dsn, clickhouse_dsn=f"chdb://{chdb_path}", clickhouse_database=f"db_{n}",
                       topic_prefix=name, worker_id=f"{name}-worker", loader_group=f"{name}-loader",
                       worker_datadir=tmp_path / f"worker-{n}", loader_batch_seconds=0.2,
                       # Late reference data waits seconds, not days, so that tests see it expire.
                       pending_timeout_hours=PENDING_TIMEOUT_S / 3600, tick_seconds=0.5,
                       # worker.log in the test's tmp dir tells what a failed run's worker did
                       log_level="info",
                       # a killed worker's partitions move on after 10 s, not 45
                       worker_session_timeout_seconds=10)
        pipeline = Pipeline(cfg, tmp_path)
        made.append(pipeline)
        if start:
            pipeline.start_worker()
            pipeline.start_loader()
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


@pytest.fixture
def pipeline(pipeline_factory) -> Pipeline:
    return pipeline_factory()


@pytest.fixture
def rigs(kafka_dsn, tmp_path):
    """Fault-test rigs (tests/support/faults.py), each closed after the test."""
    made = []

    def make(*args, **kwargs) -> Rig:
        rig = Rig(kafka_dsn, tmp_path, *args, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def run_cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def ledger_in_process(env: dict[str, str], monkeypatch, *args: str) -> tuple[int, str, str]:
    """`ledger ARGS` run in this process with the LEDGER_* settings of `env`: (exit code, stdout, stderr).

    Its output is taken with redirect_stdout (no capsys to pass around). In full runs it once went
    missing all the same: a Faust worker an earlier test had set up in this process, collected
    meanwhile, set sys.stdout back to sys.__stdout__ (see test_cli's logging test, which now closes it)."""
    from streams import cli
    from streams.settings import settings

    for name, value in env.items():
        if name.startswith("LEDGER_"):
            monkeypatch.setenv(name, value)
    settings.cache_clear()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        settings.cache_clear()
    return code, out.getvalue(), err.getvalue()
