"""`ledger report --xlsx FILE [--programme ID] [--from DATE] [--to DATE]`: the buyer's annual workbook.

One sheet per table, each a plain table (a header row, frozen, with filters; numbers stored as
numbers with number formats, dates as dates). Every figure comes from the store, read with
readonly=1 through the queries deploy/clickhouse/queries/workbook_*.sql:

- "to date" figures (target, done, %, expected, gap, status, 90-day rate, forecast) are the views
  the HTML report and the dashboards read (programme_trajectory, operation_progress,
  contract_trajectory, company_progress), as of the store's reference date (`ledger_as_of`);
- "in period" figures count the entries whose work date is in [--from, --to] (default: from
  2000-01-01, the first day the event contract accepts, to the reference date);
- people (profile, outcomes) are those with net counted hours > 0 in the period; every group of
  fewer than 5 people is shown as "<5", never its count, and when the hidden groups of a breakdown
  add up to 1-4 people the smallest shown group is hidden too (shown as "hidden"), so that no
  hidden count can be found by difference from the total (the rule of the views
  beneficiary_profile and outcomes_summary).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from streams.audit.tools import read_only_query
from streams.store import Store, query_text

SMALL_GROUP = 5
UNDER_FIVE = "<5"          # a group of 1-4 people
HIDDEN = "hidden"          # a group of 5 or more hidden so that the small ones cannot be recovered
PERIOD_START = dt.date(2000, 1, 1)  # the earliest work date the event contract accepts (docs/security.md)

FORMATS = {"hours": "#,##0.00", "pct": '0.00" %"', "int": "#,##0", "rate": "#,##0.00", "date": "yyyy-mm-dd"}

# Sheet: (title, query, columns); a column is (field, header, kind).
STATUS_COLUMNS = [
    ("target_hours", "Target h", "hours"), ("hours_done", "Done to date h", "hours"), ("pct_done", "% done", "pct"),
    ("expected_to_date", "Expected to date h", "hours"), ("gap", "Gap h", "hours"), ("status", "Status", "text"),
]
PERIOD_COLUMNS = [
    ("counted_in_period", "Counted in period h", "hours"), ("flagged_in_period", "Flagged in period h", "hours"),
    ("not_counted_in_period", "Not counted in period h", "hours"),
]
SHEETS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    ("Programme", "workbook_programmes", [
        ("programme_id", "Programme", "text"), ("name", "Name", "text"), ("start_date", "Start", "date"),
        ("end_date", "End", "date"), *STATUS_COLUMNS, ("rate_90d_per_day", "90-day rate h/day", "rate"),
        ("forecast_completion_date", "Forecast completion", "date"), *PERIOD_COLUMNS]),
    ("Operations", "workbook_operations", [
        ("programme_id", "Programme", "text"), ("operation_id", "Operation", "text"),
        ("contracts", "Contracts", "int"), *STATUS_COLUMNS, *PERIOD_COLUMNS]),
    ("Contracts", "workbook_contracts", [
        ("programme_id", "Programme", "text"), ("operation_id", "Operation", "text"),
        ("contract_id", "Contract", "text"), ("lot", "Lot", "text"), ("contractor_siret", "Contractor SIRET", "text"),
        ("contractor_siren", "Company SIREN", "text"), ("start_date", "Start", "date"), ("end_date", "End", "date"),
        *STATUS_COLUMNS, ("rate_90d_per_day", "90-day rate h/day", "rate"),
        ("forecast_completion_date", "Forecast completion", "date"), *PERIOD_COLUMNS]),
    ("Companies", "workbook_companies", [
        ("programme_id", "Programme", "text"), ("contractor_siren", "Company SIREN", "text"),
        ("establishments", "Establishments", "int"), ("contracts", "Contracts", "int"), *STATUS_COLUMNS,
        ("partner_hours", "Via partners to date h", "hours"), ("partner_share_pct", "Via partners %", "pct"),
        *PERIOD_COLUMNS]),
    ("SIAE partners", "workbook_siae_partners", [
        ("programme_id", "Programme", "text"), ("siae_siret", "Partner SIRET", "text"), ("modes", "Modes", "text"),
        ("contracts", "Contracts", "int"), ("contractors", "Contractors", "int"),
        ("counted_hours", "Counted h", "hours"), ("flagged_hours", "Flagged h", "hours"),
        ("not_counted_hours", "Not counted h", "hours"),
        ("share_of_partner_hours_pct", "Share of partner hours %", "pct")]),
    ("Delivery modes", "workbook_modes", [
        ("programme_id", "Programme", "text"), ("mode", "Mode", "text"), ("via_partner", "Via a partner", "bool"),
        ("partner_hours", "Via partners h", "hours"), ("counted_hours", "Counted h", "hours"),
        ("share_pct", "Share of counted hours %", "pct")]),
    ("Beneficiaries", "workbook_people", [
        ("programme_id", "Programme", "text"), ("dimension", "Breakdown", "text"), ("value", "Group", "text"),
        ("people", "People", "int"), ("hours", "Counted h", "hours")]),
    ("Outcomes", "workbook_outcomes", [
        ("programme_id", "Programme", "text"), ("outcome", "Outcome", "text"), ("people", "People", "int"),
        ("pct_of_people", "% of the period's people", "pct")]),
    ("Withheld and flagged", "workbook_withheld", [
        ("programme_id", "Programme", "text"), ("status", "Status", "text"), ("reason", "Reason", "text"),
        ("credits", "Entries", "int"), ("reversals", "Reversals", "int"), ("hours", "Hours", "hours")]),
]


# ---------------------------------------------------------------------------------------------
# Data


def period(store: Store, date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date, dt.date]:
    """(from, to, as_of): the period of work dates, by default from PERIOD_START to the reference date."""
    as_of = read_only_query(store, query_text("workbook_period")).as_dicts()[0]["as_of"]
    start, end = date_from or PERIOD_START, date_to or as_of
    if start > end:
        raise ValueError(f"the period starts ({start}) after it ends ({end})")
    return start, end, as_of


def suppress(rows: list[dict], group_by: tuple[str, ...], name: str, figures: tuple[str, ...],
             total: str | None = None) -> list[dict]:
    """Hide small groups. In each breakdown (rows sharing `group_by`; `name` names a group), a group
    of 1-4 `people` shows UNDER_FIVE instead of its people and `figures`; if the hidden groups (the
    breakdown's own total, the group named `total`, aside) add up to 1-4 people, the smallest shown
    group is hidden too and shows HIDDEN. The raw counts of hidden groups are not returned."""
    out = [dict(r) for r in rows]
    breakdowns: dict[tuple, list[dict]] = {}
    for row in out:
        breakdowns.setdefault(tuple(row[k] for k in group_by), []).append(row)
    for group in breakdowns.values():
        parts = [r for r in group if total is None or r[name] != total]
        marks = {id(r): UNDER_FIVE for r in group if r["people"] < SMALL_GROUP}
        hidden = sum(r["people"] for r in parts if r["people"] < SMALL_GROUP)
        shown = sorted((r for r in parts if r["people"] >= SMALL_GROUP), key=lambda r: (r["people"], str(r[name])))
        if 1 <= hidden < SMALL_GROUP and shown:
            marks[id(shown[0])] = HIDDEN
        for row in group:
            if id(row) in marks:
                row["people"] = marks[id(row)]
                for field in figures:
                    row[field] = marks[id(row)]
    return out


def workbook_data(store: Store, programme: str | None = None, date_from: dt.date | None = None,
                  date_to: dt.date | None = None) -> dict[str, Any]:
    start, end, as_of = period(store, date_from, date_to)
    parameters = {"programme": programme or "", "date_from": start, "date_to": end}
    tables = {}
    for title, query, _ in SHEETS:
        tables[title] = read_only_query(store, query_text(query), parameters).as_dicts()
    tables["Beneficiaries"] = suppress(tables["Beneficiaries"], ("programme_id", "dimension"), "value", ("hours",))
    outcomes = []
    for row in tables["Outcomes"]:
        total = row.pop("total")
        outcomes.append(dict(row, pct_of_people=round(100 * row["people"] / total, 2) if total else None))
    tables["Outcomes"] = suppress(outcomes, ("programme_id",), "outcome", ("pct_of_people",), total="any")
    return {"database": store.database, "programme": programme, "from": start, "to": end, "as_of": as_of,
            "generated_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None),
            "tables": tables}


# ---------------------------------------------------------------------------------------------
# The file


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if kind == "bool":
        return bool(value)
    if isinstance(value, (int, float, dt.date)):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", str(value))


def _put(ws, row: int, column: int, value: Any, kind: str) -> None:
    cell = ws.cell(row=row, column=column, value=_value(value, kind))
    if isinstance(cell.value, str):
        cell.data_type = "s"  # text stays text: a value starting with '=' is not a formula
        if kind != "text":
            cell.alignment = Alignment(horizontal="right")
    elif kind in FORMATS:
        cell.number_format = FORMATS[kind]


# Column widths follow the longest value among the first rows (enough to size a column; a sheet of
# thousands of contracts is not read twice).
WIDTH_SAMPLE_ROWS = 500
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")


def _table(ws, columns: list[tuple[str, str, str]], rows: list[dict]) -> None:
    for c, (_, header, _) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=c, value=header)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows, start=2):
        for c, (field, _, kind) in enumerate(columns, start=1):
            _put(ws, r, c, row.get(field), kind)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(rows), 1) + 1}"
    for c, (field, header, kind) in enumerate(columns, start=1):
        longest = max([len(header) // 2 + 1] + [len(str(row.get(field) or "")) for row in rows[:WIDTH_SAMPLE_ROWS]])
        ws.column_dimensions[get_column_letter(c)].width = min(max(longest + 2, 10 if kind != "text" else 8), 48)


def render_workbook(data: dict[str, Any]) -> Workbook:
    wb = Workbook()
    about = wb.active
    about.title = "About"
    facts = [
        ("Report", "Insertion hours: the buyer's workbook", "text"),
        ("Database", data["database"], "text"),
        ("Programme", data["programme"] or "all", "text"),
        ("Period from (work dates)", data["from"], "date"),
        ("Period to (work dates)", data["to"], "date"),
        ("To date = reference date", data["as_of"], "date"),
        ("Generated at (UTC)", data["generated_at"], "text"),
        ("To date", "Target, done to date, %, expected, gap, status, 90-day rate and forecast are as of the "
                    "reference date (views contract_trajectory and others, as the HTML report).", "text"),
        ("In period", "Counted, flagged and not-counted hours of the entries whose work date is in the period.", "text"),
        ("People", "Beneficiaries with net counted hours > 0 in the period (pseudonymous; no key is shown).", "text"),
        ("Small groups", f"A group of fewer than {SMALL_GROUP} people shows '{UNDER_FIVE}', never its count; when the "
                         f"hidden groups of a breakdown add up to 1-4 people, the smallest other group shows "
                         f"'{HIDDEN}'.", "text"),
    ]
    for r, (label, value, kind) in enumerate(facts, start=1):
        about.cell(row=r, column=1, value=label).font = Font(bold=True)
        _put(about, r, 2, value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value, kind)
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 110
    for title, _, columns in SHEETS:
        _table(wb.create_sheet(title), columns, data["tables"][title])
    return wb


def write_workbook(store: Store, path: Path, programme: str | None = None, date_from: dt.date | None = None,
                   date_to: dt.date | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_workbook(workbook_data(store, programme, date_from, date_to)).save(path)
    return path
