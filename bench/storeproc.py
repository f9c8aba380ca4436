"""A process that owns one embedded ClickHouse store (chDB): the loader, and queries on request.

chDB lets one process open one path, and only that process may read it. The benchmark and the
fault tests therefore run the loader here, in a process of its own, and ask this process what the
store holds: one JSON command per line on stdin, one JSON answer per line on stdout.

    python -m bench.storeproc [--no-loader]      (settings from the LEDGER_* environment)

Commands: {"cmd": "counts"} rows present (no FINAL: cheap, for progress), {"cmd": "totals"} the
accounting, hours by contract and rejections by reason (FINAL), with "consistent": false when the
loader wrote while they were read, {"cmd": "freshness", "since": ISO, "until": ISO} quantiles of
loaded_at - submitted_at of the entries of events submitted between the two, {"cmd": "burst", "since":
ISO} the timesheets released since then and when their last entry was loaded, {"cmd": "stop"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from decimal import Decimal


def peak_rss_mb(pid: int | str = "self", field: str = "VmHWM") -> float | None:
    """Peak resident set size (VmHWM) of a process, in MiB (or another field of its status: VmRSS)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def counts(store) -> dict:
    row = store.query(
        "SELECT (SELECT count() FROM ledger_entries) AS entries, (SELECT count() FROM rejections) AS rejections,"
        " (SELECT count() FROM programme_definitions) + (SELECT count() FROM contract_registrations)"
        " + (SELECT count() FROM beneficiary_enrolments) AS reference,"
        " (SELECT count() FROM pending_timesheets) AS pending").named_results()
    return dict(next(iter(row)))


def totals(store) -> dict:
    accounting = store.rows("accounting")[0]
    return {
        "time": time.time(), "pending": int(accounting.get("pending") or 0),
        "accepted": int(accounting["accepted"]), "rejected": int(accounting["rejected"]),
        "duplicates": int(accounting["duplicates"]), "hours": str(accounting["hours"]),
        "hours_by_contract": {r["contract_id"]: str(r["hours"]) for r in store.rows("hours_by_contract")},
        "rejections_by_reason": {r["reason"]: int(r["events"]) for r in store.query(
            "SELECT reason, events FROM rejections_by_reason").named_results()},
        "rejections_without_reason": int(store.query(
            "SELECT count() FROM rejections FINAL WHERE reason = '' OR detail = ''").result_rows[0][0]),
    }


def freshness(store, since: str, until: str) -> dict:
    """Quantiles (s) from submitted_at to loaded_at of the entries of the events sent in the window:
    all of them, and apart those decided on arrival (`steady`) and those released after waiting
    for reference data sent later in it (`released`: a late enrolment's burst)."""
    parts = {}
    for r in store.named("freshness", {"since": since, "until": until}).named_results():
        q = [v / 1000 for v in r["q"]] if r["n"] else [None] * 4
        parts[r["part"]] = {"entries": int(r["n"]), "p50": q[0], "p90": q[1], "p99": q[2], "max": q[3]}
    seconds = [{"second": int(r["second"]), "entries": int(r["entries"]), "worst_ms": int(r["worst_ms"]),
                "median_ms": int(r["median_ms"])}
               for r in store.named("freshness_by_second", {"since": since, "until": until}).named_results()]
    slowest = sorted(seconds, key=lambda s: -s["worst_ms"])[:5]
    return {**parts["all"], "steady": parts["steady"], "released": parts["released"],
            "steady_seconds": {"seconds": len(seconds), "over_2s": sum(s["worst_ms"] > 2000 for s in seconds),
                               "slowest": slowest}}


def release_burst(store, since: str) -> dict:
    """Timesheets released since `since` (pending, then resolved), their entries, when the last of
    those was loaded (epoch seconds), and how many still wait for an enrolment."""
    (r,) = store.named("release_burst", {"since": since}).named_results()
    last = r["last_loaded_at"]
    return {"released": int(r["released"]), "entries": int(r["entries"]), "waiting": int(r["waiting"]),
            "last_loaded_at": (last if last.tzinfo else last.replace(tzinfo=dt.timezone.utc)).timestamp()
            if r["entries"] else None}


