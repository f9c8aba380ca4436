"""`ledger demo`: a synthetic programme through the real pipeline, checked against its expectations.

Kafka: the configured broker (LEDGER_KAFKA_DSN), or else a local one started for the demo.
ClickHouse: the configured DSN, or else an embedded store in the demo's directory. Names of
topics, consumer groups and database are scoped to this run, so a demo never mixes with other data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from ledger.synthetic import Size, SyntheticProgramme, generate
from streams.loader import Loader, run_in_thread
from streams.localkafka import LocalKafka
from streams.producer import ContractorProducer, post_lines
from streams.report import progress_tables, render_progress
from streams.settings import Settings, settings
from streams.store import Store
from streams.topics import ensure_topics

ACCOUNTED_TIMEOUT_S = 600


def programme(seed: int, beneficiaries: int | None) -> SyntheticProgramme:
    size = Size() if beneficiaries is None else replace(Size(), beneficiaries=beneficiaries)
    return generate(seed=seed, size=size)


def write_programme(out: Path, seed: int, beneficiaries: int | None) -> list[Path]:
    prog = programme(seed, beneficiaries)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "reference.jsonl", out / "activity.jsonl", out / "expected.json"]
    paths[0].write_text("".join(json.dumps(e) + "\n" for e in prog.reference))
    paths[1].write_text("".join((json.dumps(e) if isinstance(e, dict) else e) + "\n" for e in prog.activity))
    paths[2].write_text(json.dumps(prog.expected.as_json(), indent=2) + "\n")
    return paths


class Stopwatch:
    def __init__(self) -> None:
        self.start = self.last = time.monotonic()

    def step(self, what: str) -> None:
        now = time.monotonic()
        print(f"  [{now - self.start:6.1f}s] {what} ({now - self.last:.1f}s)", flush=True)
        self.last = now


def run_demo(workdir: Path, seed: int = 2015, beneficiaries: int | None = None) -> int:
    clock = Stopwatch()
    base = settings()
    run = time.strftime("%Y%m%d%H%M%S")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    workdir = workdir.resolve()

    broker = None
    overrides = {"topic_prefix": f"demo-{run}", "worker_id": f"demo-{run}", "loader_group": f"demo-{run}-loader",
                 "clickhouse_database": f"demo_{run}", "worker_datadir": workdir / "worker"}
    if "LEDGER_KAFKA_DSN" not in os.environ:
        print("Starting a local Apache Kafka broker (jars cached under ~/.cache)...", flush=True)
        broker = LocalKafka(workdir / "kafka", base.kafka_version, base.kafka_cache)
        overrides["kafka_dsn"] = broker.start()
        clock.step(f"Kafka {base.kafka_version} ready at {overrides['kafka_dsn']}")
    if "LEDGER_CLICKHOUSE_DSN" not in os.environ:
        overrides["clickhouse_dsn"] = f"chdb://{workdir / 'store'}"
    cfg = base.model_copy(update=overrides)

    worker = loader = None
    try:
        ensure_topics(cfg)
        worker = start_worker(cfg, workdir / "worker.log")
        store = Store.from_settings(cfg)
        store.apply_schema()
        loader = Loader(cfg, store)
        loader_thread = run_in_thread(loader)
        clock.step(f"topics, worker (pid {worker.pid}) and loader started; ClickHouse at {cfg.clickhouse_dsn}")

        prog = programme(seed, beneficiaries)
        write_programme(workdir / "programme", seed, beneficiaries)
        timesheets = sum(1 for e in prog.activity if isinstance(e, dict))
        clock.step(f"generated {len(prog.reference)} reference events and {timesheets} timesheets "
                   f"({prog.expected.rejections_by_reason['duplicate_event']} duplicates, "
                   f"{prog.expected.rejected - prog.expected.rejections_by_reason['duplicate_event']} not countable, "
                   f"{sum(prog.expected.malformed_by_reason.values())} malformed lines)")

        with ContractorProducer(cfg) as producer:
            reference = post_lines(producer, enumerate((json.dumps(e) for e in prog.reference), start=1))
            wait_accounted(store, reference.sent, worker)
            clock.step(f"posted {reference.sent} reference events (programme, contracts, enrolments); all accounted")

            lines = [(n, json.dumps(e) if isinstance(e, dict) else e) for n, e in enumerate(prog.activity, start=1)]
            activity = post_lines(producer, lines)
            for refusal in activity.refused:
                print(f"    activity.jsonl:{refusal.line}: refused before posting ({refusal.reason}) {refusal.detail}")
            clock.step(f"posted {activity.sent} activity events; refused {len(activity.refused)} lines before posting")

            # A contractor system that does not validate sends the same lines straight to Kafka:
            # the worker must reject them with a reason, and not stop.
            unvalidated = [(r.line, lines[r.line - 1][1]) for r in activity.refused]
            raw = post_lines(producer, unvalidated, validate=False)
            clock.step(f"posted the {raw.sent} malformed lines again without validation")

        posted = reference.sent + activity.sent + raw.sent
        accounting = wait_accounted(store, posted, worker)
        clock.step("everything posted is accounted for in ClickHouse")

        print()
        print(render_progress(progress_tables(store)))
        print()
        ok = check(store, prog, posted, accounting)
        loader.stop()
        loader_thread.join(timeout=30)
        store.close()
        verdict = "the hours in ClickHouse equal the hours the generator expects" if ok else \
            "MISMATCH between ClickHouse and the generator's expectations"
        print(f"posted {posted} events: accepted {accounting['accepted']}, rejected {accounting['rejected']} "
              f"(of which duplicates {accounting['duplicates']}); refused before posting {len(activity.refused)} "
              f"lines; hours {accounting['hours']:,.2f} vs expected {prog.expected.total_hours:,.2f}: {verdict}")
        return 0 if ok else 1
    finally:
        if loader is not None:
            loader.stop()
        if worker is not None:
            stop_worker(worker)
        if broker is not None:
            broker.stop()


def start_worker(cfg: Settings, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, **settings_env(cfg))
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_worker(worker: subprocess.Popen, timeout: float = 30) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def settings_env(cfg: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    return {f"LEDGER_{name.upper()}": str(value) for name, value in cfg.model_dump().items()}


def wait_accounted(store: Store, posted: int, worker: subprocess.Popen | None = None,
                   timeout: float = ACCOUNTED_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        accounting = store.rows("accounting")[0]
        if accounting["accepted"] + accounting["rejected"] >= posted:
            return accounting
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {accounting['accepted'] + accounting['rejected']} of {posted} accounted")
        time.sleep(0.5)


def check(store: Store, prog: SyntheticProgramme, posted: int, accounting: dict) -> bool:
    """Compare the store with the generator's ground truth; print every difference."""
    expected = prog.expected
    problems = []
    stored = {r["contract_id"]: r for r in store.rows("hours_by_contract")}
    for contract_id, hours in expected.hours_by_contract.items():
        got = stored.get(contract_id, {}).get("hours", Decimal(0))
        if got != hours:
            problems.append(f"contract {contract_id}: {got} h stored, {hours} h expected")
    for contract_id in stored.keys() - expected.hours_by_contract.keys():
        problems.append(f"contract {contract_id}: hours stored, none expected")
    reasons = {r["reason"]: r["events"] for r in store.query(
        "SELECT reason, events FROM rejections_by_reason").named_results()}
    want = dict(expected.rejections_by_reason + expected.malformed_by_reason)
    if reasons != want:
        problems.append(f"rejections by reason: {reasons} stored, {want} expected")
    if accounting["accepted"] != expected.accepted:
        problems.append(f"accepted: {accounting['accepted']} stored, {expected.accepted} expected")
    if accounting["accepted"] + accounting["rejected"] != posted:
        problems.append(f"posted {posted} != accepted + rejected {accounting['accepted'] + accounting['rejected']}")
    for problem in problems:
        print(f"  MISMATCH {problem}")
    print(f"Rejections by reason: {dict(sorted(reasons.items()))}")
    return not problems
