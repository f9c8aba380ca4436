"""Dashboard queries on a store of 10 million ledger entries (chDB, this machine).

    .venv/bin/python bench/dashboard_queries.py                 # 10,000,000 entries
    .venv/bin/python bench/dashboard_queries.py --entries 1000000 --out /tmp/q.json

1. builds a fresh chDB store (temporary directory) with the ledger's schema, and generates inside
   ClickHouse (INSERT ... SELECT FROM numbers()) a synthetic Grand-Paris-like history: 2
   programmes, 400 contracts, 120 establishments of 80 companies, 200 SIAE partners, 30,000
   beneficiaries on ~90-day pathways, N entries (1.5% flagged, 1.5% not counted, 1 in 500 a
   reversal of the entry before it) over 2017-2026, 2% rejections, outcomes. The ledger is written
   in chunks of 1M rows, so the analytical MVs (deploy/clickhouse/schema/004_analytics.sql) run
   as they would under the loader, one block at a time;
2. writes one 5,000-entry batch as the loader does (JSONEachRow through Store.insert_json_rows,
   with a deduplication token), then the same rows under another token (a worker's re-send,
   counted once by the dedup stage) and under that token again (a loader's retry, skipped), and
   times the three (bench/loader.py measures the insert cost as the store grows);
3. checks that every aggregate equals the ledger read with FINAL (exactness, duplicates included);
4. runs every ClickHouse query of every Grafana dashboard (deploy/grafana/dashboards/*.json, macros
   rendered as in the tests), the auditors' analytics query files and what `ledger progress`, the
   HTML report and the live page read (QUERY_FILES), the live page's whole snapshot, and the
   exports of a period (workbook sheets, open-data cells: timed apart), REPEATS times each, and
   prints a table of milliseconds (first run, median, max, CPU); writes
   bench/results/dashboard_queries.json.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streams.live.snapshot import read_snapshot  # noqa: E402
from streams.store import QUERIES_DIR, QUERY_SETTINGS, Store  # noqa: E402
from tests.integration.analytics_data import clickhouse_targets, load_dashboards, render_sql  # noqa: E402

OUT = REPO / "bench" / "results" / "dashboard_queries.json"
AS_OF = dt.date(2026, 6, 30)
START = dt.date(2017, 1, 2)
CONTRACTS = 400
GPE_CONTRACTS = 380
ESTABLISHMENTS = 120
COMPANIES = 80
PARTNERS = 200
BENEFICIARIES = 30_000
OPERATIONS = ["L15S", "L15O", "L15E", "L16", "L17", "L18", "L14S", "L14N", "CMR", "GARES"]
MODES = ["direct_hire", "temp_agency_etti", "siae_placement_ai", "siae_subcontract", "geiq", "training"]
CRITERIA = ["long_term_job_seeker", "rsa", "ass", "aah", "rqth", "youth_no_qualification", "siae_pathway",
            "epide", "e2c", "facilitator_validation"]
# Query files of deploy/clickhouse/queries/ measured with the dashboards: the auditors' analytics
# queries, and what `ledger progress`, the HTML report and the live page read (with their
# parameters). The others are the pipeline's own checks (hours_by_contract reads the ledger on
# purpose), the workbook's and open data's exports of a period (EXPORT_QUERY_FILES, timed apart).
QUERY_FILES: tuple[tuple[str, dict], ...] = (
    ("analytics_contracts", {}), ("analytics_programmes", {}), ("analytics_operations", {}),
    ("programme_progress", {}), ("contract_progress", {}), ("accounting", {}), ("withheld_hours", {}),
    ("live_freshness", {}), ("daily_counted_hours", {"as_of": AS_OF}))
# The buyer's workbook (one sheet per query, for a period) and the open-data cells: files made on
# demand, which read the ledger itself for any period; reported, not held to the dashboards' 100 ms.
EXPORT_PERIOD = {"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 3, 31), "programme": "gpe"}
EXPORT_QUERY_FILES: tuple[tuple[str, dict], ...] = tuple(
    (name, EXPORT_PERIOD) for name in ("workbook_programmes", "workbook_contracts", "workbook_operations",
                                       "workbook_companies", "workbook_modes", "workbook_siae_partners",
                                       "workbook_withheld", "workbook_people", "workbook_outcomes")) + (
    ("open_data_cells", {}),)


def sql_array(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


# Contract c (0-based) -> its attributes, as SQL expressions of `c` (shared by the registrations
# and the entries, so that they agree).
def contract_id(c: str) -> str:
    return f"concat(if({c} < {GPE_CONTRACTS}, 'gpe', 'anru'), '-c', leftPad(toString({c} + 1), 4, '0'))"


def programme_of(c: str) -> str:
    return f"if({c} < {GPE_CONTRACTS}, 'gpe', 'anru')"


def operation_of(c: str) -> str:
    return f"arrayElement({sql_array(OPERATIONS)}, ({c} % {len(OPERATIONS)}) + 1)"


def lot_of(c: str) -> str:
    return f"concat('GC-', leftPad(toString({c} % 9 + 1), 2, '0'))"


def siret_of(c: str) -> str:
    establishment = f"({c} % {ESTABLISHMENTS})"
    siren = f"toString(300000000 + ({establishment} % {COMPANIES}) * 1000003)"
    return f"concat({siren}, leftPad(toString(10 + {establishment}), 5, '0'))"


def partner_of(k: str) -> str:
    return f"concat(toString(400000000 + ({k}) * 7919), '00017')"


def build(store: Store, entries: int, chunk: int = 1_000_000) -> dict:
    timings: dict[str, float] = {}
    days = (AS_OF - START).days
    cmd = store.client.command

    t = time.perf_counter()
    cmd("""INSERT INTO programme_definitions (event_id, programme_id, name, target_hours, start_date, end_date, version)
            VALUES (generateUUIDv4(), 'gpe', 'Grand Paris Express (bench)', 14000000, '2017-01-01', '2032-12-31', 1),
                   (generateUUIDv4(), 'anru', 'Renouvellement urbain (bench)', 700000, '2018-01-01', '2030-12-31', 1)""")
    cmd(f"""INSERT INTO contract_registrations (event_id, contract_id, programme_id, operation_id, lot, contractor_siret,
                                               start_date, end_date, target_hours, version)
            SELECT generateUUIDv4(), {contract_id('number')}, {programme_of('number')}, {operation_of('number')},
                   {lot_of('number')}, {siret_of('number')},
                   toDate('2017-01-01') + toIntervalDay(sipHash64('start', number) % 2600) AS s,
                   s + toIntervalDay(730 + sipHash64('length', number) % 2200),
                   toDecimal64(20000 + (sipHash64('target', number) % 180) * 1000, 2), 1
            FROM numbers({CONTRACTS})""")
    cmd(f"""INSERT INTO beneficiary_enrolments (event_id, beneficiary_id, facilitator_id, criteria, eligible_from,
                                               eligible_until, birth_year, gender, version)
            SELECT generateUUIDv4(), concat('b-', hex(sipHash64('beneficiary', toUInt64(number)))),
                   concat('fac-', toString(number % 40)),
                   arrayDistinct([arrayElement({sql_array(CRITERIA)}, sipHash64('c1', number) % 10 + 1),
                                  arrayElement({sql_array(CRITERIA)}, sipHash64('c2', number) % 30 + 1)]),
                   toDate('2016-06-01'), toDate('2027-06-01'),
                   toUInt16(1962 + sipHash64('birth', number) % 45),
                   arrayElement(['F', 'M', 'M', 'M', 'M', 'X'], sipHash64('gender', number) % 6 + 1), 1
            FROM numbers({BENEFICIARIES})""")
    timings["reference_s"] = time.perf_counter() - t

    # Entry n: work day by position (a time-ordered history), contract and hours by hash; a
    # beneficiary works ~90-day pathways (one of 8 slots of a contract per quarter); every 500th
    # entry reverses the entry before it (same parties, hours negated, same status).
    t = time.perf_counter()
    for first in range(0, entries, chunk):
        count = min(chunk, entries - first)
        cmd(f"""
        INSERT INTO ledger_entries (entry_id, kind, status, reason, source_event_id, source_event_type,
            reverses_entry_id, programme_id, operation_id, contract_id, lot, contractor_siret, beneficiary_id,
            siae_siret, mode, work_date, hours, rule, rulebook_version, submitted_at, loaded_at, opens_source)
        SELECT
            reinterpretAsUUID(sipHash128('entry', n)) AS entry_id,
            if(reversal, 'reversal', 'credit') AS kind,
            multiIf(h % 1000 < 15, 'flagged', h % 1000 < 30, 'not_counted', 'counted') AS status,
            multiIf(h % 1000 < 15, 'same_person_same_day_other_contractor',
                    h % 1000 < 30, 'outside_eligibility_window', '') AS reason,
            reinterpretAsUUID(sipHash128('event', n)) AS source_event_id,
            'timesheet.submitted' AS source_event_type,
            if(reversal, reinterpretAsUUID(sipHash128('entry', m)), NULL) AS reverses_entry_id,
            {programme_of('c')} AS programme_id, {operation_of('c')} AS operation_id, {contract_id('c')} AS contract_id,
            {lot_of('c')} AS lot, {siret_of('c')} AS contractor_siret,
            concat('b-', hex(sipHash64('beneficiary', toUInt64(sipHash64(c, intDiv(d, 90), bitShiftRight(h, 40) % 8) % {BENEFICIARIES})))) AS beneficiary_id,
            if(mode_index IN (1, 2, 3, 4), {partner_of(f'(c * 3 + bitShiftRight(h, 16) % 2) % {PARTNERS}')}, NULL) AS siae_siret,
            arrayElement({sql_array(MODES)}, mode_index + 1) AS mode,
            toDate('{START}') + toIntervalDay(d) AS work_date,
            if(reversal, -1, 1) * arrayElement([7, 7.5, 8, 3.5], bitShiftRight(h, 4) % 4 + 1) AS hours,
            'default' AS rule, 'bench-1' AS rulebook_version,
            toDateTime64(toDateTime(toDate('{START}') + toIntervalDay(d)), 3, 'UTC') + toIntervalMinute(1080 + bitShiftRight(h, 20) % 4320) AS submitted_at,
            submitted_at + toIntervalSecond(1 + bitShiftRight(h, 32) % 120) AS loaded_at,
            true AS opens_source  -- each entry here is its own event's only one
        FROM
        (
            SELECT number AS n, n % 500 = 499 AS reversal, if(reversal, n - 1, n) AS m,
                   sipHash64('h', m) AS h, toUInt32(intDiv(m * {days}, {entries})) AS d,
                   h % {CONTRACTS} AS c, bitShiftRight(h, 8) % 6 AS mode_index
            FROM numbers({first}, {count})
        )
        SETTINGS max_insert_threads = 1, max_block_size = {count}, min_insert_block_size_rows = {count}""")
    timings["entries_s"] = time.perf_counter() - t

    t = time.perf_counter()
    rejections = entries // 50
    reasons = ["duplicate_event"] * 4 + ["unknown_contract"] * 2 + ["not_eligible_on_work_date"] * 2 + \
        ["outside_contract_period", "invalid_event"]
    if rejections:
      cmd(f"""
        INSERT INTO rejections (rejection_id, reason, detail, event_id, event_type, source_topic, source_partition,
                                source_offset, source_index, payload, payload_truncated, loaded_at)
        SELECT reinterpretAsUUID(sipHash128('rejection', number)), arrayElement({sql_array(reasons)}, number % 10 + 1),
               'bench', toString(reinterpretAsUUID(sipHash128('revent', number))), 'timesheet.submitted',
               'insertion.intake', number % 4, number, 0,
               concat('{{"type":"timesheet.submitted","contract_id":"gpe-c0001","work_date":"',
                      toString(toDate('{START}') + toIntervalDay(intDiv(number * {days}, {rejections}))),
                      '","hours":', toString(arrayElement([7, 7.5, 8, 3.5], number % 4 + 1)), '}}'),
               false, toDateTime64(toDate('{START}') + toIntervalDay(intDiv(number * {days}, {rejections})), 3, 'UTC')
        FROM numbers({rejections})""")
    cmd(f"""
        INSERT INTO beneficiary_outcomes (beneficiary_id, outcome, outcome_date, event_id, version)
        SELECT concat('b-', hex(sipHash64('beneficiary', toUInt64(number * 3 % {BENEFICIARIES})))),
               arrayElement(['durable_job', 'transition_job', 'positive_exit'], number % 3 + 1),
               toDate('2018-01-01') + toIntervalDay(number % 3000), reinterpretAsUUID(sipHash128('outcome', number)), 1
        FROM numbers({BENEFICIARIES // 4})""")
    cmd(f"INSERT INTO ledger_settings (as_of) VALUES ('{AS_OF}')")
    timings["rejections_outcomes_s"] = time.perf_counter() - t
    return timings


def loader_batch(store: Store, size: int = 5000) -> dict:
    """One batch the size of a live loader's, written as the loader writes it (JSONEachRow bytes with
    a deduplication token), then again under another token (a worker's re-send: counted once) and
    under the same token (the loader's retry: skipped by the engine)."""
    rows = []
    for i in range(size):
        c = i % CONTRACTS
        programme = "gpe" if c < GPE_CONTRACTS else "anru"
        rows.append(json.dumps({
            "record": "entry",
            "entry_id": f"00000000-0000-4000-8000-{i:012d}", "kind": "credit", "status": "counted", "reason": "",
            "source_event_id": f"00000000-0000-4000-9000-{i:012d}", "source_event_type": "timesheet.submitted",
            "reverses_entry_id": None, "programme_id": programme, "operation_id": OPERATIONS[c % len(OPERATIONS)],
            "contract_id": f"{programme}-c{c + 1:04d}", "lot": f"GC-{c % 9 + 1:02d}",
            "contractor_siret": _siret(c), "beneficiary_id": f"b-batch-{i % 700}",
            "siae_siret": None, "mode": "direct_hire", "work_date": str(AS_OF - dt.timedelta(days=i % 3)),
            "hours": 7, "rule": "default", "rulebook_version": "bench-1",
            "submitted_at": f"{AS_OF}T18:00:00+00:00", "opens_source": True}, separators=(",", ":")).encode())
    body = b"\n".join(rows)
    out = {}
    for label, token in (("batch", "ledger_entries:bench-batch"), ("replay", "ledger_entries:bench-resend"),
                         ("retry", "ledger_entries:bench-resend")):
        t, cpu = time.perf_counter(), time.process_time()
        store.insert_json_rows("ledger_entries", body, token=token)
        out[f"{label}_write_ms"] = round((time.perf_counter() - t) * 1000, 1)
        out[f"{label}_cpu_ms"] = round((time.process_time() - cpu) * 1000, 1)
    out["batch_entries"] = size
    return out


def _siret(c: int) -> str:
    establishment = c % ESTABLISHMENTS
    return f"{300000000 + (establishment % COMPANIES) * 1000003}{10 + establishment:05d}"


def check_exact(store: Store) -> dict:
    """deploy/clickhouse/queries/analytics_check.sql: keys whose totals differ from the ledger."""
    t = time.perf_counter()
    rows = store.rows("analytics_check")
    differing = {name: 0 for name in ("hours_by_contract_day", "hours_by_contract_month",
                                      "hours_by_beneficiary_contract", "people_contract_hours",
                                      "hours_by_programme_day", "hours_by_operation_day",
                                      "rejections_by_reason_day", "accepted_events")}
    for row in rows:
        differing[row["aggregate"]] += 1
    return {"differing_keys": differing, "examples": rows[:5], "check_s": round(time.perf_counter() - t, 1)}


def queries() -> list[tuple[str, str, dict, dict | None]]:
    """(name, SQL, parameters, settings): query files run with their QUERY_SETTINGS, as their readers run them."""
    found = []
    for path, dashboard in load_dashboards():
        for panel, target in clickhouse_targets(dashboard):
            found.append((f"{path.stem}: {panel['title']}" + (f" [{target['refId']}]" if target.get('refId', 'A') != 'A' else ""),
                          render_sql(target["rawSql"], programme="gpe"), {}, None))
    for name, parameters in QUERY_FILES:
        found.append((f"queries/{name}.sql", (QUERIES_DIR / f"{name}.sql").read_text(), parameters,
                      QUERY_SETTINGS.get(name)))
    return found


def export_queries() -> list[tuple[str, str, dict, dict | None]]:
    return [(f"export: queries/{name}.sql", (QUERIES_DIR / f"{name}.sql").read_text(), parameters,
             QUERY_SETTINGS.get(name)) for name, parameters in EXPORT_QUERY_FILES]


# The parts of the views this version changed, as they were and as they are, timed in the same run
# (same-run ratios; wall times on this shared machine move with its load).
REFERENCE_QUERIES = [
    ("reference: people per programme, before (hours_by_beneficiary_contract, hash GROUP BY)", """
        SELECT count(), sum(hours), max(first_work_date) FROM (
            SELECT programme_id, beneficiary_id, sum(contract_hours) AS hours, minIf(first_day, contract_hours > 0) AS first_work_date
            FROM (SELECT programme_id, beneficiary_id, contract_id, sum(hours) AS contract_hours, min(first_work_date) AS first_day
                  FROM hours_by_beneficiary_contract WHERE status = 'counted'
                  GROUP BY programme_id, beneficiary_id, contract_id)
            GROUP BY programme_id, beneficiary_id HAVING hours > 0)""", {}),
    ("reference: people per programme, now (programme_people)",
     "SELECT count(), sum(hours), max(first_work_date) FROM programme_people", {}),
    ("reference: programme's daily hours, before (hours_by_contract_day)",
     "SELECT count(), sum(h) FROM (SELECT programme_id, work_date, sum(hours) AS h FROM hours_by_contract_day "
     "WHERE status = 'counted' GROUP BY programme_id, work_date)", {}),
    ("reference: programme's daily hours, now (hours_by_programme_day)",
     "SELECT count(), sum(h) FROM (SELECT programme_id, work_date, sum(hours) AS h FROM hours_by_programme_day "
     "WHERE status = 'counted' GROUP BY programme_id, work_date)", {}),
    # The progress views read the ledger with FINAL until 2026-12-05 (`ledger progress`, the live
    # page's accounting): the contracts' counted hours as they were read, and as they are.
    ("reference: contracts' counted hours, before (ledger_entries FINAL)",
     "SELECT count(), sum(h) FROM (SELECT contract_id, sum(hours) AS h FROM ledger_entries FINAL "
     "WHERE status = 'counted' GROUP BY contract_id)", {}),
    ("reference: contracts' counted hours, now (hours_by_contract_month)",
     "SELECT count(), sum(h) FROM (SELECT contract_id, sum(hours) AS h FROM hours_by_contract_month "
     "WHERE status = 'counted' GROUP BY contract_id)", {}),
]


def time_queries(store: Store, repeats: int) -> list[dict]:
    """Wall ms (first, median, max) and the process's CPU ms (median: chDB runs in this process, so
    it is the query's work, whatever else the machine runs) of every query."""
    results = []
    references = [(name, sql, parameters, None) for name, sql, parameters in REFERENCE_QUERIES]
    for name, sql, parameters, settings in queries() + references + export_queries():
        results.append(_timed(name, lambda: len(store.query(sql, parameters or None, settings).result_rows),
                              repeats))
    # The live page's whole snapshot (streams/live/snapshot.py: the report's data, the accounting,
    # the freshness), read at most once a second while facilitators watch it.
    results.append(_timed("live page: one snapshot (streams.live.snapshot.read_snapshot)",
                          lambda: len(read_snapshot(store)["contracts"]), repeats))
    return results


def _timed(name: str, run, repeats: int) -> dict:
    runs, cpus = [], []
    for _ in range(repeats):
        t, cpu = time.perf_counter(), time.process_time()
        rows = run()
        runs.append((time.perf_counter() - t) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {"query": name, "rows": rows, "first_ms": round(runs[0], 1), "median_ms": round(statistics.median(runs), 1),
            "max_ms": round(max(runs), 1), "median_cpu_ms": round(statistics.median(cpus), 1)}


def table_sizes(store: Store) -> dict:
    rows = store.query("""
        SELECT table, sum(rows) AS rows, count() AS parts, sum(data_compressed_bytes) AS bytes
        FROM system.parts WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table""").result_rows
    return {table: {"rows": int(r), "parts": int(p), "compressed_bytes": int(b)} for table, r, p, b in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--path", help="chDB directory (default: a temporary one, removed at the end)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--reuse", action="store_true",
                        help="with --path: keep the store already built there and only time the queries")
    args = parser.parse_args(argv)

    path = Path(args.path) if args.path else Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    store = Store(f"chdb://{path}", database="bench")
    try:
        started = time.perf_counter()
        store.apply_schema()
        previous = json.loads(args.out.read_text()) if args.reuse and args.out.exists() else {}
        if args.reuse and store.query("SELECT count() FROM ledger_entries").result_rows[0][0]:
            timings, batch = previous.get("build", {}), previous.get("loader_batch", {})
            print("reusing the store in", path, flush=True)
        else:
            timings = build(store, args.entries)
            print(f"built {args.entries:,} entries in {time.perf_counter() - started:.1f} s "
                  f"({', '.join(f'{k} {v:.1f}' for k, v in timings.items())})", flush=True)
            batch = loader_batch(store)
            print(f"loader batch of {batch['batch_entries']} entries: {batch['batch_write_ms']} ms "
                  f"(CPU {batch['batch_cpu_ms']} ms), replayed: {batch['replay_write_ms']} ms "
                  f"(CPU {batch['replay_cpu_ms']} ms)", flush=True)
        exact = check_exact(store)
        print(f"exactness (keys differing from the ledger read with FINAL, {exact['check_s']} s): "
              + ", ".join(f"{k} {v}" for k, v in exact["differing_keys"].items()), flush=True)
        ledger_rows = store.query("SELECT count() FROM ledger_entries FINAL").result_rows[0][0]
        sizes = table_sizes(store)
        results = time_queries(store, args.repeats)
    finally:
        store.close()
        if not args.path:
            shutil.rmtree(path, ignore_errors=True)

    width = max((len(r["query"]) for r in results), default=5)
    print(f"\n{'query':<{width}}  {'rows':>6}  {'first ms':>9}  {'median ms':>9}  {'max ms':>8}  {'CPU ms':>7}")
    for r in results:
        print(f"{r['query']:<{width}}  {r['rows']:>6}  {r['first_ms']:>9.1f}  {r['median_ms']:>9.1f}  {r['max_ms']:>8.1f}"
              f"  {r['median_cpu_ms']:>7.1f}")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} CPUs)")
    dashboard = [r for r in results if not r["query"].startswith(("reference:", "export:", "live page:"))]
    slowest = max(dashboard, key=lambda r: r["median_ms"], default={"median_ms": 0, "query": "-"})
    print(f"\nslowest median: {slowest['median_ms']} ms ({slowest['query']}); {len(dashboard)} queries, "
          f"{ledger_rows:,} ledger entries")

    report = {
        "command": "bench/dashboard_queries.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "chdb_version": _chdb_version(),
        "entries_generated": args.entries, "ledger_entries_final": ledger_rows, "as_of": str(AS_OF),
        "build": {k: round(v, 2) for k, v in timings.items()}, "loader_batch": batch, "exactness": exact,
        "tables": sizes, "repeats": args.repeats, "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "queries": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if not any(exact["differing_keys"].values()) else 1


def _chdb_version() -> str:
    try:
        import chdb
        return getattr(chdb, "__version__", "?")
    except Exception:  # pragma: no cover
        return "?"


if __name__ == "__main__":
    sys.exit(main())