def inject_faults(loader, store) -> None:
    """Faults for the fault-injection tests, chosen by environment variables (none by default).

    BENCH_FAULT_KILL_AT_COMMIT=N: SIGKILL this process when the loader is about to commit its
    offsets for the Nth time, i.e. after its Nth ClickHouse write and before Kafka learns of it.
    BENCH_FAULT_STORE_DOWN=N:SECONDS: from the Nth insert on, every insert raises ConnectionError
    for SECONDS (the embedded engine cannot be stopped from outside, so unavailability is simulated
    here, at the store's insert; the loader's own retry and backoff are what is tested).
    """
    import os
    import signal
    import threading

    kill_at = int(os.environ.get("BENCH_FAULT_KILL_AT_COMMIT") or 0)
    if kill_at:
        commits = [0]

        def armed(consumer):
            commit = consumer.commit

            def commit_or_die(*a, **kw):
                commits[0] += 1
                if commits[0] >= kill_at:
                    sys.stderr.write(f"fault: SIGKILL before offset commit {commits[0]}\n")
                    sys.stderr.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                return commit(*a, **kw)

            consumer.commit = commit_or_die
            return consumer

        # Every consumer of the loader's: it replaces one left without partitions (streams/loader/app.py).
        armed(loader.consumer)
        new_consumer = loader._new_consumer
        loader._new_consumer = lambda: armed(new_consumer())

    down = os.environ.get("BENCH_FAULT_STORE_DOWN")
    if down:
        nth, seconds = down.split(":")
        insert, state, lock = store.insert_json_rows, {"calls": 0, "since": None, "failed": 0}, threading.Lock()

        def flaky_insert(table, rows, token=None):
            with lock:
                state["calls"] += 1
                if state["calls"] >= int(nth) and state["since"] is None:
                    state["since"] = time.monotonic()
                failing = state["since"] is not None and time.monotonic() - state["since"] < float(seconds)
                if failing:
                    state["failed"] += 1
            if failing:
                raise ConnectionError(f"store unavailable (injected fault, failure {state['failed']})")
            return insert(table, rows, token=token)

        store.insert_json_rows = flaky_insert
        loader.fault_state = state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-loader", action="store_true", help="only answer queries")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.ERROR)

    from streams.loader.app import Loader, run_in_thread
    from streams.settings import Settings
    from streams.store import Store

    cfg = Settings()
    store = Store.from_settings(cfg)
    store.apply_schema()
    loader = thread = None
    writes = [0]  # odd while the loader writes a batch: totals read across a write may be torn
    if not args.no_loader:
        loader = Loader(cfg, store)
        inject_faults(loader, store)
        write = loader.sink.write

        def counted_write(*args, **kwargs):
            writes[0] += 1
            try:
                return write(*args, **kwargs)
            finally:
                writes[0] += 1

        loader.sink.write = counted_write
        thread = run_in_thread(loader)
    out = sys.stdout

    def answer(obj) -> None:
        out.write(json.dumps(obj, default=lambda v: str(v) if isinstance(v, Decimal) else repr(v)) + "\n")
        out.flush()

    answer({"ready": True, "started": time.time()})
    for line in sys.stdin:
        try:
            command = json.loads(line)
            cmd = command["cmd"]
            if cmd == "counts":
                answer({**counts(store), "loaded": loader.records_loaded if loader else 0, "time": time.time(),
                        "loader_alive": thread.is_alive() if thread else None,
                        "faults": getattr(loader, "fault_state", None)})
            elif cmd == "totals":
                before = writes[0]
                answer({**totals(store), "consistent": before % 2 == 0 and writes[0] == before})
            elif cmd == "freshness":
                answer(freshness(store, command["since"], command["until"]))
            elif cmd == "burst":
                answer(release_burst(store, command["since"]))
            elif cmd == "stop":
                break
            else:
                answer({"error": f"unknown command {cmd}"})
        except Exception as error:  # answer, and keep the store's owner alive
            answer({"error": f"{type(error).__name__}: {error}"})
    if loader is not None:
        loader.stop()
        thread.join(timeout=60)
    answer({"stopped": True, "peak_rss_mb": peak_rss_mb()})
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
