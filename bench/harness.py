"""Pieces shared by the benchmark and the fault-injection tests: sizes, a programme as Kafka
messages, worker processes, the store process and the check against the generator's totals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ledger.synthetic import Size, SyntheticProgramme, generate
from streams.demo import accounted, settings_env
from streams.settings import REPO_ROOT, Settings

# Grand Paris Express: 15 years, 10 operations, ~300 contracts, ~20,000 beneficiaries, ~2M timesheets.
GRAND_PARIS = Size(operations=10, contracts=300, contractors=150, partners=60, beneficiaries=20_000,
                   days_per_beneficiary=106, months=180, malformed_lines=60)
SIZES = {
    "default": GRAND_PARIS,
    "medium": replace(GRAND_PARIS, beneficiaries=6_000, malformed_lines=30),  # ~0.6M timesheets
    "small": replace(GRAND_PARIS, beneficiaries=2_000, malformed_lines=12),  # ~0.2M timesheets
    "tiny": replace(GRAND_PARIS, beneficiaries=200, malformed_lines=6),  # ~20k timesheets
}


def size_with(beneficiaries: int) -> Size:
    return replace(GRAND_PARIS, beneficiaries=beneficiaries, malformed_lines=12)


def key_of(event: dict | bytes) -> str | None:
    """The Kafka key of an event (ledger.registry.subject_of), None if it is not a valid event."""
    from ledger.events import InvalidEvent, parse_event
    from ledger.registry import subject_of

    try:
        return subject_of(parse_event(event if isinstance(event, bytes) else json.dumps(event).encode()))
    except InvalidEvent:
        return None


@dataclass
class Messages:
    """A programme as (value, key) pairs; malformed lines have no key and travel alone."""

    reference: list[tuple[bytes, str | None]]
    activity: list[tuple[bytes, str | None]]
    programme: SyntheticProgramme

    @property
    def posted(self) -> int:
        return len(self.reference) + len(self.activity)

    def expected(self) -> dict:
        e = self.programme.expected
        return {"accepted": e.accepted, "rejected": e.rejected + sum(e.malformed_by_reason.values()),
                "hours": str(e.total_hours),
                "hours_by_contract": {k: str(v) for k, v in e.hours_by_contract.items() if v},
                "rejections_by_reason": dict(e.rejections_by_reason + e.malformed_by_reason)}


def messages(size: Size, seed: int = 2015) -> Messages:
    prog = generate(seed=seed, size=size)

    def encode(e) -> tuple[bytes, str | None]:
        raw = json.dumps(e, separators=(",", ":")).encode() if isinstance(e, dict) else e.encode()
        # Lines that are not valid events have no key: they travel alone, never packed with others.
        return raw, key_of(raw)

    # After the reference data, every later phase in order: follow-ups (corrections, over-claims) and
    # resolutions share their beneficiary's key, so they reach the worker after what they name.
    later = prog.activity + prog.follow_up + prog.resolutions
    return Messages([encode(e) for e in prog.reference], [encode(e) for e in later], prog)


def intake_messages(pairs, batch: int = 500):
    """Intake message values as ContractorProducer packs them: events in arrays of `batch`, a line
    that is no event alone."""
    packed = []
    for value, key in pairs:
        if key is None:
            yield value
            continue
        packed.append(value)
        if len(packed) == batch:
            yield b"[" + b",".join(packed) + b"]"
            packed = []
    if packed:
        yield b"[" + b",".join(packed) + b"]"


def compare(got: dict, want: dict) -> list[str]:
    """Differences between the store's totals (bench.storeproc.totals) and the generator's."""
    problems = []
    for k in ("accepted", "rejected"):
        if got[k] != want[k]:
            problems.append(f"{k}: {got[k]} stored, {want[k]} expected")
    from decimal import Decimal
    if Decimal(got["hours"]) != Decimal(want["hours"]):
        problems.append(f"hours: {got['hours']} stored, {want['hours']} expected")
    stored = {k: Decimal(v) for k, v in got["hours_by_contract"].items() if Decimal(v)}
    expected = {k: Decimal(v) for k, v in want["hours_by_contract"].items()}
    for c in sorted(stored.keys() | expected.keys()):
        if stored.get(c, Decimal(0)) != expected.get(c, Decimal(0)):
            problems.append(f"contract {c}: {stored.get(c)} h stored, {expected.get(c)} h expected")
    if got["rejections_by_reason"] != want["rejections_by_reason"]:
        problems.append(f"rejections by reason: {got['rejections_by_reason']} stored, "
                        f"{want['rejections_by_reason']} expected")
    if got.get("rejections_without_reason"):
        problems.append(f"{got['rejections_without_reason']} rejections without a reason or detail")
    return problems


# Timesheets on unknown contracts or enrolments wait this long (stream time) before they are
# rejected. Long enough that a late enrolment posted minutes later (workers killed meanwhile) still
# finds its timesheets waiting; once everything is posted, `settle_pending` lets the time pass.
# (Under an hour: Kafka refuses message timestamps more than 1 h ahead, log.message.timestamp.after.max.ms.)
PENDING_TIMEOUT = {"pending_timeout_hours": 0.5, "tick_seconds": 1.0}


def settle_pending(cfg: Settings) -> None:
    """Stream time jumps past every pending deadline (cfg's timeout): what still waits is rejected."""
    import datetime as dt

    from streams.contractor.producer import let_time_pass

    if cfg.pending_timeout_hours is None:
        raise ValueError("settle_pending needs the workers' pending_timeout_hours in the settings")
    let_time_pass(cfg, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=cfg.pending_timeout_hours, minutes=1))


