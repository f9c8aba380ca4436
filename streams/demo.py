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
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from ledger.entries import Withheld
from ledger.synthetic import Size, SyntheticProgramme, generate
from ledger.trajectory import STATUSES
from streams.loader.app import Loader, run_in_thread
from streams.kafka.localkafka import LocalKafka
from streams.contractor.producer import ContractorProducer, post_lines
from streams.audit.report import progress_tables, render_progress
from streams.settings import Settings, settings
from streams.store import Store
from streams.kafka.topics import ensure_topics

ACCOUNTED_TIMEOUT_S = 600
DEMO_PENDING_TIMEOUT_S = 30


def prog_size(beneficiaries: int | None) -> Size:
    return Size() if beneficiaries is None else replace(Size(), beneficiaries=beneficiaries)


def programme(seed: int, beneficiaries: int | None) -> SyntheticProgramme:
    return generate(seed=seed, size=prog_size(beneficiaries))


def write_programme(out: Path, seed: int, beneficiaries: int | None) -> list[Path]:
    """One JSONL file per phase, to post in this order, and the expected totals."""
    prog = programme(seed, beneficiaries)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, (phase, events) in enumerate(prog.phases, start=1):
        path = out / f"{n}-{phase}.jsonl"
        path.write_text("".join((json.dumps(e) if isinstance(e, dict) else e) + "\n" for e in events))
        paths.append(path)
    paths.append(out / "expected.json")
    paths[-1].write_text(json.dumps(prog.expected.as_json(), indent=2) + "\n")
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
    # Pending timesheets wait seconds here, not the rulebook's days, so that unknown contracts turn
    # into rejections within the demo.
    overrides = {"topic_prefix": f"demo-{run}", "worker_id": f"demo-{run}", "loader_group": f"demo-{run}-loader",
                 "clickhouse_database": f"demo_{run}", "worker_datadir": workdir / "worker",
                 "pending_timeout_hours": DEMO_PENDING_TIMEOUT_S / 3600, "tick_seconds": 1.0}
    if "LEDGER_KAFKA_DSN" not in os.environ:
        print("Starting a local Apache Kafka broker (jars cached under ~/.cache)...", flush=True)
        broker = LocalKafka(workdir / "kafka", base.kafka_version, base.kafka_cache)
        overrides["kafka_dsn"] = broker.start()
        clock.step(f"Kafka {base.kafka_version} ready at {overrides['kafka_dsn']}")
    if "LEDGER_CLICKHOUSE_DSN" not in os.environ:
        overrides["clickhouse_dsn"] = f"chdb://{workdir / 'store'}"
    cfg = base.model_copy(update=overrides)

    worker = loader = live = None
    try:
        ensure_topics(cfg)
        worker = start_worker(cfg, workdir / "worker.log")
        store = Store.from_settings(cfg)
        store.apply_schema()
        loader = Loader(cfg, store)
        loader_thread = run_in_thread(loader)
        clock.step(f"topics, worker (pid {worker.pid}) and loader started; ClickHouse at {cfg.clickhouse_dsn}")
        live = start_live(cfg, store)

        prog = programme(seed, beneficiaries)
        write_programme(workdir / "programme", seed, beneficiaries)
        timesheets = sum(1 for e in prog.activity if isinstance(e, dict) and e["type"] == "timesheet.submitted")
        clock.step(f"generated a programme: {len(prog.reference)} reference events, {timesheets} timesheets, "
                   f"{len(prog.follow_up)} follow-ups (corrections, retractions, over-claims, outcomes), "
                   f"{len(prog.resolutions)} resolutions")
        # "To date" is the end of the synthetic programme's months, not today: its activity is past.
        # Pinned before posting, so that the live view shows the statuses of that date as they form.
        store.insert_json_rows("ledger_settings", json.dumps({"as_of": prog.expected.as_of.isoformat()}).encode())

        posted, refused = 0, []
        with ContractorProducer(cfg) as producer:
            for phase, events in prog.phases:
                lines = [(n, json.dumps(e) if isinstance(e, dict) else e) for n, e in enumerate(events, start=1)]
                report = post_lines(producer, lines)
                posted += report.sent
                for refusal in report.refused:
                    print(f"    {phase}.jsonl:{refusal.line}: refused before posting ({refusal.reason}) {refusal.detail}")
                refused += [lines[r.line - 1] for r in report.refused]
                if phase == "activity" and refused:
                    # A contractor system that does not validate sends the same lines straight to
                    # Kafka: the worker must reject them with a reason, and not stop.
                    posted += post_lines(producer, refused, validate=False).sent
                accounting = wait_accounted(store, posted, worker)
                clock.step(f"{phase}: posted {report.sent} events"
                           + (f", refused {len(report.refused)} lines then posted them unvalidated" if report.refused else "")
                           + f"; accounted: {accounting['accepted']} accepted, {accounting['rejected']} rejected, "
                           f"{accounting['pending']} pending")

        accounting = wait_settled(store, posted, worker)
        clock.step("pending timesheets resolved or expired: everything posted is accepted or rejected")

        print()
        print(render_progress(progress_tables(store)))
        print()
        ok = check(store, prog, posted, accounting)
        loader.stop()
        loader_thread.join(timeout=30)
        from streams.audit.report_html import write_report

        ok = check_statuses(store, prog) and ok
        print(f"HTML report (progress against the trajectories): {write_report(store, workdir / 'report.html')[0]}")
        from streams.audit.open_data import write_open_data
        from streams.audit.workbook import write_workbook

        print(f"Buyer's workbook (xlsx): {write_workbook(store, workdir / 'workbook.xlsx')}")
        print(f"Open data (Frictionless Data Package): {write_open_data(store, workdir / 'open-data')[0]}")
        if live is not None:
            live.stop()  # before the store it reads is closed
        store.close()
        verdict = "the hours in ClickHouse equal the hours the generator expects" if ok else \
            "MISMATCH between ClickHouse and the generator's expectations"
        print(f"posted {posted} events: accepted {accounting['accepted']}, rejected {accounting['rejected']} "
              f"(of which duplicates {accounting['duplicates']}), pending {accounting['pending']}; "
              f"refused before posting {len(refused)} "
              f"lines; hours {accounting['hours']:,.2f} vs expected {prog.expected.total_hours:,.2f}: {verdict}")
        return 0 if ok else 1
    finally:
        if live is not None:
            live.stop()
        if loader is not None:
            loader.stop()
        if worker is not None:
            stop_process(worker)
        if broker is not None:
            broker.stop()


