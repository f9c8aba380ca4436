"""A small hand-made ledger for the dashboard tests, and how to read the Grafana dashboards.

Rows are written straight into the store's tables (Store.insert_json_rows, the loader's own
write), in several batches like the loader's, so that the analytical materialized views run as
in production. Every figure the tests expect is computed by hand from the tables below; the
comments carry the arithmetic.

Reference date: AS_OF = 2025-06-30 (pinned in ledger_settings).

Programme gpe: target 2,000 h, 2025-01-01 -> 2025-12-27 (360 days; 180 elapsed at AS_OF).
  contract  operation lot    contractor (SIREN)       period                  target  expected
  gpe-c1    L15S      GC-01  73282932000074 (732829320) 2025-01-01..2025-12-27  400     200 (180/360)
  gpe-c2    L15S      GC-02  73282932000108 (732829320) 2025-03-02..2025-08-29  300     200 (120/180)
  gpe-c3    L16       GC-01  44306184100047 (443061841) 2024-07-01..2025-06-01  200     200 (ended)
  gpe-c4    L16       GC-03  44306184100047 (443061841) 2025-09-01..2026-08-27  500     0 (not started)
Programme anru: target 100 h, same dates; anru-c1 (ANRU-1, L-01), target 100, one entry of 7 h.

People of gpe (net counted hours; mode, partner; birth year, gender, criteria):
  P01 c1 30 = 4 x 7.5 (Jan)        direct_hire           2001 M rsa
  P02 c1 40 = 5 x 8 (Feb)          temp_agency_etti E1   2000 F rsa, youth
  P03 c1 50 = 5 x 7 + 2 x 7.5 (Mar) direct_hire          2003 M youth
  P04 c1 45 = 6 x 7.5 (Apr, in the 90 days)  siae_placement_ai A1  2002 F youth
  P05 c1 45 = 6 x 7.5 (Jun, in the 90 days)  geiq G1     2001 M youth
  P06 c2 35 = 4 x 7 + (7.5 reversed) + 7 (Mar)  direct_hire  1990 F rsa, long_term_job_seeker
  P07 c2 35 = 5 x 7 (Mar)          temp_agency_etti E1   1985 M rsa
  P08 c2 55 = 5 x 8 + 2 x 7.5 (Mar) siae_subcontract SUB  1999 F youth
  P09 c2 45 = 6 x 7.5 (May, in the 90 days)  training    1980 M rqth
  P10 c3 40 = 5 x 8 (Sep 2024; + 7 h not counted in Jan 2025)  direct_hire  1975 F rsa
  P11 c3 30 = 4 x 7.5 (Oct 2024)   temp_agency_etti E2   1974 M rsa
  P12 c3 30 = 4 x 7.5 (Feb 2025)   direct_hire           1960 M rqth
  Not people: P13 (only flagged hours: 8 + 3.5 on c1, May, ETTI E1), P14 (8 h on c2 in April,
  reversed: net 0).
Rejections: 2 duplicate_event (7 + 7.5 h claimed), unknown_contract (8 h), not_eligible (7 h),
invalid_json (unparseable, 0 h), invalid_event (a 30 h timesheet; a contract event, 0 h).
Outcomes: durable_job P01-P06 (P01 twice, two events), transition_job P07-P11, positive_exit P12,
P13 (no counted hours: not a person of the programme) and P05 dated after AS_OF (ignored).

Duplicates (`replay_batches`): some entries written again in the same instant (identical rows,
one of them twice inside one batch) and a later replay of entries and a rejection with a new
loaded_at: no figure may change, except the store's "last write" time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"

AS_OF = dt.date(2025, 6, 30)
# Grafana's time range as the tests render it (wide enough for every row of the dataset).
TIME_FROM = "2024-01-01 00:00:00"
TIME_TO = "2026-12-31 23:59:59"

S1, S2, S3, S4 = "73282932000074", "73282932000108", "44306184100047", "55208131766522"
E1, E2, A1, G1, SUB = "44201188000129", "44201188000210", "81234567800011", "52345678900012", "39876543200013"
REPLAY_LOADED_AT = "2025-06-20 12:00:00.000"


# --- reading the dashboards ----------------------------------------------------------------------

def clickhouse_datasource_uid() -> str:
    """The uid of the provisioned ClickHouse datasource (deploy/grafana/provisioning/datasources)."""
    for path in sorted((GRAFANA_DIR / "provisioning" / "datasources").glob("*.y*ml")):
        for ds in yaml.safe_load(path.read_text()).get("datasources", []):
            if ds.get("type") == CLICKHOUSE_PLUGIN:
                return ds["uid"]
    raise LookupError("no ClickHouse datasource is provisioned")


def load_dashboards() -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text())) for p in sorted(DASHBOARDS_DIR.glob("*.json"))]


def panels(dashboard: dict) -> list[dict]:
    """Every panel, those nested in collapsed rows included; rows themselves excluded."""
    found = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def _datasource_type(panel: dict, target: dict) -> str:
    return (target.get("datasource") or panel.get("datasource") or {}).get("type", "")


def clickhouse_targets(dashboard: dict) -> list[tuple[dict, dict]]:
    return [(panel, target) for panel in panels(dashboard) for target in panel.get("targets", [])
            if _datasource_type(panel, target) == CLICKHOUSE_PLUGIN]


def prometheus_targets(dashboard: dict) -> list[tuple[dict, dict]]:
    return [(panel, target) for panel in panels(dashboard) for target in panel.get("targets", [])
            if _datasource_type(panel, target) == "prometheus"]


def render_sql(sql: str, programme: str = "gpe", time_from: str = TIME_FROM, time_to: str = TIME_TO) -> str:
    """The SQL Grafana would send: variables and the ClickHouse plugin's macros substituted."""
    def time_filter(match: re.Match) -> str:
        column = match.group(1).strip()
        return (f"({column} >= toDateTime('{time_from}', 'UTC') AND {column} <= toDateTime('{time_to}', 'UTC'))")

    def date_filter(match: re.Match) -> str:
        column = match.group(1).strip()
        return f"({column} >= toDate('{time_from[:10]}') AND {column} <= toDate('{time_to[:10]}'))"

    sql = re.sub(r"\$__timeFilter\(([^()]*)\)", time_filter, sql)
    sql = re.sub(r"\$__dateFilter\(([^()]*)\)", date_filter, sql)
    sql = sql.replace("$__fromTime", f"toDateTime('{time_from}', 'UTC')")
    sql = sql.replace("$__toTime", f"toDateTime('{time_to}', 'UTC')")
    sql = sql.replace("${programme}", programme).replace("$programme", programme)
    leftover = re.findall(r"\$\{?\w+", sql)
    if leftover:
        raise ValueError(f"unrendered Grafana variables or macros: {leftover}")
    return sql