def child_env(cfg: Settings) -> dict[str, str]:
    # Settings left at None are left out: str(None) would be read back as the text "None".
    unset = {f"LEDGER_{k.upper()}" for k, v in cfg.model_dump().items() if v is None}
    env = {k: v for k, v in {**os.environ, **settings_env(cfg)}.items() if k not in unset}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def start_worker(cfg: Settings, workdir: Path, n: int = 0, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A worker process with a data directory of its own; `env` adds variables."""
    cfg = cfg.model_copy(update={"worker_datadir": workdir / f"worker-{n}"})
    log = open(workdir / f"worker-{n}.log", "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env={**child_env(cfg), **(env or {})},
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    finally:
        log.close()


def wait_workers_assigned(cfg: Settings, workers: list[subprocess.Popen], timeout: float = 180) -> None:
    """Wait until every worker is a member of the consumer group with intake partitions of its
    own, and the group is stable. Posting before that measures a rebalance (a worker that starts
    late takes partitions from one that is busy), not the steady pipeline."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id="bench-admin")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                group = admin.describe_groups([cfg.worker_id])[cfg.worker_id]
            except KafkaError as error:
                if not error.retriable:  # e.g. no coordinator yet: the group does not exist until a worker joins
                    raise
                group = {}
            owned = [sorted(p for a in (m.get("member_assignment") or {}).get("assigned_partitions", ())
                            if a["topic"] == cfg.intake_topic for p in a["partitions"])
                     for m in group.get("members", ())]
            if group.get("group_state") == "Stable" and len(owned) == len(workers) and all(owned) \
                    and sorted(p for ps in owned for p in ps) == list(range(cfg.partitions)):
                return
            check_alive(workers)
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {cfg.worker_id} not settled after {timeout}s: "
                                   f"{group.get('group_state')}, intake partitions by member {owned}")
            time.sleep(0.5)
    finally:
        admin.close()


def check_alive(workers) -> None:
    for w in workers:
        if w.poll() is not None:
            raise RuntimeError(f"worker {w.pid} exited with {w.returncode}")


class StoreProcess:
    """bench.storeproc in a child process: it owns the chDB path of `cfg` and runs the loader."""

    def __init__(self, cfg: Settings, workdir: Path, loader: bool = True, name: str = "store",
                 env: dict[str, str] | None = None):
        args = [sys.executable, "-m", "bench.storeproc"] + ([] if loader else ["--no-loader"])
        self._stderr = open(workdir / f"{name}.log", "ab")
        self.proc = subprocess.Popen(args, env={**child_env(cfg), **(env or {})}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, cwd=REPO_ROOT)
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"store process did not start: {ready}")
        self.started = ready["started"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"store process exited ({self.proc.poll()}); see {self._stderr.name}")
        return json.loads(line)

    def ask(self, cmd: str, **fields) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def rows(self) -> int:
        c = self.ask("counts")
        return c["entries"] + c["rejections"] + c["reference"]

    def wait_still(self, still: float, timeout: float, poll: float = 0.25) -> None:
        """Wait until the store's row counts (cheap: no FINAL) have not moved for `still` seconds:
        the loader has written what was on its way. The accounting's FINAL queries hold the store's
        lock, which the loader's inserts take too: asked while the last events of a paced phase were
        still being written, they delayed those writes, and the freshness measured was partly the
        bench's own."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            c = self.ask("counts")
            now = (c["entries"], c["rejections"], c["reference"], c["pending"])
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= still:
                return
            time.sleep(poll)

    def wait_accounted(self, posted: int, timeout: float, workers=(), poll: float = 1.0, settled: bool = True) -> dict:
        """Wait until the store's own accounting (FINAL) covers `posted` events: accepted + rejected
        with none pending (`settled`), or accepted + rejected + pending (every event decided, some
        maybe still waiting for reference data that comes later, or for `settle_pending`).

        Cheap row counts first, so that the FINAL queries do not compete with the pipeline for most
        of the wait. Totals read while the loader was writing are not trusted: a batch half written
        can show a released timesheet both pending and accepted. Returns the totals, with "time"
        (time.time()) the moment they were read.
        """
        deadline = time.monotonic() + timeout
        while True:
            c = self.ask("counts")
            # A decided event is at least one row (an entry, a rejection, reference data, a pending record).
            if c["entries"] + c["rejections"] + c["reference"] + c["pending"] >= 0.95 * posted:
                break
            check_alive(workers)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{c} after {timeout}s; waiting for {posted} events")
            time.sleep(poll / 2)
        while True:
            t = self.ask("totals")
            if t["consistent"] and accounted(t, posted, settled):
                return t
            check_alive(workers)
            if time.monotonic() > deadline:
                raise TimeoutError(f"accepted {t['accepted']}, rejected {t['rejected']}, pending {t['pending']} "
                                   f"after {timeout}s; waiting for {posted} events "
                                   + ("settled" if settled else "decided"))
            time.sleep(poll)

    def stop(self, timeout: float = 90) -> dict:
        """Stop the loader (it writes and commits what it holds) and the process; its last answer."""
        try:
            self.proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            self.proc.stdin.flush()
            last = self._read()
            self.proc.wait(timeout)
            return last
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._stderr.close()
