"""The Grafana dashboards, run against the real ClickHouse engine (chDB) on a hand-made ledger.

Grafana cannot run here, so the tests do what it would do: load each dashboard JSON, take every
ClickHouse panel's SQL, substitute the dashboard variable and the plugin's macros, run it, and
compare what the panel would show with figures computed by hand (tests/integration/analytics_data.py
holds the dataset and the arithmetic). The same dataset is also loaded with duplicate writes (a
batch written twice, a row twice in one batch, a later replay): every figure must stay the same,
except the store's "last write" time and the ingest lag of that replay.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
import uuid
from decimal import Decimal

import pytest
import yaml

from streams.store import QUERIES_DIR, QUERY_SETTINGS, SCHEMA_DIR, Store, query_text, split_statements
from tests.integration import analytics_data as data

pytestmark = pytest.mark.integration

D = dt.date.fromisoformat
T = dt.datetime.fromisoformat
SUPPRESSED = "fewer than 5 people"

# What a facilitator sees on programme gpe, panel by panel (rows in the panel's order).
EXPECTED: dict[str, list[tuple]] = {
    # 480 counted h of a 2,000 h target.
    "Programme progress": [(24.0,)],
    # done 210 + 170 + 100; expected 2,000 x 180/360.
    "Hours against the trajectory": [(480, 1000, -520, 2000)],
    # 480 < 80% of 1,000: at risk; 90-day rate (45 + 45 + 45) / 90 = 1.5 h/day;
    # 1,520 h left / 1.5 = 1,013.3 -> 1,014 days after 2025-06-30.
    "Status and forecast": [("at_risk", 1.5, D("2028-04-09"))],
    "Operations (lines)": [
        ("L15S", 2, 700, 380, 400, 54.29, "behind"),      # 380 >= 0.8 x 400
        ("L16", 2, 700, 100, 200, 14.29, "at_risk"),      # c4 not started: expected 0
    ],
    "Lots": [
        ("L15S", "GC-01", 1, 400, 210, 200, 52.5, "on_track"),
        ("L15S", "GC-02", 1, 300, 170, 200, 56.67, "behind"),
        ("L16", "GC-01", 1, 200, 100, 200, 50.0, "at_risk"),
        ("L16", "GC-03", 1, 500, 0, 0, 0.0, "not_started"),
    ],
    "Contracts against their trajectory": [
        # c1: 90 h in the 90 days -> 1 h/day, 190 h left -> 2025-06-30 + 190 days.
        ("gpe-c1", "L15S", "GC-01", data.S1, D("2025-01-01"), D("2025-12-27"), 400, 210, 200, 10, 52.5,
         "on_track", 1.0, D("2026-01-06")),
        # c2: 45 h in the 90 days (P14's 8 h reversed) -> 0.5 h/day, 130 h left -> + 260 days.
        ("gpe-c2", "L15S", "GC-02", data.S2, D("2025-03-02"), D("2025-08-29"), 300, 170, 200, -30, 56.67,
         "behind", 0.5, D("2026-03-17")),
        # c3 ended on 2025-06-01: expected = target; no hours in the 90 days: no forecast.
        ("gpe-c3", "L16", "GC-01", data.S3, D("2024-07-01"), D("2025-06-01"), 200, 100, 200, -100, 50.0,
         "at_risk", 0.0, None),
        ("gpe-c4", "L16", "GC-03", data.S3, D("2025-09-01"), D("2026-08-27"), 500, 0, 0, 0, 0.0,
         "not_started", 0.0, None),
    ],
    "Companies (all their contracts)": [
        # c3 + c4; via partners: P11 30 h (E2) of 100.
        ("443061841", 1, 2, 700, 100, 200, -100, 14.29, "at_risk", 30, 30.0),
        # c1 + c2 (two establishments); via partners: 40 + 45 + 45 (c1) + 35 + 55 (c2) = 220 of 380.
        ("732829320", 2, 2, 700, 380, 400, -20, 54.29, "behind", 220, 57.89),
    ],
    "Establishments": [
        (data.S3, "443061841", 2, 700, 100, 200, 14.29, "at_risk", 30.0),
        (data.S1, "732829320", 1, 400, 210, 200, 52.5, "on_track", 61.9),     # 130 / 210
        (data.S2, "732829320", 1, 300, 170, 200, 56.67, "behind", 52.94),     # 90 / 170
    ],
    # ETTI 105 + AI 45 + GEIQ 45 + subcontracting 55 = 250 of 480; 5 partners.
    "Share of hours through SIAE partners": [(52.08, 250, 480, 5)],
    "Counted hours by mode": [
        ("direct_hire", 185),          # P01 30 + P03 50 + P06 35 + P10 40 + P12 30
        ("temp_agency_etti", 105),     # P02 40 + P07 35 + P11 30
        ("siae_subcontract", 55),
        ("geiq", 45), ("siae_placement_ai", 45), ("training", 45),
    ],
    "SIAE partners": [
        (data.E1, "temp_agency_etti", 2, 2, 75, 11.5, 0, 30.0),   # P02 40 + P07 35; P13's 11.5 h flagged
        (data.SUB, "siae_subcontract", 1, 1, 55, 0, 0, 22.0),
        (data.G1, "geiq", 1, 1, 45, 0, 0, 18.0),
        (data.A1, "siae_placement_ai", 1, 1, 45, 0, 0, 18.0),
        (data.E2, "temp_agency_etti", 1, 1, 30, 0, 0, 12.0),
    ],
    "Hours per month": [
        (T("2024-09-01"), 40, 0, 0, 0),         # P10
        (T("2024-10-01"), 30, 30, 0, 0),        # P11 via E2
        (T("2025-01-01"), 30, 0, 0, 7),         # P01; P10's 7 h not counted
        (T("2025-02-01"), 70, 40, 0, 0),        # P02 (E1) + P12
        (T("2025-03-01"), 175, 90, 0, 0),       # P03 50 + P06 35 + P07 35 (E1) + P08 55 (SUB)
        (T("2025-04-01"), 45, 45, 0, 0),        # P04 (AI); P14 8 - 8
        (T("2025-05-01"), 45, 0, 11.5, 0),      # P09 training; P13 flagged
        (T("2025-06-01"), 45, 45, 0, 0),        # P05 (GEIQ)
    ],
    "People with counted hours": [(12, 480)],   # P13 (flagged only) and P14 (net 0) are not people
    "People by age band": [
        # 26-49: P06-P10 (P10: 2024 - 1975 = 49 at the first counted day), 5 people, hidden because
        # 50+ (P11, P12: 2 people) is hidden and 2 < 5: the smallest shown group goes too.
        ("26_to_49", None, None, SUPPRESSED),
        ("50_and_over", None, None, SUPPRESSED),
        ("under_26", 5, 210, ""),               # P01-P05: 30 + 40 + 50 + 45 + 45
    ],
    "People by gender": [
        ("F", 5, 215, ""),                      # P02 40 + P04 45 + P06 35 + P08 55 + P10 40
        ("M", 7, 265, ""),
    ],
    "People by eligibility criterion": [
        ("long_term_job_seeker", None, None, SUPPRESSED),     # 1 person
        ("rqth", None, None, SUPPRESSED),                     # 2 people
        ("rsa", 6, 210, ""),                                  # P01, P02, P06, P07, P10, P11
        ("youth_no_qualification", None, None, SUPPRESSED),   # 5, hidden: 1 + 2 hidden < 5
    ],
    "Outcomes": [
        ("durable_job", 6, 50.0, ""),                         # P01 (two events) to P06, of 12
        ("positive_exit", None, None, SUPPRESSED),            # P12 (P13 is not a person; P05's is later)
        ("transition_job", None, None, SUPPRESSED),           # 5, hidden: 1 hidden < 5
        ("any", 12, 100.0, ""),
    ],
    "Flagged and not-counted hours by reason": [
        ("flagged", "same_person_same_day_other_contractor", 2, 0, 11.5),
        ("not_counted", "outside_eligibility_window", 1, 0, 7),
    ],
    "Rejected events by reason": [
        ("duplicate_event", "timesheet.submitted", 2, 14.5),
        ("invalid_event", "contract.registered", 1, 0),
        ("invalid_event", "timesheet.submitted", 1, 30),
        ("invalid_json", "", 1, 0),
        ("not_eligible_on_work_date", "timesheet.submitted", 1, 7),
        ("unknown_contract", "timesheet.submitted", 1, 8),
    ],
}
# Panels whose figures depend on when data was written (a replay is a write), checked on their own.
WRITE_TIME_PANELS = {"Data freshness", "Ingest lag per hour of loading"}
CURVE = "Cumulative hours against the trajectory"
ALLOWED_METRICS = {"ledger_events_received_total", "ledger_events_accepted_total", "ledger_events_rejected_total",
                   "ledger_hours_attributed_total", "ledger_loader_batch_records", "ledger_intake_delay_seconds",
                   "ledger_loader_write_seconds", "ledger_freshness_seconds"}
HISTOGRAMS = {"ledger_loader_write_seconds", "ledger_freshness_seconds", "ledger_loader_batch_records",
              "ledger_intake_delay_seconds"}
PROMQL_WORDS = {"sum", "rate", "irate", "increase", "avg", "max", "min", "count", "by", "without", "on", "ignoring",
                "histogram_quantile", "le", "type", "reason", "table", "and", "or", "unless", "offset", "clamp_min"}


# --- fixtures ------------------------------------------------------------------------------------

def _store(chdb_path, kind: str) -> Store:
    store = Store(f"chdb://{chdb_path}", database=f"dash_{kind}_{uuid.uuid4().hex[:10]}")
    store.apply_schema()
    return store


def panel_results(store: Store) -> dict[str, list[tuple]]:
    results = {}
    for _, dashboard in data.load_dashboards():
        for panel, target in data.clickhouse_targets(dashboard):
            results[panel["title"]] = [tuple(row) for row in store.query(data.render_sql(target["rawSql"])).result_rows]
    return results


@pytest.fixture(scope="module")
def clean(chdb_path):
    store = _store(chdb_path, "clean")
    data.load(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def replayed(chdb_path):
    """The same dataset, then duplicate writes of entries and rejections."""
    store = _store(chdb_path, "replayed")
    data.load(store)
    data.replay_batches(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def shown(replayed) -> dict[str, list[tuple]]:
    """What each ClickHouse panel shows, on the store with duplicates."""
    return panel_results(replayed)


# --- the dashboards as files ---------------------------------------------------------------------

def test_dashboards_are_provisioned():
    dashboards = data.load_dashboards()
    assert {path.name for path, _ in dashboards} >= {"facilitators.json", "operations.json"}
    uids = [d["uid"] for _, d in dashboards]
    assert len(uids) == len(set(uids))
    providers = [p for path in sorted((data.GRAFANA_DIR / "provisioning" / "dashboards").glob("*.y*ml"))
                 for p in yaml.safe_load(path.read_text())["providers"]]
    assert providers and all(p["type"] == "file" and p["options"]["path"] for p in providers)
    for _, dashboard in dashboards:
        ids = [p["id"] for p in dashboard["panels"]] + [p["id"] for p in data.panels(dashboard)]
        assert len(set(p["id"] for p in data.panels(dashboard))) == len(data.panels(dashboard))
        assert all(isinstance(i, int) for i in ids)


def test_every_panel_has_a_query():
    uid = data.clickhouse_datasource_uid()
    for path, dashboard in data.load_dashboards():
        for panel in data.panels(dashboard):
            targets = panel.get("targets") or []
            assert targets, f"{path.name}: panel {panel['title']!r} has no query"
            for target in targets:
                source = target.get("datasource") or panel.get("datasource")
                if source["type"] == data.CLICKHOUSE_PLUGIN:
                    assert source["uid"] == uid, f"{panel['title']}: datasource {source['uid']} is not provisioned"
                    assert target.get("rawSql", "").strip(), f"{panel['title']}: empty SQL"
                    assert target["editorType"] == "sql"
                    # The plugin's formats: 0 time series, 1 table.
                    timeseries = panel["type"] == "timeseries"
                    assert (target["format"], target["queryType"]) == ((0, "timeseries") if timeseries else (1, "table"))
                else:
                    assert source["type"] == "prometheus", f"{panel['title']}: unknown datasource {source}"
                    assert target.get("expr", "").strip(), f"{panel['title']}: empty PromQL"


def test_every_clickhouse_panel_is_checked():
    titles = [panel["title"] for _, d in data.load_dashboards() for panel, _ in data.clickhouse_targets(d)]
    assert len(titles) == len(set(titles)), "panel titles must be unique (the tests key on them)"
    assert set(titles) == set(EXPECTED) | WRITE_TIME_PANELS | {CURVE}


def test_prometheus_panels_use_only_the_ledgers_metrics():
    from prometheus_client import REGISTRY

    import streams.metrics  # noqa: F401  (registers the metrics)

    registered = {metric.name for metric in REGISTRY.collect()}
    exprs = [t["expr"] for _, d in data.load_dashboards() for _, t in data.prometheus_targets(d)]
    assert exprs, "the operations dashboard has no Prometheus panel"
    used = set()
    for expr in exprs:
        text = re.sub(r"\$__\w+|\{\{\w+\}\}|\[[^\]]*\]", " ", expr)    # ranges and Grafana variables
        text = re.sub(r"\{[^}]*\}", " ", text)                           # label matchers
        for name in set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - PROMQL_WORDS:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in ALLOWED_METRICS or (base in HISTOGRAMS and base != name), f"{name} in {expr!r}"
            used.add(base if base in HISTOGRAMS else name)
    assert used == ALLOWED_METRICS, f"metrics without a panel: {ALLOWED_METRICS - used}"
    # Every metric the dashboards read is one the worker or the loader exposes.
    assert {m.removesuffix("_total") for m in ALLOWED_METRICS} <= registered


# --- what the panels show ------------------------------------------------------------------------

@pytest.mark.parametrize("title", sorted(EXPECTED))
def test_panel_shows_the_hand_computed_figures(shown, title):
    assert shown[title] == EXPECTED[title]


def test_cumulative_curve_against_the_trajectory(shown):
    rows = {time.date(): (done, trajectory) for time, done, trajectory in shown[CURVE]}
    # From the first counted day (P10, 2024-09-02) to the programme's end, one point a day.
    assert min(rows) == D("2024-09-02") and max(rows) == D("2025-12-27") and len(rows) == 482
    assert rows[D("2024-09-02")] == (8, 0)                 # P10's first day; before the start: 0
    assert rows[D("2024-12-31")] == (70, 0)                # P10 40 + P11 30
    assert rows[D("2025-03-31")] == (345, Decimal("494.44"))   # 2,000 x 89/360
    assert rows[D("2025-06-30")] == (480, 1000)            # the reference date
    assert rows[D("2025-07-01")] == (None, Decimal("1005.56"))  # nothing after the reference date
    assert rows[D("2025-12-27")] == (None, 2000)
    done = [d for d, _ in rows.values() if d is not None]
    assert done == sorted(done)                            # cumulative (P14's reversal nets to 0)


def test_freshness_panels(clean, replayed):
    fresh = panel_results(clean)
    again = panel_results(replayed)
    now = time.time()
    # Newest event: P05's last day (2025-06-09 18:00); last write: the last rejection (2025-06-12
    # 09:30); every entry was loaded 12 h after its submission.
    (newest, last, lag, since), = fresh["Data freshness"]
    assert (newest, last, lag) == (T("2025-06-09 18:00"), T("2025-06-12 09:30"), 43200)
    assert abs(since - (now - T("2025-06-12 09:30").replace(tzinfo=dt.timezone.utc).timestamp())) < 600
    # The replay is a write: the last write moves to it, and its lag is that of the oldest entry
    # it rewrote (A01, submitted 2025-03-03 18:00): 108 days 18 h. The newest event does not move.
    (newest, last, lag, _), = again["Data freshness"]
    assert (newest, last, lag) == (T("2025-06-09 18:00"), T("2025-06-20 12:00"), 9_396_000)
    work_days = {e["work_date"] for e in data.entries()}
    assert fresh["Ingest lag per hour of loading"] == [
        (T(day) + dt.timedelta(days=1, hours=6), 43200) for day in sorted(work_days)]
    assert again["Ingest lag per hour of loading"] == sorted(
        fresh["Ingest lag per hour of loading"] + [(T("2025-06-20 12:00"), 9_396_000)])


def test_duplicate_writes_change_no_figure(clean, replayed):
    before, after = panel_results(clean), panel_results(replayed)
    for title in set(before) - WRITE_TIME_PANELS:
        assert after[title] == before[title], title
    # The ledger really holds the duplicates (until a merge), and the model still counts them once.
    raw = replayed.query("SELECT count() FROM ledger_entries").result_rows[0][0]
    assert raw > len(data.entries())
    assert replayed.rows("analytics_check") == []
    assert clean.rows("analytics_check") == []


# The progress views' figures computed from the ledger itself, read with FINAL (what the views read
# before they read the analytical tables), each next to the view's own query.
PROGRESS_FROM_LEDGER = {
    "contract_progress": (
        "SELECT contract_id, hours_done, entries, beneficiaries FROM contract_progress ORDER BY contract_id",
        """SELECT c.contract_id, toDecimal64(e.hours, 2), e.entries, e.beneficiaries
           FROM contracts AS c
           LEFT JOIN (SELECT contract_id, sum(hours) AS hours, countIf(kind = 'credit') AS entries,
                             uniqExactIf(beneficiary_id, beneficiary_id != '') AS beneficiaries
                      FROM ledger_entries FINAL WHERE status = 'counted' GROUP BY contract_id) AS e
                  ON e.contract_id = c.contract_id
           ORDER BY c.contract_id"""),
    "programme_progress": (
        "SELECT programme_id, hours_done, beneficiaries FROM programme_progress ORDER BY programme_id",
        """SELECT p.programme_id, toDecimal64(e.hours, 2), e.beneficiaries
           FROM programmes AS p
           LEFT JOIN (SELECT programme_id, sum(hours) AS hours, uniqExactIf(beneficiary_id, beneficiary_id != '') AS beneficiaries
                      FROM ledger_entries FINAL WHERE status = 'counted' GROUP BY programme_id) AS e
                  ON e.programme_id = p.programme_id
           ORDER BY p.programme_id"""),
    "withheld_hours": (
        "SELECT status, reason, hours, entries FROM withheld_hours ORDER BY status, reason",
        """SELECT status, reason, toDecimal64(sum(hours), 2) AS hours, countIf(kind = 'credit') - countIf(kind = 'reversal')
           FROM ledger_entries FINAL WHERE status != 'counted' GROUP BY status, reason HAVING hours != 0
           ORDER BY status, reason"""),
    "intake_accounting": (
        "SELECT accepted, hours FROM intake_accounting",
        """SELECT (SELECT uniqExact(source_event_id) FROM ledger_entries FINAL)
                  + (SELECT count() FROM programme_definitions FINAL) + (SELECT count() FROM contract_registrations FINAL)
                  + (SELECT count() FROM beneficiary_enrolments FINAL) + (SELECT count() FROM pooling_agreements FINAL)
                  + (SELECT count() FROM beneficiary_outcomes FINAL),
                  (SELECT toDecimal64(sumIf(hours, status = 'counted'), 2) FROM ledger_entries FINAL)"""),
    "daily_counted_hours": (
        (QUERIES_DIR / "daily_counted_hours.sql").read_text().replace("{as_of:Date}", f"'{data.AS_OF}'"),
        f"""SELECT programme_id, operation_id, work_date, sum(hours) AS hours FROM ledger_entries FINAL
            WHERE status = 'counted' AND work_date <= '{data.AS_OF}'
            GROUP BY programme_id, operation_id, work_date ORDER BY work_date, programme_id, operation_id"""),
}


@pytest.mark.parametrize("view", sorted(PROGRESS_FROM_LEDGER))
def test_progress_views_read_from_the_model_equal_the_ledger_read_with_final(clean, replayed, view):
    """contract_progress, programme_progress, withheld_hours, intake_accounting and the curves of
    the report and the live page read the analytical tables (a FINAL read of the ledger cost
    seconds at 10 M entries): with copies of entries in the store, unmerged, they still give what
    the ledger read with FINAL gives."""
    shown, from_ledger = PROGRESS_FROM_LEDGER[view]
    rows = replayed.query(shown).result_rows
    assert rows and rows == replayed.query(from_ledger).result_rows
    assert rows == clean.query(shown).result_rows
    assert any(any(value for value in row[1:]) for row in rows)  # figures, not a store of zeros


def test_the_curves_query_run_with_its_settings_gives_the_same_rows_in_the_same_order(replayed):
    """daily_counted_hours.sql runs with optimize_aggregation_in_order (QUERY_SETTINGS): a plan
    choice, so with copies of entries in several unmerged parts it still gives, row for row and in
    its ORDER BY, what it gives without the setting and what the ledger read with FINAL gives."""
    parts = replayed.query("SELECT count() FROM system.parts WHERE database = currentDatabase() "
                           "AND table = 'hours_by_operation_day' AND active").result_rows[0][0]
    assert parts > 1  # the groups of several parts are merged in order, not only read from one
    assert QUERY_SETTINGS["daily_counted_hours"] == {"optimize_aggregation_in_order": 1}
    named = replayed.named("daily_counted_hours", {"as_of": data.AS_OF}).result_rows
    plain = replayed.query(query_text("daily_counted_hours"), {"as_of": data.AS_OF}).result_rows
    in_order = replayed.query(query_text("daily_counted_hours"), {"as_of": data.AS_OF},
                              {"optimize_aggregation_in_order": 1}).result_rows
    _, from_ledger = PROGRESS_FROM_LEDGER["daily_counted_hours"]
    assert len(named) > 10 and named == plain == in_order == replayed.query(from_ledger).result_rows
    assert named == sorted(named, key=lambda row: (row[2], row[0], row[1]))


def test_small_groups_are_suppressed(shown, replayed):
    for title in ("People by age band", "People by gender", "People by eligibility criterion", "Outcomes"):
        for row in shown[title]:
            assert row[1] is None or row[1] >= 5, (title, row)
    # Programme anru has one person: every group of it is hidden, the total too.
    anru = replayed.query("SELECT dimension, value, people, hours, suppressed FROM beneficiary_profile "
                          "WHERE programme_id = 'anru' ORDER BY dimension, value").result_rows
    assert anru == [("age_band", "26_to_49", None, None, 1), ("all", "all", None, None, 1),
                    ("criterion", "ass", None, None, 1), ("gender", "M", None, None, 1)]
    # No view of people shows a beneficiary key.
    for view in ("beneficiary_profile", "outcomes_summary"):
        columns = replayed.query(f"SELECT * FROM {view} LIMIT 0").column_names
        assert not any("beneficiary" in c for c in columns), view


def test_reference_date_is_pinned_or_today(chdb_path):
    store = _store(chdb_path, "as_of")
    try:
        data.load(store)
        store.insert_json_rows("ledger_settings", b'{"as_of": "2025-03-31"}')
        rows = {r["contract_id"]: r for r in store.rows("analytics_contracts")}
        c1 = rows["gpe-c1"]
        # 30 + 40 + 50 h by 2025-03-31; expected 400 x 89/360; all 120 h in the 90 days:
        # 1.33 h/day, 280 h left x 90 / 120 = 210 days.
        assert (c1["hours_done"], c1["expected_to_date"], c1["status"], c1["rate_90d_per_day"],
                c1["forecast_completion_date"]) == (120, Decimal("98.89"), "on_track", 1.33, D("2025-10-27"))
        # c3: 2024-07-01 -> 2025-06-01 is 335 days, 273 elapsed: 200 x 273/335.
        assert (rows["gpe-c3"]["expected_to_date"], rows["gpe-c3"]["status"]) == (Decimal("162.99"), "at_risk")
        programme = {r["programme_id"]: r for r in store.rows("analytics_programmes")}["gpe"]
        assert (programme["hours_done"], programme["expected_to_date"], programme["status"]) == \
            (345, Decimal("494.44"), "at_risk")
        # Back to today.
        store.insert_json_rows("ledger_settings", b'{"as_of": null}')
        (as_of, today), = store.query("SELECT (SELECT as_of FROM ledger_as_of), today()").result_rows
        assert as_of == today
    finally:
        store.close()


def test_a_forecast_centuries_ahead_is_a_date_after_2149_or_none_never_a_date_wrapped_into_the_past(chdb_path):
    # Seen on the live page mid-demo: 13.9 M hours left at 275 h/day forecast "1984-08-31" (as_of +
    # 50,600 days overflowed the Date type, which ends on 2149-06-06).
    store = _store(chdb_path, "forecast")
    try:
        data.load(store)
        store.insert_json_rows("ledger_settings", b'{"as_of": "2025-03-31"}')  # c1: 120 h, all in the 90 days
        c1 = data.CONTRACT["gpe-c1"]
        for version, target in ((1000, 80_120), (1001, 200_120)):
            store.insert_json_rows("contract_registrations", data._rows([{
                "event_id": data._uuid(f"contract:gpe-c1:{version}"), "contract_id": "gpe-c1", "programme_id": c1[1],
                "operation_id": c1[2], "lot": c1[3], "contractor_siret": c1[4], "start_date": c1[5],
                "end_date": c1[6], "target_hours": target, "version": version}]))
            forecast = {r["contract_id"]: r["forecast_completion_date"]
                        for r in store.rows("analytics_contracts")}["gpe-c1"]
            days = -(-(target - 120) * 90 // 120)  # 60,000 days, then 150,000
            assert forecast == (D("2025-03-31") + dt.timedelta(days=days) if days <= 100_000 else None), target
    finally:
        store.close()


def test_schema_reapplied_changes_nothing(replayed, shown):
    """apply_schema runs at every loader start: views replaced, no backfill run twice."""
    replayed.apply_schema()
    after = panel_results(replayed)
    for title in set(shown) - WRITE_TIME_PANELS:
        assert after[title] == shown[title], title


def test_model_is_backfilled_on_a_store_that_predates_it(chdb_path, tmp_path, shown):
    """A store whose ledger was filled before 004/005 existed: applying them fills the model."""
    older = tmp_path / "schema"
    older.mkdir()
    for path in sorted(SCHEMA_DIR.glob("*.sql")):
        if path.name < "004":
            shutil.copy(path, older / path.name)
    store = Store(f"chdb://{chdb_path}", database=f"dash_backfill_{uuid.uuid4().hex[:10]}")
    try:
        store.apply_schema(older)
        data.load_ledger(store)
        data.replay_batches(store, outcomes_too=False)
        store.apply_schema()
        data.load_model_inputs(store)
        results = panel_results(store)
        for title in set(shown) - WRITE_TIME_PANELS:
            assert results[title] == shown[title], title
        assert store.rows("analytics_check") == []
    finally:
        store.close()


def _store_of_then(chdb_path, kind: str, made_as_then) -> Store:
    """A store of an earlier version (`made_as_then` turns this version's schema into it) holding
    the dataset's ledger and copies of its entries, not yet upgraded."""
    store = Store(f"chdb://{chdb_path}", database=f"dash_{kind}_{uuid.uuid4().hex[:10]}")
    store.apply_schema()
    made_as_then(store)
    data.load_ledger(store)
    data.replay_batches(store, outcomes_too=False)
    return store


def test_a_store_with_the_wide_dedup_stage_is_upgraded_and_stays_exact(chdb_path, shown):
    """A store of 2026-11-27 to 2026-12-04 (entries_seen, written with every column): applying this
    version fills entry_keys from the ledger and moves the aggregates to entries_new; the figures
    stay the same, copies written afterwards still count once, and entries_seen is no longer written."""
    store = _store_of_then(chdb_path, "wide", data.wide_dedup_stage)
    try:
        seen = store.query("SELECT count() FROM entries_seen").result_rows[0][0]
        assert seen == len({e["entry_id"] for e in data.entries()})
        store.apply_schema()
        data.load_model_inputs(store)
        views = {r[0] for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                           "AND engine = 'MaterializedView'").result_rows}
        assert "entries_seen_mv" not in views and not any(v.endswith("_sum_mv") and v != "rejections_by_reason_day_sum_mv"
                                                          for v in views)
        assert store.query("SELECT count() FROM entry_keys FINAL").result_rows[0][0] == seen
        rows = data.entries()
        store.insert_json_rows("ledger_entries", data._rows(rows[:40] + rows[-5:]), token="after-the-upgrade")
        results = panel_results(store)
        for title in set(shown) - WRITE_TIME_PANELS:
            assert results[title] == shown[title], title
        assert store.rows("analytics_check") == []
        assert store.query("SELECT count() FROM entries_seen").result_rows[0][0] == seen
    finally:
        store.close()