# --- the dataset ---------------------------------------------------------------------------------

def _uuid(label: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"analytics-test:{label}"))


CONTRACTS = [
    # contract_id, programme, operation, lot, contractor, start, end, target
    ("gpe-c1", "gpe", "L15S", "GC-01", S1, "2025-01-01", "2025-12-27", 400),
    ("gpe-c2", "gpe", "L15S", "GC-02", S2, "2025-03-02", "2025-08-29", 300),
    ("gpe-c3", "gpe", "L16", "GC-01", S3, "2024-07-01", "2025-06-01", 200),
    ("gpe-c4", "gpe", "L16", "GC-03", S3, "2025-09-01", "2026-08-27", 500),
    ("anru-c1", "anru", "ANRU-1", "L-01", S4, "2025-01-01", "2025-12-27", 100),
]
CONTRACT = {c[0]: c for c in CONTRACTS}

BENEFICIARIES = {
    # key: birth year, gender, criteria
    "P01": (2001, "M", ["rsa"]),
    "P02": (2000, "F", ["rsa", "youth_no_qualification"]),
    "P03": (2003, "M", ["youth_no_qualification"]),
    "P04": (2002, "F", ["youth_no_qualification"]),
    "P05": (2001, "M", ["youth_no_qualification"]),
    "P06": (1990, "F", ["long_term_job_seeker", "rsa"]),
    "P07": (1985, "M", ["rsa"]),
    "P08": (1999, "F", ["youth_no_qualification"]),
    "P09": (1980, "M", ["rqth"]),
    "P10": (1975, "F", ["rsa"]),
    "P11": (1974, "M", ["rsa"]),
    "P12": (1960, "M", ["rqth"]),
    "P13": (1995, "F", ["rsa"]),
    "P14": (2004, "F", ["rsa"]),
    "A01": (1988, "M", ["ass"]),
}


