"""The loader's insert under two variants, paired in one run (chDB, this machine), or broken down view by view.

    .venv/bin/python bench/insert_settings.py                    # optimize_on_insert 1 against 0
    .venv/bin/python bench/insert_settings.py --compare dedup-stage --out bench/results/dedup_stage.json
                    # the wide dedup stage of 2026-11-27..12-04 (entries_seen) against entry_keys + entries_new
    .venv/bin/python bench/insert_settings.py --compare operation-day --out bench/results/operation_day.json
                    # what the curves' aggregate costs the loader
    .venv/bin/python bench/insert_settings.py --compare accepted-events --out bench/results/accepted_events.json
                    # what summing the first-entry mark (intake_accounting's accepted) costs the loader
    .venv/bin/python bench/insert_settings.py --compare cluster-layout --out bench/results/cluster_layout.json
                    # the cluster variant's tables (streams/cluster.py: local tables under a Distributed
                    # table, one local shard, not replicated) against one server's
    .venv/bin/python bench/insert_settings.py --compare threads --pairs 7 --batch-rows 15000 --out bench/results/insert_threads.json
                    # the engine's parallel parsing and view threads against one thread per insert
                    # (2026-12-05: median ratio 0.97, pairs 0.90-1.09: no difference; not adopted)
    .venv/bin/python bench/insert_settings.py --compare views --pairs 3 --batches 12 --batch-rows 15000 --out bench/results/insert_views.json
                    # where an entries insert's CPU goes: every view, then without each view an
                    # entries insert runs, the dedup stage alone, no view (more than two arms: each
                    # arm's median and what it saves against the first, instead of pair ratios)

Each arm is a fresh database with the whole schema (the dedup stage, the sums, freshness), into
which 16 batches of 50,000 ledger entries (bench/loader.py's rows, encoded as the worker encodes
them) are inserted as the loader does (Store.insert_json_rows); the background merges are then
let settle, so that the figure is the whole cost of a row: the process's CPU (chDB runs in it) over
the inserts and merges, per row. Arms alternate (A, B, A, B...) so that the machine's load falls
on both; the medians and each pair's ratio are printed and written to
bench/results/insert_settings.json. Checks analytics_check.sql is empty in every arm that keeps the whole model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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

from bench.loader import batch_records, body_of, settle  # noqa: E402
from streams.store import Store  # noqa: E402
from tests.integration.analytics_data import wide_dedup_stage  # noqa: E402
from tests.integration.cluster_layout import CLUSTER, CONFIG, LayoutStore  # noqa: E402

OUT = REPO / "bench" / "results" / "insert_settings.json"
LOADER = {"optimize_on_insert": 0}


def _without(*views: str):
    """What an arm does to its fresh store first: drop these materialized views."""
    def prepare(store: Store) -> None:
        for view in views:
            store.client.command(f"DROP VIEW {view}")
    return prepare


# Each comparison: two arms (`views`, below, has more: a breakdown), each (engine settings of the
# inserts, what is done to the fresh store first, whether analytics_check.sql must be empty: an arm
# without an aggregate's view leaves it unfed, and optionally whether the arm's store has the cluster
# variant of the schema).
COMPARISONS = {
    "optimize_on_insert": {"optimize_on_insert=1 (the engine's default)": ({"optimize_on_insert": 1}, None, True),
                           "optimize_on_insert=0 (the loader's)": (LOADER, None, True)},
    "dedup-stage": {"wide dedup stage (entries_seen, 2026-11-27 to 12-04)": (LOADER, wide_dedup_stage, True),
                    "entry_keys + entries_new (Null)": (LOADER, None, True)},
    "operation-day": {"without hours_by_operation_day": (LOADER, _without("hours_by_operation_day_from_new_mv"), False),
                      "with hours_by_operation_day (the curves' table)": (LOADER, None, True)},
    "accepted-events": {"without accepted_events and unmarked_sources": (
                            LOADER, _without("accepted_events_from_new_mv", "unmarked_sources_from_new_mv"), False),
                        "with them (the first-entry mark summed)": (LOADER, None, True)},
    # The engine's own parallelism on the loader's inserts: JSON parsed by several threads in
    # chunks, and each view's query run by up to max_threads threads, on blocks of one second's rows.
    "threads": {"the engine's default threads": (LOADER, None, True),
                "one thread (max_threads=1, input_format_parallel_parsing=0)": (
                    {**LOADER, "max_threads": 1, "input_format_parallel_parsing": 0}, None, True)},
    # The loader's insert on a cluster goes through the Distributed table and waits for the shards
    # (distributed_foreground_insert); here the one shard is this process, so what is measured is
    # the Distributed layer, not the network or the replication.
    "cluster-layout": {"one server's tables": (LOADER, None, True, False),
                       "cluster variant: Distributed over local tables": (
                           {**LOADER, "distributed_foreground_insert": 1}, None, True, True)},
}

# Where an entries insert's CPU goes: the whole schema, then without each materialized view that
# an entries insert runs (its marginal cost), then with the dedup stage alone, then with no view
# (the engine's floor: parse, sort, compress, write the ledger's part). Arms alternate round by round.
_DEDUP_STAGE = ("entries_new_from_ledger_mv", "entry_keys_mv")
_ENTRY_VIEWS = ("hours_by_contract_day_from_new_mv", "hours_by_contract_month_from_new_mv",
                "hours_by_beneficiary_contract_from_new_mv", "people_contract_hours_from_new_mv",
                "hours_by_programme_day_from_new_mv", "hours_by_operation_day_from_new_mv",
                "accepted_events_from_new_mv", "unmarked_sources_from_new_mv", "ledger_freshness_entries_mv")


COMPARISONS["views"] = {
    "the loader's schema (every view)": (LOADER, None, True),
    **{f"without {view}": (LOADER, _without(view), False) for view in _ENTRY_VIEWS},
    "the dedup stage alone (no sum, no freshness)": (LOADER, _without(*_ENTRY_VIEWS), False),
    "no view (the ledger table alone)": (LOADER, _without(*_DEDUP_STAGE, *_ENTRY_VIEWS), False),
}


def arm(dsn: str, settings: dict, prepare, bodies: list[bytes], rows: int, cluster: bool = False) -> dict:
    database = f"arm_{uuid.uuid4().hex[:10]}"
    store = LayoutStore(dsn, database, cluster=CLUSTER) if cluster else Store(dsn, database)
    try:
        store.apply_schema()
        if prepare is not None:
            prepare(store)
        cpu, wall = time.process_time(), time.perf_counter()
        for body in bodies:
            with store._lock:
                store.client.raw_insert("ledger_entries", insert_block=body, fmt="JSONEachRow", settings={
                    "input_format_skip_unknown_fields": 1, "date_time_input_format": "best_effort",
                    "insert_deduplication_token": f"ledger_entries:{uuid.uuid4()}", **settings})
        inserts = time.process_time() - cpu
        settle(store)
        total = time.process_time() - cpu
        differing = len(store.rows("analytics_check"))
        return {"insert_cpu_us_per_row": round(inserts * 1e6 / rows, 2),
                "cpu_us_per_row_merges_settled": round(total * 1e6 / rows, 2),
                "wall_us_per_row_inserts": round((time.perf_counter() - wall) * 1e6 / rows, 2),
                "analytics_check_rows": differing}
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="optimize_on_insert")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    bodies = [body_of(batch_records(i * args.batch_rows, args.batch_rows)) for i in range(args.batches)]
    rows = args.batches * args.batch_rows
    path = Path(tempfile.mkdtemp(prefix="ledger-settings-"))
    arms = COMPARISONS[args.compare]
    dsn = f"chdb://{path}"
    if any(a[3:] and a[3] for a in arms.values()):  # both arms in one engine, started with a cluster's config
        (path / "cluster.xml").write_text(CONFIG)
        dsn = f"chdb://{path / 'store'}?config-file={path / 'cluster.xml'}"
    runs: dict[str, list[dict]] = {name: [] for name in arms}
    try:
        for pair in range(args.pairs):
            for name, (settings, prepare, _, *cluster) in arms.items():
                result = arm(dsn, settings, prepare, bodies, rows, cluster=bool(cluster and cluster[0]))
                runs[name].append(result)
                print(f"round {pair + 1}: {name:55s} {result['cpu_us_per_row_merges_settled']:6.2f} CPU-µs/row "
                      f"(inserts {result['insert_cpu_us_per_row']:.2f}), analytics_check {result['analytics_check_rows']}",
                      flush=True)
    finally:
        shutil.rmtree(path, ignore_errors=True)

    first, second, *more = arms
    ratios = [y["cpu_us_per_row_merges_settled"] / x["cpu_us_per_row_merges_settled"]
              for x, y in zip(runs[first], runs[second])]
    summary = {name: {"median_cpu_us_per_row": round(statistics.median(r["cpu_us_per_row_merges_settled"] for r in rs), 2),
                      "median_wall_us_per_row": round(statistics.median(r["wall_us_per_row_inserts"] for r in rs), 2)}
               for name, rs in runs.items()}
    if more:  # a breakdown: what each arm saves against the first, median against median
        whole = summary[first]["median_cpu_us_per_row"]
        for name, s in summary.items():
            s["saves_cpu_us_per_row"] = round(whole - s["median_cpu_us_per_row"], 2)
            print(f"{name:60s} {s['median_cpu_us_per_row']:6.2f} CPU-µs/row, saves {s['saves_cpu_us_per_row']:5.2f}")
    else:
        print("\nmedians: " + "; ".join(f"{n}: {s['median_cpu_us_per_row']} CPU-µs/row" for n, s in summary.items()))
        print(f"B / A per pair: {', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f})")
    report = {"command": "bench/insert_settings.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "comparison": args.compare, "rows_per_arm": rows, "batch_rows": args.batch_rows, "cpus": os.cpu_count(),
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "summary": summary, "runs": runs, **({} if more else {"ratio_b_over_a": [round(r, 3) for r in ratios]})}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    exact = all(r["analytics_check_rows"] == 0 for name, rs in runs.items() if arms[name][2] for r in rs)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