ACCEPTED_FROM_LEDGER = """SELECT uniqExact(source_event_id) FROM ledger_entries FINAL
                          WHERE source_event_type IN ('timesheet.submitted', 'timesheet.corrected',
                                                      'timesheet.retracted', 'siae.invoice')"""


def _accepted(store: Store) -> tuple[int, int]:
    """(what intake_accounting counts as accepted, the same read from the ledger's distinct sources)."""
    reference = store.query("""SELECT (SELECT count() FROM programme_definitions FINAL)
        + (SELECT count() FROM contract_registrations FINAL) + (SELECT count() FROM beneficiary_enrolments FINAL)
        + (SELECT count() FROM pooling_agreements FINAL) + (SELECT count() FROM beneficiary_outcomes FINAL)
        + (SELECT uniqExact(event_id) FROM claim_resolutions)""").result_rows[0][0]
    shown = store.query("SELECT accepted FROM intake_accounting").result_rows[0][0]
    return shown - reference, store.query(ACCEPTED_FROM_LEDGER).result_rows[0][0]


def test_a_store_made_before_the_first_entry_mark_is_upgraded_and_counts_each_event_once(chdb_path, shown):
    """A store of before 2026-12-05 holds entries without opens_source (its table had no such
    column: the loader skipped the field). Applying this version adds the column (NULL there), gives
    entries_new the event's id, type and mark through a view of a new name, and adds accepted_events
    and unmarked_sources (filled with the store's events): the unmarked events are counted by their
    ids, the marked ones by the mark, each once whatever copies are written and whichever copy the
    ledger's merges keep, and every panel shows what it showed."""
    store = _store_of_then(chdb_path, "mark", data.before_the_first_entry_mark)
    try:
        before = store.query(ACCEPTED_FROM_LEDGER).result_rows[0][0]  # (its view of then read the same)
        store.apply_schema()
        data.load_model_inputs(store)
        views = {r[0] for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                           "AND engine = 'MaterializedView'").result_rows}
        assert "entries_new_mv" not in views and {"entries_new_from_ledger_mv", "accepted_events_from_new_mv",
                                                  "unmarked_sources_from_new_mv"} <= views
        assert store.query("SELECT countIf(opens_source IS NULL), count() FROM ledger_entries").result_rows[0][0] > 0
        assert _accepted(store) == (before, before)
        results = panel_results(store)
        for title in set(shown) - WRITE_TIME_PANELS:
            assert results[title] == shown[title], title
        # Entries of an upgraded worker: marked, and sent twice (a re-send after a crash), the
        # second time with an old entry's copy; then an event of three entries across two batches.
        marked = [dict(e, entry_id=data._uuid(f"entry:new-{n}"), source_event_id=data._uuid(f"event:new-{n}"),
                       opens_source=True) for n, e in enumerate(data.entries()[:6])]
        store.insert_json_rows("ledger_entries", data._rows(marked), token="marked-1")
        store.insert_json_rows("ledger_entries", data._rows(marked[2:] + data.entries()[-2:]), token="marked-2")
        three = [dict(e, entry_id=data._uuid(f"entry:three-{n}"), source_event_id=data._uuid("event:three"),
                      opens_source=n == 0) for n, e in enumerate(data.entries()[6:9])]
        store.insert_json_rows("ledger_entries", data._rows(three[:1]), token="three-1")
        store.insert_json_rows("ledger_entries", data._rows(three[1:]), token="three-2")
        # An old worker's entries of an event, then an upgraded worker's re-send of the same entries
        # after a crash, marked; the ledger's merge then keeps the marked copies.
        old = [dict(e, entry_id=data._uuid(f"entry:resent-{n}"), source_event_id=data._uuid("event:resent"))
               for n, e in enumerate(data.entries()[9:11])]
        for e in old:
            e.pop("opens_source", None)
        store.insert_json_rows("ledger_entries", data._rows(old), token="old-worker")
        store.insert_json_rows("ledger_entries", data._rows([dict(e, opens_source=n == 0) for n, e in enumerate(old)]),
                               token="upgraded-worker")
        assert _accepted(store) == (before + 8, before + 8)
        store.client.command("SYSTEM START MERGES ledger_entries")
        store.client.command("OPTIMIZE TABLE ledger_entries FINAL")
        kept = store.query(f"SELECT groupArray(opens_source) FROM ledger_entries "
                           f"WHERE source_event_id = '{data._uuid('event:resent')}'").result_rows[0][0]
        assert sorted(kept, key=str) == [False, True]  # the marked copies, counted by nothing but their first copy
        assert _accepted(store) == (before + 8, before + 8)
        assert store.rows("analytics_check") == []
    finally:
        store.close()