def _days(first: str, count: int) -> list[str]:
    """`count` working days (Mon-Fri) from `first`."""
    day, out = dt.date.fromisoformat(first), []
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day.isoformat())
        day += dt.timedelta(days=1)
    return out


def _entry(label: str, contract_id: str, person: str, work_date: str, hours: float, mode: str = "direct_hire",
           partner: str | None = None, status: str = "counted", reason: str = "", kind: str = "credit",
           reverses: str | None = None) -> dict:
    _, programme, operation, lot, contractor, *_ = CONTRACT[contract_id]
    submitted = dt.datetime.fromisoformat(work_date).replace(hour=18)
    loaded = submitted + dt.timedelta(hours=12)  # the next morning, 06:00: a lag of 43,200 s
    return {
        "entry_id": _uuid(f"entry:{label}"), "kind": kind, "status": status, "reason": reason,
        "source_event_id": _uuid(f"event:{label}"), "source_event_type": "timesheet.submitted",
        "reverses_entry_id": _uuid(f"entry:{reverses}") if reverses else None,
        "programme_id": programme, "operation_id": operation, "contract_id": contract_id, "lot": lot,
        "contractor_siret": contractor, "beneficiary_id": f"b-{person}", "siae_siret": partner, "mode": mode,
        "work_date": work_date, "hours": hours, "rule": "clause-2021", "rulebook_version": "test-1",
        "submitted_at": submitted.strftime("%Y-%m-%d %H:%M:%S.000"),
        "loaded_at": loaded.strftime("%Y-%m-%d %H:%M:%S.000"),
    }


# Entries of workers older than the first-entry mark (opens_source: 2026-12-05) carry none: the
# people below have theirs unmarked, the others marked, as in a store that lived through the
# upgrade (intake_accounting counts the first kind by their distinct source ids, the second by the mark).
UNMARKED = frozenset({"P10", "P11", "P12", "P13", "P14", "A01"})


def _series(person: str, contract_id: str, first: str, count: int, hours: float, **kw) -> list[dict]:
    return [_entry(f"{person}-{day}", contract_id, person, day, hours, **kw) for day in _days(first, count)]


def entries() -> list[dict]:
    rows: list[dict] = []
    rows += _series("P01", "gpe-c1", "2025-01-06", 4, 7.5)
    rows += _series("P02", "gpe-c1", "2025-02-03", 5, 8, mode="temp_agency_etti", partner=E1)
    rows += _series("P03", "gpe-c1", "2025-03-03", 5, 7)
    rows += _series("P03", "gpe-c1", "2025-03-10", 2, 7.5)
    rows += _series("P04", "gpe-c1", "2025-04-07", 6, 7.5, mode="siae_placement_ai", partner=A1)
    rows += _series("P05", "gpe-c1", "2025-06-02", 6, 7.5, mode="geiq", partner=G1)
    rows += _series("P06", "gpe-c2", "2025-03-03", 4, 7)
    # P06, 2025-03-07: 7.5 h claimed, then corrected to 7 h (a reversal and a new credit).
    rows.append(_entry("P06-wrong", "gpe-c2", "P06", "2025-03-07", 7.5))
    rows.append(_entry("P06-wrong-reversal", "gpe-c2", "P06", "2025-03-07", -7.5, kind="reversal",
                       reverses="P06-wrong"))
    rows.append(_entry("P06-right", "gpe-c2", "P06", "2025-03-07", 7))
    rows += _series("P07", "gpe-c2", "2025-03-10", 5, 7, mode="temp_agency_etti", partner=E1)
    rows += _series("P08", "gpe-c2", "2025-03-17", 5, 8, mode="siae_subcontract", partner=SUB)
    rows += _series("P08", "gpe-c2", "2025-03-24", 2, 7.5, mode="siae_subcontract", partner=SUB)
    rows += _series("P09", "gpe-c2", "2025-05-12", 6, 7.5, mode="training")
    rows += _series("P10", "gpe-c3", "2024-09-02", 5, 8)
    rows.append(_entry("P10-late", "gpe-c3", "P10", "2025-01-13", 7, status="not_counted",
                       reason="outside_eligibility_window"))
    rows += _series("P11", "gpe-c3", "2024-10-07", 4, 7.5, mode="temp_agency_etti", partner=E2)
    rows += _series("P12", "gpe-c3", "2025-02-10", 4, 7.5)
    rows.append(_entry("P13-a", "gpe-c1", "P13", "2025-05-05", 8, mode="temp_agency_etti", partner=E1,
                       status="flagged", reason="same_person_same_day_other_contractor"))
    rows.append(_entry("P13-b", "gpe-c1", "P13", "2025-05-06", 3.5, mode="temp_agency_etti", partner=E1,
                       status="flagged", reason="same_person_same_day_other_contractor"))
    rows.append(_entry("P14", "gpe-c2", "P14", "2025-04-22", 8))
    rows.append(_entry("P14-reversal", "gpe-c2", "P14", "2025-04-22", -8, kind="reversal", reverses="P14"))
    rows.append(_entry("A01", "anru-c1", "A01", "2025-03-03", 7))
    for row in rows:  # each entry here is its own event's only one
        if row["beneficiary_id"][2:] not in UNMARKED:
            row["opens_source"] = True
    return rows