def start_live(cfg: Settings, store: Store):
    """The live view of the demo's store (docs/live.md), its address printed at once; another free
    port when the configured one is taken (unless LEDGER_LIVE_ADDRESS was set)."""
    from streams.live.server import LiveConfigError, LiveServer

    live = LiveServer(cfg, store, any_port_if_busy="LEDGER_LIVE_ADDRESS" not in os.environ)
    try:
        url = live.start()
    except LiveConfigError as error:
        print(f"  no live view: {error}", flush=True)
        return None
    if url:
        print(f"Live view while the demo runs (refreshes every {cfg.live_refresh_seconds:g} s): {url}/", flush=True)
    return live


def start_worker(cfg: Settings, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, **settings_env(cfg))
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds (a worker, a store process...)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()



def settings_env(cfg: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    return {f"LEDGER_{name.upper()}": str(value.get_secret_value() if isinstance(value, SecretStr) else value)
            for name, value in cfg.model_dump().items() if value is not None}


def accounted(accounting: dict, posted: int, settled: bool) -> bool:
    """Every posted event is accepted, rejected or pending (`settled`: accepted or rejected).

    Settled also means no pending row: a released timesheet's entries and its pending record are
    separate inserts, and a check between the two would see it both accepted and pending."""
    done = accounting["accepted"] + accounting["rejected"] + (0 if settled else accounting["pending"])
    return done >= posted and not (settled and accounting["pending"])


def wait_accounted(store: Store, posted: int, worker: subprocess.Popen | None = None,
                   timeout: float = ACCOUNTED_TIMEOUT_S, settled: bool = False) -> dict:
    """Until every posted event is accepted, rejected or pending (with `settled`: none pending)."""
    deadline = time.monotonic() + timeout
    while True:
        accounting = store.rows("accounting")[0]
        if accounted(accounting, posted, settled):
            return accounting
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {posted} accounted{' and settled' if settled else ''}: {accounting}")
        time.sleep(0.5)


def wait_settled(store: Store, posted: int, worker: subprocess.Popen | None = None,
                 timeout: float = ACCOUNTED_TIMEOUT_S) -> dict:
    return wait_accounted(store, posted, worker, timeout, settled=True)


def check_statuses(store: Store, prog: SyntheticProgramme) -> bool:
    """Each contract's status in contract_trajectory (what the HTML report and the workbook show), as of
    the pinned reference date, against the generator's; print every difference and the mix."""
    expected = prog.expected
    stored = {r["contract_id"]: r for r in store.query(
        "SELECT contract_id, status, hours_done, expected_to_date, (SELECT as_of FROM ledger_as_of) AS as_of "
        "FROM contract_trajectory").named_results()}
    problems = []
    for contract_id, status in sorted(expected.status_by_contract.items()):
        row = stored.get(contract_id)
        if row is None:
            problems.append(f"status of {contract_id}: not in contract_trajectory, {status} expected")
        elif row["as_of"] != expected.as_of:
            problems.append(f"status of {contract_id}: as of {row['as_of']} in ClickHouse, {expected.as_of} expected")
        elif row["status"] != status or row["expected_to_date"] != expected.expected_to_date_by_contract[contract_id]:
            problems.append(f"status of {contract_id}: {row['status']} in ClickHouse ({row['hours_done']} h done, "
                            f"{row['expected_to_date']} h expected to date), {status} expected by the generator "
                            f"({expected.expected_to_date_by_contract[contract_id]} h expected to date)")
    for contract_id in stored.keys() - expected.status_by_contract.keys():
        problems.append(f"status of {contract_id}: {stored[contract_id]['status']} in ClickHouse, no such contract expected")
    for problem in problems:
        print(f"  MISMATCH {problem}")
    mix = Counter(r["status"] for r in stored.values())
    shown = ", ".join(f"{mix[s]} {s}" for s in STATUSES if mix[s]) or "no contract"
    print(f"Statuses as of {expected.as_of.isoformat()} (contract_trajectory, as in the report): {shown}"
          + (", as the generator expects" if not problems else f"; {len(problems)} differ from the generator's"))
    return not problems


def check(store: Store, prog: SyntheticProgramme, posted: int, accounting: dict) -> bool:
    """Compare the store with the generator's ground truth; print every difference."""
    expected = prog.expected
    problems = []
    stored = {r["contract_id"]: r for r in store.rows("hours_by_contract")}
    for contract_id, hours in expected.hours_by_contract.items():
        got = stored.get(contract_id, {}).get("hours", Decimal(0))
        if got != hours:
            problems.append(f"contract {contract_id}: {got} h counted, {hours} h expected")
    for contract_id in stored.keys() - expected.hours_by_contract.keys():
        problems.append(f"contract {contract_id}: hours stored, none expected")
    targets = {r["contract_id"]: r["target_hours"] for r in store.rows("contract_targets")}
    if targets != expected.targets_by_contract:
        problems.append(f"targets: {targets} stored, {expected.targets_by_contract} expected")
    withheld = {(r["status"], r["reason"]): r["hours"] for r in store.rows("withheld_hours")}
    want_withheld = {("not_counted", reason): hours for reason, hours in expected.not_counted_hours_by_reason.items()}
    if expected.flagged_hours:
        want_withheld[("flagged", Withheld.CLAIMED_BY_TWO_CONTRACTORS.value)] = None  # checked as a total below
    flagged = sum((h for (status, _), h in withheld.items() if status == "flagged"), Decimal(0))
    if flagged != expected.flagged_hours:
        problems.append(f"flagged hours: {flagged} stored, {expected.flagged_hours} expected")
    not_counted = {k: v for k, v in withheld.items() if k[0] == "not_counted"}
    if not_counted != {k: v for k, v in want_withheld.items() if k[0] == "not_counted"}:
        problems.append(f"hours not counted by reason: {not_counted} stored, {want_withheld} expected")
    reasons = {r["reason"]: r["events"] for r in store.query(
        "SELECT reason, events FROM rejections_by_reason").named_results()}
    want = dict(expected.rejections_by_reason + expected.malformed_by_reason)
    if reasons != want:
        problems.append(f"rejections by reason: {reasons} stored, {want} expected")
    if accounting["accepted"] != expected.accepted:
        problems.append(f"accepted: {accounting['accepted']} stored, {expected.accepted} expected")
    if accounting["pending"] or accounting["accepted"] + accounting["rejected"] != posted:
        problems.append(f"posted {posted} != accepted + rejected {accounting['accepted'] + accounting['rejected']}"
                        f" (pending {accounting['pending']})")
    for problem in problems:
        print(f"  MISMATCH {problem}")
    print(f"Rejections by reason: {dict(sorted(reasons.items()))}")
    print("Hours withheld: " + ", ".join(f"{s} {r}: {h}" for (s, r), h in sorted(withheld.items())))
    return not problems