def test_a_multi_block_insert_is_repaired(chdb_path, shown):
    """The model is exact for one block per INSERT (the loader's writes). A bulk INSERT cut into
    blocks can leave differences (ClickHouse reuses an MV's subquery sets across the blocks of
    one INSERT): analytics_check.sql lists them and analytics_repair.sql removes them."""
    store = _store(chdb_path, "repair")
    try:
        data.load(store)
        data.replay_batches(store)
        # A replay of the whole ledger, and new copies, in 10-row blocks inside single INSERTs.
        store.client.command("INSERT INTO ledger_entries SELECT * FROM ledger_entries FINAL ORDER BY work_date "
                             "SETTINGS max_block_size = 10, min_insert_block_size_rows = 10, "
                             "max_insert_block_size = 10, max_insert_threads = 1")
        broken = len(store.rows("analytics_check"))
        repair = split_statements((QUERIES_DIR / "analytics_repair.sql").read_text())
        for statement in repair:
            store.client.command(statement)
        assert store.rows("analytics_check") == [], f"{broken} differences before the repair, some left after"
        results = panel_results(store)
        for title in set(shown) - WRITE_TIME_PANELS:
            assert results[title] == shown[title], title
        # Idempotent: a second run writes nothing.
        rows = store.query("SELECT count() FROM hours_by_contract_day").result_rows[0][0]
        for statement in repair:
            store.client.command(statement)
        assert store.query("SELECT count() FROM hours_by_contract_day").result_rows[0][0] == rows
    finally:
        store.close()