def _rejection(label: str, reason: str, payload: str, event_type: str | None, loaded_at: str, offset: int) -> dict:
    return {"rejection_id": _uuid(f"rejection:{label}"), "reason": reason, "detail": reason,
            "event_id": _uuid(f"rejected-event:{label}"), "event_type": event_type, "source_topic": "insertion.intake",
            "source_partition": 0, "source_offset": offset, "source_index": 0, "payload": payload,
            "payload_truncated": False, "loaded_at": loaded_at}


def _timesheet(contract_id: str, work_date: str, hours: float) -> str:
    return json.dumps({"type": "timesheet.submitted", "contract_id": contract_id, "beneficiary_id": "b-P01",
                       "work_date": work_date, "hours": hours, "mode": "direct_hire"})


def rejections() -> list[dict]:
    return [
        _rejection("dup-1", "duplicate_event", _timesheet("gpe-c1", "2025-03-03", 7), "timesheet.submitted",
                   "2025-03-04 06:00:00.000", 1),
        _rejection("dup-2", "duplicate_event", _timesheet("gpe-c1", "2025-04-07", 7.5), "timesheet.submitted",
                   "2025-04-08 06:00:00.000", 2),
        _rejection("unknown", "unknown_contract", _timesheet("gpe-c999", "2025-02-03", 8), "timesheet.submitted",
                   "2025-02-04 06:00:00.000", 3),
        _rejection("ineligible", "not_eligible_on_work_date", _timesheet("gpe-c1", "2025-05-20", 7),
                   "timesheet.submitted", "2025-05-21 06:00:00.000", 4),
        _rejection("garbled", "invalid_json", '{"type": "timesheet.submitted", "hours": 7', None,
                   "2025-05-22 06:00:00.000", 5),
        _rejection("too-long", "invalid_event", _timesheet("gpe-c1", "2025-02-03", 30), "timesheet.submitted",
                   "2025-02-04 06:00:00.000", 6),
        _rejection("bad-contract", "invalid_event", json.dumps({"type": "contract.registered", "contract_id": "x"}),
                   "contract.registered", "2025-06-12 09:30:00.000", 7),
    ]


def outcomes() -> list[dict]:
    rows = [("P01", "durable_job", "2025-04-01", "o-P01"), ("P01", "durable_job", "2025-05-01", "o-P01-again")]
    rows += [(p, "durable_job", "2025-05-15", f"o-{p}") for p in ("P02", "P03", "P04", "P05", "P06")]
    rows += [(p, "transition_job", "2025-06-01", f"o-{p}") for p in ("P07", "P08", "P09", "P10", "P11")]
    rows += [("P12", "positive_exit", "2025-06-10", "o-P12"), ("P13", "positive_exit", "2025-06-10", "o-P13"),
             ("P05", "positive_exit", "2025-07-15", "o-P05-later")]
    return [{"beneficiary_id": f"b-{p}", "outcome": o, "outcome_date": d, "event_id": _uuid(label), "version": n}
            for n, (p, o, d, label) in enumerate(rows, start=1)]


