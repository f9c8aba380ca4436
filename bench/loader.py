"""The loader's insert cost as the store grows (chDB, this machine).

    .venv/bin/python bench/loader.py                       # stores of 0, 1 M and 5 M entries
    .venv/bin/python bench/loader.py --sizes 0 200000 --out /tmp/loader.json

For each store size, a fresh database is filled inside ClickHouse with the synthetic history of
bench/dashboard_queries.py (1M-row blocks, through the analytics' materialized views), merges are
let settle, then the loader's own write path (Store.insert_json_rows: JSONEachRow bytes as the
worker encodes them, streams.kafka.codec.encode_ledger, one insert per batch with its deduplication
token) inserts new entries, on the last days of the history as a live loader does:
  * REPEATS batches of 5,000 rows and of 100,000 rows, each timed (wall ms, process CPU ms: chDB
    runs in this process, so CPU time is the engine's work plus ours);
  * the last 5,000-row batch again under another token (a worker's re-send: stored, counted once)
    and under the same token (a loader's retry: skipped by the engine).
On the empty store it also compares formats for the same rows: the pass-through above; the former
loader's path (json.loads + json.dumps of every record, then JSONEachRow); decoding the JSON and
inserting columns through clickhouse-connect's Native format (`client.insert`); and a bare
insert into a copy of ledger_entries with no materialized view (the engine's floor).
Checks analytics_check.sql is empty at the end of each size. Writes bench/results/loader.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dashboard_queries import AS_OF, CONTRACTS, GPE_CONTRACTS, OPERATIONS, _chdb_version, _siret, build  # noqa: E402
from streams.kafka.codec import encode_ledger  # noqa: E402
from streams.store import Store  # noqa: E402

OUT = REPO / "bench" / "results" / "loader.json"
MODES = ["direct_hire", "temp_agency_etti", "siae_placement_ai", "siae_subcontract", "geiq", "training"]


def batch_records(first: int, size: int) -> list[dict]:
    """`size` new entries as the worker produces them (LedgerEntry dumped to JSON), on the last
    days before AS_OF, 30,000 beneficiaries, every 500th a reversal."""
    out = []
    for n in range(first, first + size):
        c = (n * 7919) % CONTRACTS
        programme = "gpe" if c < GPE_CONTRACTS else "anru"
        mode = MODES[n % len(MODES)]
        reversal = n % 500 == 499
        out.append({
            "record": "entry", "entry_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-entry:{n}")),
            "kind": "reversal" if reversal else "credit",
            "status": "flagged" if n % 97 == 0 else "counted", "reason": "claimed_by_two_contractors" if n % 97 == 0 else "",
            "source_event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-event:{n}")),
            "source_event_type": "timesheet.submitted",
            "reverses_entry_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-entry:{n - 1}")) if reversal else None,
            "programme_id": programme, "operation_id": OPERATIONS[c % len(OPERATIONS)],
            "contract_id": f"{programme}-c{c + 1:04d}", "lot": f"GC-{c % 9 + 1:02d}", "contractor_siret": _siret(c),
            "beneficiary_id": f"b-live-{n % 30000}", "siae_siret": "44201188000121" if mode.startswith("siae") else None,
            "mode": mode, "work_date": str(AS_OF - dt.timedelta(days=(n // 1000) % 14)),
            "hours": ("-" if reversal else "") + ["7.00", "7.50", "8.00", "3.50"][n % 4],
            "rule": "default", "rulebook_version": "bench-1", "submitted_at": f"{AS_OF}T18:00:00+00:00",
            "opens_source": True})  # each entry here is its own event's only one
    return out


def body_of(records: list[dict]) -> bytes:
    return b"\n".join(value for value, _ in encode_ledger(records))


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def settle(store: Store, timeout: float = 600) -> None:
    """Wait until no merge runs, so that background merges do not land in the figures."""
    deadline = time.monotonic() + timeout
    while store.query("SELECT count() FROM system.merges WHERE database = currentDatabase()").result_rows[0][0]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)


def measure_size(store: Store, entries: int, repeats: int, counter: list[int]) -> dict:
    out = {"store_entries": entries}
    for size in (5000, 100_000):
        runs = []
        for _ in range(repeats if size == 5000 else max(1, (repeats + 1) // 2)):
            records = batch_records(counter[0], size)
            counter[0] += size
            body = body_of(records)
            token = f"ledger_entries:bench-{uuid.uuid4()}"
            settle(store, timeout=60)
            wall, cpu = timed(lambda: store.insert_json_rows("ledger_entries", body, token=token))
            runs.append((wall, cpu))
        out[f"batch_{size}"] = {
            "rows": size, "repeats": len(runs),
            "ms_per_batch": round(statistics.median(w for w, _ in runs), 1),
            "cpu_us_per_row": round(statistics.median(c for _, c in runs) * 1000 / size, 2),
            "runs_ms": [round(w, 1) for w, _ in runs]}
    records = batch_records(counter[0] - 100_000, 5000)  # a batch already stored
    body = body_of(records)
    settle(store, timeout=120)
    wall, cpu = timed(lambda: store.insert_json_rows("ledger_entries", body, token=f"resend-{uuid.uuid4()}"))
    out["resend_5000_other_token"] = {"ms": round(wall, 1), "cpu_us_per_row": round(cpu * 1000 / 5000, 2)}
    token = f"retry-{uuid.uuid4()}"
    store.insert_json_rows("ledger_entries", body, token=token)
    settle(store, timeout=120)
    wall, cpu = timed(lambda: store.insert_json_rows("ledger_entries", body, token=token))
    out["retry_5000_same_token"] = {"ms": round(wall, 1), "cpu_us_per_row": round(cpu * 1000 / 5000, 2)}
    t = time.perf_counter()
    differing = store.rows("analytics_check")
    out["analytics_check_rows"] = len(differing)
    out["analytics_check_s"] = round(time.perf_counter() - t, 1)
    return out


def compare_formats(store: Store, counter: list[int], size: int = 50_000, repeats: int = 3) -> dict:
    """The same rows through several paths, on the store as it is (empty): CPU-µs per row."""
    store.client.command("CREATE TABLE IF NOT EXISTS bare_entries AS ledger_entries")
    columns = [r[0] for r in store.query("SELECT name FROM system.columns WHERE database = currentDatabase() "
                                         "AND table = 'ledger_entries' AND default_kind = '' ORDER BY position").result_rows]
    results: dict[str, list[float]] = {}

    def run(name: str, fn) -> None:
        results.setdefault(name, []).append(timed(fn)[1] * 1000 / size)

    for _ in range(repeats):
        records = batch_records(counter[0], size)
        counter[0] += size
        values = [v for v, _ in encode_ledger(records)]  # what the loader receives from Kafka
        run("pass_through_jsoneachrow", lambda: store.insert_json_rows(
            "ledger_entries", b"\n".join(values), token=f"f-{uuid.uuid4()}"))
        records = batch_records(counter[0], size)
        counter[0] += size
        values = [v for v, _ in encode_ledger(records)]

        def decode_encode():  # the former loader: every record decoded, then dumped again
            rows = [json.dumps(json.loads(line), separators=(",", ":")).encode()
                    for value in values for line in value.split(b"\n")]
            store.insert_json_rows("ledger_entries", b"\n".join(rows), token=f"f-{uuid.uuid4()}")
        run("decode_reencode_jsoneachrow", decode_encode)
        records = batch_records(counter[0], size)
        counter[0] += size
        values = [v for v, _ in encode_ledger(records)]

        def native():  # decode, convert to Python values, insert columns (clickhouse-connect Native)
            from decimal import Decimal
            rows = []
            for value in values:
                for line in value.split(b"\n"):
                    r = json.loads(line)
                    r["entry_id"] = uuid.UUID(r["entry_id"])
                    r["source_event_id"] = uuid.UUID(r["source_event_id"])
                    r["reverses_entry_id"] = uuid.UUID(r["reverses_entry_id"]) if r["reverses_entry_id"] else None
                    r["work_date"] = dt.date.fromisoformat(r["work_date"])
                    r["hours"] = Decimal(r["hours"])
                    r["submitted_at"] = dt.datetime.fromisoformat(r["submitted_at"])
                    rows.append([r[c] for c in columns])
            with store._lock:
                store.client.insert("ledger_entries", rows, column_names=columns,
                                    settings={"insert_deduplication_token": f"f-{uuid.uuid4()}"})
        run("decode_native_insert", native)
        records = batch_records(counter[0], size)
        counter[0] += size
        body = body_of(records)
        run("bare_table_no_views_jsoneachrow", lambda: store.insert_json_rows("bare_entries", body))
    store.client.command("DROP TABLE bare_entries")
    return {name: round(statistics.median(v), 2) for name, v in results.items()} | {"rows_per_insert": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1_000_000, 5_000_000])
    parser.add_argument("--repeats", type=int, default=7, help="batches of 5,000 rows per size (100,000: half as many)")
    parser.add_argument("--no-formats", action="store_true", help="skip the comparison of formats")
    parser.add_argument("--path", help="chDB directory (default: a temporary one, removed at the end)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    path = Path(args.path) if args.path else Path(tempfile.mkdtemp(prefix="ledger-loader-bench-"))
    results, formats = [], None
    counter = [0]
    try:
        if not args.no_formats:
            store = Store(f"chdb://{path}", database="loader_formats")
            store.apply_schema()
            build(store, 0)
            formats = compare_formats(store, counter)
            print("formats, CPU-µs per row (50,000-row inserts, empty store):", formats, flush=True)
            store.client.command("DROP DATABASE IF EXISTS loader_formats")
            store.close()
        for entries in args.sizes:
            store = Store(f"chdb://{path}", database=f"loader_{entries}")
            store.apply_schema()
            t = time.perf_counter()
            build(store, entries)
            built = time.perf_counter() - t
            settle(store)
            print(f"store of {entries:,} entries built in {built:.1f} s", flush=True)
            r = measure_size(store, entries, args.repeats, counter)
            r["build_s"] = round(built, 1)
            results.append(r)
            print(f"  {entries:>9,} entries: 5,000 rows {r['batch_5000']['ms_per_batch']} ms "
                  f"({r['batch_5000']['cpu_us_per_row']} CPU-µs/row); 100,000 rows "
                  f"{r['batch_100000']['ms_per_batch']} ms ({r['batch_100000']['cpu_us_per_row']} CPU-µs/row); "
                  f"re-send {r['resend_5000_other_token']['cpu_us_per_row']} µs/row, retry "
                  f"{r['retry_5000_same_token']['ms']} ms; analytics_check rows {r['analytics_check_rows']}", flush=True)
            store.client.command(f"DROP DATABASE IF EXISTS loader_{entries}") if len(args.sizes) > 1 else None
            store.close()
    finally:
        if not args.path:
            shutil.rmtree(path, ignore_errors=True)

    base = next((r for r in results if r["store_entries"] == 0), results[0])
    ratios = {f"{r['store_entries']}": {k: round(r[k]["cpu_us_per_row"] / base[k]["cpu_us_per_row"], 2)
                                        for k in ("batch_5000", "batch_100000")} for r in results}
    print("CPU per row relative to the empty store:", ratios)
    report = {
        "command": "bench/loader.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "chdb_version": _chdb_version(),
        "format_cpu_us_per_row_empty_store": formats, "sizes": results, "cpu_ratio_to_empty_store": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["analytics_check_rows"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