def test_the_python_status_rule_agrees_with_contract_trajectory(chdb_path):
    """ledger.trajectory (the synthetic programme's ground truth for statuses) gives the view's expected
    hours to the cent and its status, on the edge cases and on 300 drawn contracts."""
    import random

    from ledger.trajectory import contract_status, expected_to_date

    as_of = D("2025-06-30")
    cases = [
        # contract, start, end, target, hours done
        ("exactly-expected", "2025-01-01", "2025-12-31", "3640", "1800"),       # 3,640 x 180/364 = 1,800
        ("exactly-80pct", "2025-01-01", "2025-12-31", "3640", "1440"),          # 80% of 1,800: behind
        ("just-under-80pct", "2025-01-01", "2025-12-31", "3640", "1439.99"),    # at risk
        ("a-cent-short", "2025-01-01", "2025-12-31", "3640", "1799.99"),        # behind
        ("starts-on-as-of", "2025-06-30", "2026-06-30", "1000", "0"),           # expected 0: on track
        ("starts-after-as-of", "2025-07-01", "2026-06-30", "1000", "0"),        # not started
        ("ends-on-as-of", "2024-07-01", "2025-06-30", "20528.60", "20528.59"),  # a cent short of the whole target
        ("ended", "2024-07-01", "2025-03-31", "200", "199.99"),                 # expected = target: behind
        ("above-80pct-of-a-fraction", "2024-07-01", "2025-09-01", "200", "136.40"),  # 200 x 364/427 = 170.49
        ("below-80pct-of-a-fraction", "2024-07-01", "2025-09-01", "200", "136.39"),  # 80% is 136.392
    ]
    rng = random.Random(13)
    for n in range(300):
        start = as_of + dt.timedelta(days=rng.randrange(-2000, 30))
        end = start + dt.timedelta(days=rng.randrange(1, 4000))
        target = Decimal(rng.randrange(1, 50_000_000)) / 100
        done = (target * Decimal(rng.uniform(0, 1.2))).quantize(Decimal("0.01")) if start <= as_of else Decimal(0)
        cases.append((f"drawn-{n}", start.isoformat(), end.isoformat(), str(target), str(done)))
    registrations, entries = [], []
    for n, (contract_id, start, end, target, done) in enumerate(cases):
        registrations.append({"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"status:{contract_id}")),
                              "contract_id": contract_id, "programme_id": "gpe", "operation_id": "L15S", "lot": "GC-01",
                              "contractor_siret": data.S1, "start_date": start, "end_date": end,
                              "target_hours": float(target), "version": n + 1})
        if Decimal(done):
            entries.append({
                "entry_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"status-entry:{contract_id}")), "kind": "credit",
                "status": "counted", "reason": "", "source_event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, contract_id)),
                "source_event_type": "timesheet.submitted", "reverses_entry_id": None, "programme_id": "gpe",
                "operation_id": "L15S", "contract_id": contract_id, "lot": "GC-01", "contractor_siret": data.S1,
                "beneficiary_id": "b-00112233445566", "siae_siret": None, "mode": "direct_hire",
                "work_date": min(as_of, D(end)).isoformat(), "hours": float(done), "rule": "clause-2021",
                "rulebook_version": "test-1", "submitted_at": "2025-06-30 18:00:00.000",
                "loaded_at": "2025-07-01 06:00:00.000"})
    store = _store(chdb_path, "status_rule")
    try:
        store.insert_json_rows("contract_registrations", data._rows(registrations))
        store.insert_json_rows("ledger_entries", data._rows(entries))
        store.insert_json_rows("ledger_settings", data._rows([{"as_of": as_of.isoformat()}]))
        view = {r["contract_id"]: r for r in store.rows("analytics_contracts")}
        assert len(view) == len(cases)
        for contract_id, start, end, target, done in cases:
            row = view[contract_id]
            assert (row["target_hours"], row["hours_done"]) == (Decimal(target), Decimal(done)), contract_id
            python = (expected_to_date(Decimal(target), D(start), D(end), as_of),
                      contract_status(D(start), D(end), Decimal(target), Decimal(done), as_of))
            assert (row["expected_to_date"], row["status"]) == python, (contract_id, start, end, target, done)
        statuses = {c: view[c]["status"] for c, *_ in cases[:10]}
        assert statuses == {"exactly-expected": "on_track", "exactly-80pct": "behind", "just-under-80pct": "at_risk",
                            "a-cent-short": "behind", "starts-on-as-of": "on_track",
                            "starts-after-as-of": "not_started", "ends-on-as-of": "behind", "ended": "behind",
                            "above-80pct-of-a-fraction": "behind", "below-80pct-of-a-fraction": "at_risk"}
        assert view["ends-on-as-of"]["expected_to_date"] == Decimal("20528.60")  # exact (Float64 gave 20528.59)
        assert view["below-80pct-of-a-fraction"]["expected_to_date"] == Decimal("170.49")
    finally:
        store.close()


@pytest.mark.parametrize("alias", ["p", "a"])
def test_a_database_named_like_a_views_alias_is_refused_with_a_reason(chdb_path, alias):
    """The views' tables are stored qualified by the database (`p.programmes AS p`): a database
    named like one of their aliases makes the engine fail on an identifier it does not explain.
    The store says which setting to change instead."""
    store = Store(f"chdb://{chdb_path}", database=alias)
    try:
        with pytest.raises(ValueError, match=rf"'{alias}' \(LEDGER_CLICKHOUSE_DATABASE\) is also a table alias"):
            store.apply_schema()
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS `{alias}`")
        store.close()