def reference() -> dict[str, list[dict]]:
    programmes = [
        {"event_id": _uuid("programme:gpe"), "programme_id": "gpe", "name": "Grand Paris Express (test)",
         "target_hours": 2000, "start_date": "2025-01-01", "end_date": "2025-12-27", "version": 1},
        {"event_id": _uuid("programme:anru"), "programme_id": "anru", "name": "ANRU (test)",
         "target_hours": 100, "start_date": "2025-01-01", "end_date": "2025-12-27", "version": 2},
    ]
    contracts = [{"event_id": _uuid(f"contract:{c}"), "contract_id": c, "programme_id": p, "operation_id": o,
                  "lot": lot, "contractor_siret": siret, "start_date": s, "end_date": e, "target_hours": t,
                  "version": 10 + n}
                 for n, (c, p, o, lot, siret, s, e, t) in enumerate(CONTRACTS)]
    people = [{"event_id": _uuid(f"beneficiary:{k}"), "beneficiary_id": f"b-{k}", "facilitator_id": "fac-01",
               "criteria": criteria, "eligible_from": "2024-01-01", "eligible_until": "2026-12-31",
               "birth_year": year, "gender": gender, "version": 100 + n}
              for n, (k, (year, gender, criteria)) in enumerate(BENEFICIARIES.items())]
    return {"programme_definitions": programmes, "contract_registrations": contracts,
            "beneficiary_enrolments": people}


def _rows(rows: list[dict]) -> bytes:
    return b"\n".join(json.dumps(r, separators=(",", ":")).encode() for r in rows)


def load(store) -> None:
    """The dataset, in loader-like batches: reference, entries in three batches, rejections,
    outcomes; AS_OF pinned."""
    load_ledger(store)
    load_model_inputs(store)


def load_ledger(store) -> None:
    """What the loader writes (tables of 001-002): reference, entries in three batches, rejections."""
    for table, rows in reference().items():
        store.insert_json_rows(table, _rows(rows))
    rows = entries()
    for first in range(0, len(rows), 30):
        store.insert_json_rows("ledger_entries", _rows(rows[first:first + 30]))
    store.insert_json_rows("rejections", _rows(rejections()))


def load_model_inputs(store) -> None:
    """The tables of 004: outcomes, and the reference date."""
    store.insert_json_rows("beneficiary_outcomes", _rows(outcomes()))
    store.insert_json_rows("ledger_settings", _rows([{"as_of": AS_OF.isoformat()}]))


def replay_batches(store, outcomes_too: bool = True, ledger_table: str = "ledger_entries") -> None:
    """Duplicates, as the loader can write them: the same rows again in the same instant (one of
    them twice inside one batch, plus a whole batch again), then a later replay (new loaded_at)
    of entries and of a rejection; and outcome events delivered twice. `ledger_table`: the
    MergeTree table that holds the entries (ledger_entries_local under a cluster's Distributed)."""
    rows = entries()
    # Kept unmerged, so that the ledger visibly holds the copies. Each write under a token of its
    # own, as copies arrive (a worker's re-send, a batch that could not be rebuilt identically):
    # without one, the engine would skip a block identical to an earlier one by its hash.
    store.client.command(f"SYSTEM STOP MERGES {ledger_table}")
    same = [rows[0], rows[0], rows[5], rows[20], rows[-3]]
    store.insert_json_rows("ledger_entries", _rows(same), token="replay-1")
    store.insert_json_rows("ledger_entries", _rows(rows[30:60]), token="replay-2")
    later = [dict(r, loaded_at=REPLAY_LOADED_AT) for r in rows[10:40] + [rows[-1]]]
    store.insert_json_rows("ledger_entries", _rows(later), token="replay-3")
    store.insert_json_rows("rejections", _rows([dict(rejections()[2], loaded_at=REPLAY_LOADED_AT)]), token="replay-4")
    store.insert_json_rows("rejections", _rows(rejections()[:1]), token="replay-5")
    if outcomes_too:
        store.insert_json_rows("beneficiary_outcomes", _rows(outcomes()[:3]))


AGGREGATES_OF_NEW_ENTRIES = ("hours_by_contract_day", "hours_by_contract_month", "hours_by_beneficiary_contract",
                             "people_contract_hours", "hours_by_programme_day")


def before_the_first_entry_mark(store) -> None:
    """Turn a store of this version into one of before 2026-12-05: no opens_source on the ledger,
    entries_new without the event type and the mark, fed by entries_new_mv, no accepted_events."""
    from streams.store import SCHEMA_DIR, split_statements

    new_view = next(s for s in split_statements((SCHEMA_DIR / "004_analytics.sql").read_text())
                    if s.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS entries_new_from_ledger_mv "))
    old_view = (new_view.replace("entries_new_from_ledger_mv", "entries_new_mv")
                .replace(", source_event_id,\n       source_event_type, opens_source", ""))
    assert "opens_source" not in old_view and "source_event_type" not in old_view, old_view
    store.client.command("ALTER TABLE analytics_backfills DELETE WHERE name IN ('accepted_events', 'unmarked_sources') "
                         "SETTINGS mutations_sync = 2")
    for statement in ("DROP VIEW accepted_events_from_new_mv", "DROP TABLE accepted_events",
                      "DROP VIEW unmarked_sources_from_new_mv", "DROP TABLE unmarked_sources",
                      "DROP VIEW entries_new_from_ledger_mv",
                      "ALTER TABLE entries_new DROP COLUMN source_event_id, DROP COLUMN source_event_type, "
                      "DROP COLUMN opens_source",
                      "ALTER TABLE ledger_entries DROP COLUMN opens_source", old_view):
        store.client.command(statement)


def wide_dedup_stage(store) -> None:
    """Turn a store of this version into one of 2026-11-27 to 2026-12-04: one wide table,
    entries_seen, held the keys and every column, and the aggregates' MVs read it. Its statements
    are this version's own with the names of then (the same SELECTs)."""
    from streams.store import SCHEMA_DIR, split_statements

    schema = (SCHEMA_DIR / "004_analytics.sql").read_text()
    statements = {s.split(" AS", 1)[0].split()[-3] if "MATERIALIZED VIEW" in s else s.split()[5]: s
                  for s in split_statements(schema) if s.startswith("CREATE")}
    for view in ["entries_new_from_ledger_mv", "entry_keys_mv"] + [f"{t}_from_new_mv" for t in AGGREGATES_OF_NEW_ENTRIES]:
        store.client.command(f"DROP VIEW {view}")
    # What this version added: the keys of the dedup stage, the operation-day aggregate.
    store.client.command("DROP VIEW hours_by_operation_day_from_new_mv")
    for view in ("accepted_events_from_new_mv", "unmarked_sources_from_new_mv"):  # and the first-entry mark's
        store.client.command(f"DROP VIEW {view}")
    for table in ("entry_keys", "hours_by_operation_day", "accepted_events", "unmarked_sources"):
        store.client.command(f"DROP TABLE {table}")
        store.client.command(f"ALTER TABLE analytics_backfills DELETE WHERE name = '{table}' SETTINGS mutations_sync = 2")
    store.client.command(statements["entries_new"].replace("entries_new", "entries_seen").replace(
        "ENGINE = Null", "ENGINE = ReplacingMergeTree ORDER BY (work_date, contract_id, entry_id)"))
    store.client.command(statements["entries_new_from_ledger_mv"]
                         .replace("entries_new_from_ledger_mv TO entries_new", "entries_seen_mv TO entries_seen")
                         .replace("FROM entry_keys", "FROM entries_seen"))
    for table in AGGREGATES_OF_NEW_ENTRIES:
        store.client.command(statements[f"{table}_from_new_mv"].replace(f"{table}_from_new_mv", f"{table}_sum_mv")
                             .replace("FROM entries_new", "FROM entries_seen"))
