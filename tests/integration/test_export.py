"""The buyer's workbook (`ledger report --xlsx`) and the open data package (`ledger export
--open-data`), on the real ClickHouse engine (chDB) filled with a seeded ledger (export_data.py).

Every expected figure is computed here, in Python, from the raw rows of the ledger's tables read
from ClickHouse (entries with FINAL, the latest registration of each contract...), not through
the queries or views the commands use; the files are read back (openpyxl, frictionless, csv).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import uuid
from collections import defaultdict
from decimal import Decimal

import openpyxl
import pytest

from streams.store import Store
from tests.integration import export_data
from tests.integration.conftest import ledger_in_process

pytestmark = pytest.mark.integration

AS_OF = export_data.AS_OF
D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def store(chdb_path):
    store = Store(f"chdb://{chdb_path}", database=f"export_{uuid.uuid4().hex[:10]}")
    store.apply_schema()
    export_data.load(store)
    yield store
    store.close()


def run_cli(store, monkeypatch, *args: str) -> tuple[int, str]:
    env = {"LEDGER_CLICKHOUSE_DSN": store.dsn, "LEDGER_CLICKHOUSE_DATABASE": store.database}
    code, out, _ = ledger_in_process(env, monkeypatch, *args)
    return code, out


# --- the ledger, read raw ------------------------------------------------------------------------

class Ledger:
    def __init__(self, store: Store):
        def rows(sql: str) -> list[dict]:
            result = store.query(sql)
            return [dict(zip(result.column_names, r)) for r in result.result_rows]

        self.entries = rows("SELECT * FROM ledger_entries FINAL")
        self.contracts = {r["contract_id"]: r for r in rows(
            "SELECT * FROM contract_registrations FINAL ORDER BY version DESC LIMIT 1 BY contract_id")}
        self.programmes = {r["programme_id"]: r for r in rows(
            "SELECT * FROM programme_definitions FINAL ORDER BY version DESC LIMIT 1 BY programme_id")}
        self.people = {r["beneficiary_id"]: r for r in rows(
            "SELECT * FROM beneficiary_enrolments FINAL ORDER BY version DESC LIMIT 1 BY beneficiary_id")}
        self.outcomes = rows("SELECT * FROM beneficiary_outcomes FINAL")
        assert len(self.entries) > 300 and len(self.people) >= 50

    def hours(self, *, status="counted", until=AS_OF, since=dt.date(2000, 1, 1), **match) -> Decimal:
        return sum((e["hours"] for e in self.entries if e["status"] == status and since <= e["work_date"] <= until
                    and all(key(e, k) == v for k, v in match.items())), Decimal(0))


def key(entry: dict, name: str):
    if name == "siren":
        return entry["contractor_siret"][:9]
    if name == "month":
        return entry["work_date"].strftime("%Y-%m")
    return entry[name]


@pytest.fixture(scope="module")
def ledger(store) -> Ledger:
    return Ledger(store)


def trajectory(start: dt.date, end: dt.date, target: Decimal, done: Decimal, h90: Decimal, first_start=None) -> dict:
    """deploy/clickhouse/schema/005_analytics_views.sql's definitions, as of AS_OF."""
    fraction = 1.0 if AS_OF >= end else 0.0 if AS_OF <= start else (AS_OF - start).days / (end - start).days
    expected = Decimal(str(round(float(target) * fraction, 2)))
    status = ("not_started" if (first_start or start) > AS_OF else "on_track" if done >= expected
              else "behind" if done * 10 >= expected * 8 else "at_risk")
    forecast = AS_OF if done >= target else \
        AS_OF + dt.timedelta(days=math.ceil((target - done) * 90 / h90)) if h90 > 0 else None
    return {"target_hours": target, "hours_done": done, "expected_to_date": expected, "gap": done - expected,
            "pct_done": round(100 * float(done) / float(target), 2) if target else None, "status": status,
            "rate_90d_per_day": round(float(h90) / 90, 2), "forecast_completion_date": forecast}


def close(got, want, field: str) -> bool:
    if want is None:
        return got is None
    if isinstance(want, str) or isinstance(want, bool):
        return got == want
    if isinstance(want, dt.date):
        return (got.date() if isinstance(got, dt.datetime) else got) == want
    # Numbers: stored as numbers. Hours to the cent; figures rounded to 2 decimals from a ratio
    # (expected hours, percentages, rates) may differ by one in the last place (binary floats).
    rounded = field in ("expected_to_date", "gap") or "pct" in field or "rate" in field
    tolerance = 0.0101 if rounded else 0.005
    return isinstance(got, (int, float)) and not isinstance(got, bool) and abs(float(got) - float(want)) <= tolerance


def expected_sheets(ledger: Ledger, programme: str | None, since: dt.date, until: dt.date) -> dict[str, dict]:
    """Every sheet's rows by key, from the raw ledger."""
    def mine(p: str) -> bool:
        return programme is None or p == programme

    contracts = {c: r for c, r in ledger.contracts.items() if mine(r["programme_id"])}
    period = dict(since=since, until=until)

    def period_figures(**match) -> dict:
        return {"counted_in_period": ledger.hours(**period, **match),
                "flagged_in_period": ledger.hours(status="flagged", **period, **match),
                "not_counted_in_period": ledger.hours(status="not_counted", **period, **match)}

    def h90(**match) -> Decimal:
        return ledger.hours(since=AS_OF - dt.timedelta(days=89), **match)

    sheets: dict[str, dict] = {s: {} for s in ("Programme", "Operations", "Contracts", "Companies", "SIAE partners",
                                               "Delivery modes", "Beneficiaries", "Outcomes", "Withheld and flagged")}
    for cid, c in contracts.items():
        row = trajectory(c["start_date"], c["end_date"], c["target_hours"], ledger.hours(contract_id=cid),
                         h90(contract_id=cid))
        row.update(period_figures(contract_id=cid), operation_id=c["operation_id"], lot=c["lot"],
                   contractor_siret=c["contractor_siret"], contractor_siren=c["contractor_siret"][:9],
                   start_date=c["start_date"], end_date=c["end_date"])
        sheets["Contracts"][(c["programme_id"], cid)] = row
    for group, sheet, field in ((lambda c: c["operation_id"], "Operations", "operation_id"),
                                (lambda c: c["contractor_siret"][:9], "Companies", "siren")):
        members = defaultdict(list)
        for c in contracts.values():
            members[(c["programme_id"], group(c))].append(c)
        for (p, g), cs in members.items():
            target = sum(c["target_hours"] for c in cs)
            done = sum(sheets["Contracts"][(p, c["contract_id"])]["hours_done"] for c in cs)
            expected = sum(sheets["Contracts"][(p, c["contract_id"])]["expected_to_date"] for c in cs)
            first = min(c["start_date"] for c in cs)
            status = ("not_started" if first > AS_OF else "on_track" if done >= expected
                      else "behind" if done * 10 >= expected * 8 else "at_risk")
            row = {"contracts": len(cs), "target_hours": target, "hours_done": done, "expected_to_date": expected,
                   "gap": done - expected, "pct_done": round(100 * float(done) / float(target), 2), "status": status,
                   **period_figures(programme_id=p, **{"operation_id" if field == "operation_id" else "siren": g})}
            if sheet == "Companies":
                partner = sum((e["hours"] for e in ledger.entries if e["status"] == "counted"
                               and e["work_date"] <= AS_OF and e["contractor_siret"][:9] == g
                               and e["programme_id"] == p and e["siae_siret"]), Decimal(0))
                row.update(establishments=len({c["contractor_siret"] for c in cs}), partner_hours=partner,
                           partner_share_pct=round(100 * float(partner) / float(done), 2) if done else None)
            sheets[sheet][(p, g)] = row
    for p, prog in ledger.programmes.items():
        if mine(p):
            row = trajectory(prog["start_date"], prog["end_date"], prog["target_hours"], ledger.hours(programme_id=p),
                             h90(programme_id=p))
            row.update(period_figures(programme_id=p), name=prog["name"], start_date=prog["start_date"],
                       end_date=prog["end_date"])
            sheets["Programme"][(p,)] = row

    in_period = [e for e in ledger.entries if mine(e["programme_id"]) and since <= e["work_date"] <= until]
    partners = defaultdict(list)
    for e in in_period:
        if e["siae_siret"]:
            partners[(e["programme_id"], e["siae_siret"])].append(e)
    partner_total = defaultdict(Decimal)
    for (p, _), es in partners.items():
        partner_total[p] += sum(e["hours"] for e in es if e["status"] == "counted")
    for (p, s), es in partners.items():
        counted = sum((e["hours"] for e in es if e["status"] == "counted"), Decimal(0))
        sheets["SIAE partners"][(p, s)] = {
            "modes": ", ".join(sorted({e["mode"] for e in es})), "contracts": len({e["contract_id"] for e in es}),
            "contractors": len({e["contractor_siret"] for e in es}), "counted_hours": counted,
            "flagged_hours": sum((e["hours"] for e in es if e["status"] == "flagged"), Decimal(0)),
            "not_counted_hours": sum((e["hours"] for e in es if e["status"] == "not_counted"), Decimal(0)),
            "share_of_partner_hours_pct": round(100 * float(counted) / float(partner_total[p]), 2)}
    counted = [e for e in in_period if e["status"] == "counted"]
    by_mode, totals = defaultdict(list), defaultdict(Decimal)
    for e in counted:
        by_mode[(e["programme_id"], e["mode"])].append(e)
        totals[e["programme_id"]] += e["hours"]
    for (p, m), es in by_mode.items():
        hours = sum(e["hours"] for e in es)
        sheets["Delivery modes"][(p, m)] = {
            "via_partner": any(e["siae_siret"] for e in es), "counted_hours": hours,
            "partner_hours": sum((e["hours"] for e in es if e["siae_siret"]), Decimal(0)),
            "share_pct": round(100 * float(hours) / float(totals[p]), 2)}
    withheld = defaultdict(list)
    for e in in_period:
        if e["status"] != "counted":
            withheld[(e["programme_id"], e["status"], e["reason"])].append(e)
    for k, es in withheld.items():
        sheets["Withheld and flagged"][k] = {"credits": sum(e["kind"] == "credit" for e in es),
                                             "reversals": sum(e["kind"] == "reversal" for e in es),
                                             "hours": sum(e["hours"] for e in es)}

    # People of the period: net counted hours > 0 (invoices have no person).
    net, first = defaultdict(Decimal), {}
    for e in counted:
        if e["beneficiary_id"]:
            k = (e["programme_id"], e["beneficiary_id"])
            net[k] += e["hours"]
            if e["hours"] > 0:
                first[k] = min(first.get(k, e["work_date"]), e["work_date"])
    people = {k: h for k, h in net.items() if h > 0}
    groups = defaultdict(lambda: [0, Decimal(0)])
    for (p, b), h in people.items():
        who = ledger.people[b]
        age = None if who["birth_year"] is None else first[(p, b)].year - who["birth_year"]
        band = "unknown" if age is None else "under_26" if age < 26 else "26_to_49" if age < 50 else "50_and_over"
        for dim, value in [("all", "all"), ("age_band", band), ("gender", who["gender"] or "unknown")] + \
                [("criterion", c) for c in (who["criteria"] or ["none"])]:
            groups[(p, dim, value)][0] += 1
            groups[(p, dim, value)][1] += h
    sheets["Beneficiaries"] = hide({k: {"people": n, "hours": h} for k, (n, h) in groups.items()},
                                   breakdown=lambda k: k[:2], figures=("hours",))
    had = defaultdict(set)
    for o in ledger.outcomes:
        if since <= o["outcome_date"] <= until:
            had[o["beneficiary_id"]].add(o["outcome"])
    outcome_groups = defaultdict(int)
    total = defaultdict(int)
    for (p, b) in people:
        total[p] += 1
        for o in had[b] | ({"any"} if had[b] else set()):
            outcome_groups[(p, o)] += 1
    sheets["Outcomes"] = hide({k: {"people": n, "pct_of_people": round(100 * n / total[k[0]], 2)}
                               for k, n in outcome_groups.items()},
                              breakdown=lambda k: k[:1], figures=("pct_of_people",), total="any")
    return sheets


def hide(groups: dict[tuple, dict], breakdown, figures: tuple[str, ...], total: str | None = None) -> dict:
    """Groups under 5 people show '<5'; if the hidden ones (a total aside) add up to 1-4, the
    smallest shown one shows 'hidden'."""
    out = {k: dict(v) for k, v in groups.items()}
    for b in {breakdown(k) for k in groups}:
        members = {k: v for k, v in groups.items() if breakdown(k) == b}
        parts = {k: v for k, v in members.items() if k[-1] != total}
        hidden = sum(v["people"] for v in parts.values() if v["people"] < 5)
        marks = {k: "<5" for k, v in members.items() if v["people"] < 5}
        shown = sorted((v["people"], k[-1], k) for k, v in parts.items() if v["people"] >= 5)
        if 1 <= hidden < 5 and shown:
            marks[shown[0][2]] = "hidden"
        for k, mark in marks.items():
            out[k] = {"people": mark, **{f: mark for f in figures}}
    return out


SHEET_KEYS = {"Programme": ["Programme"], "Operations": ["Programme", "Operation"],
              "Contracts": ["Programme", "Contract"], "Companies": ["Programme", "Company SIREN"],
              "SIAE partners": ["Programme", "Partner SIRET"], "Delivery modes": ["Programme", "Mode"],
              "Beneficiaries": ["Programme", "Breakdown", "Group"], "Outcomes": ["Programme", "Outcome"],
              "Withheld and flagged": ["Programme", "Status", "Reason"]}


def read_sheet(wb, title: str) -> tuple[list[str], dict[tuple, dict]]:
    from streams.audit.workbook import SHEETS
    fields = {header: field for t, _, cols in SHEETS if t == title for field, header, _ in cols}
    ws = wb[title]
    rows = list(ws.iter_rows(values_only=True))
    headers = list(rows[0])
    assert ws.freeze_panes == "A2", title
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), title
    out = {}
    for row in rows[1:]:
        values = dict(zip(headers, row))
        k = tuple(values[h] for h in SHEET_KEYS[title])
        assert k not in out, (title, k)
        out[k] = {fields[h]: v for h, v in values.items()}
    return headers, out


def check_workbook(path, ledger: Ledger, programme, since, until) -> int:
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["About"] + list(SHEET_KEYS)
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True)}
    assert close(about["Period from (work dates)"], since, "") and close(about["Period to (work dates)"], until, "")
    assert about["Programme"] == (programme or "all")
    want = expected_sheets(ledger, programme, since, until)
    compared = 0
    for title in SHEET_KEYS:
        _, got = read_sheet(wb, title)
        expected = {(k[0], *k[1:]) if title not in ("Contracts",) else k: v for k, v in want[title].items()}
        assert set(got) == set(expected), (title, set(got) ^ set(expected))
        assert got, title
        for k, row in expected.items():
            for field, value in row.items():
                assert close(got[k][field], value, field), (title, k, field, got[k][field], value)
                compared += 1
        # Number cells carry a number format; texts are texts.
        ws = wb[title]
        for cells in ws.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    assert cell.number_format != "General", (title, cell.coordinate)
    return compared


# --- the workbook --------------------------------------------------------------------------------

def test_workbook_shows_the_ledgers_figures(store, ledger, tmp_path, monkeypatch):
    path = tmp_path / "workbook.xlsx"
    code, out = run_cli(store, monkeypatch, "report", "--xlsx", str(path))
    assert code == 0 and out.split() == [str(path)]
    compared = check_workbook(path, ledger, None, dt.date(2000, 1, 1), AS_OF)
    assert compared > 400
    # Sanity of the dataset: both statuses of people groups appear, and every status of contracts.
    wb = openpyxl.load_workbook(path)
    _, people = read_sheet(wb, "Beneficiaries")
    shown = [r["people"] for r in people.values()]
    assert "<5" in shown and any(isinstance(n, int) and n >= 5 for n in shown)
    assert all(n in ("<5", "hidden") or n >= 5 for n in shown)
    _, contracts = read_sheet(wb, "Contracts")
    assert {"not_started", "at_risk"} <= {r["status"] for r in contracts.values()}


def test_workbook_for_one_programme_and_a_period(store, ledger, tmp_path, monkeypatch):
    path = tmp_path / "gpe-spring.xlsx"
    code, out = run_cli(store, monkeypatch, "report", "--xlsx", str(path), "--programme", "gpe",
                        "--from", "2025-02-01", "--to", "2025-04-30")
    assert code == 0, out
    check_workbook(path, ledger, "gpe", D("2025-02-01"), D("2025-04-30"))
    _, programmes = read_sheet(openpyxl.load_workbook(path), "Programme")
    assert list(programmes) == [("gpe",)]
    # The period's hours are a part of the hours to date.
    row = programmes[("gpe",)]
    assert 0 < row["counted_in_period"] < row["hours_done"]


def test_report_writes_any_combination(store, tmp_path, monkeypatch):
    html, xlsx, table = tmp_path / "r.html", tmp_path / "r.xlsx", tmp_path / "r.csv"
    code, out = run_cli(store, monkeypatch, "report", "--csv", str(table), "--xlsx", str(xlsx))
    assert code == 0 and out.split() == [str(table), str(xlsx)] and not html.exists()
    code, out = run_cli(store, monkeypatch, "report", "--html", str(html))
    assert code == 0 and out.split() == [str(html)]
    for bad in ([], ["--html", str(html), "--programme", "gpe"], ["--xlsx", str(xlsx), "--from", "2025-13-01"],
                ["--xlsx", str(xlsx), "--from", "2025-05-01", "--to", "2025-04-01"]):
        with pytest.raises(SystemExit) as exit_:
            run_cli(store, monkeypatch, "report", *bad)
        assert exit_.value.code == 2, bad


# --- open data -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def package(store, tmp_path_factory):
    from streams.audit.open_data import write_open_data

    directory = tmp_path_factory.mktemp("open-data")
    written = write_open_data(store, directory)
    assert [p.name for p in written] == ["datapackage.json", "programmes.csv", "operations.csv", "contracts.csv",
                                         "contract_months.csv"]
    return directory


def read_csv(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_open_data_is_a_valid_data_package(package):
    from frictionless import Package, validate

    report = validate(package / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    described = Package(str(package / "datapackage.json"))
    assert [r.name for r in described.resources] == ["programmes", "operations", "contracts", "contract_months"]
    for resource in described.resources:
        assert all(f.description for f in resource.schema.fields), resource.name
        header = read_csv(package / resource.path)[0].keys()
        assert list(header) == [f.name for f in resource.schema.fields]
    meta = json.loads((package / "datapackage.json").read_text())
    assert "licenses" not in meta  # left to the publisher (docs/open-data.md)


def test_open_data_has_no_person_and_no_small_group(package, ledger):
    text = "".join(p.read_text() for p in package.glob("*"))
    assert "b-0" not in text and not any(b in text for b in ledger.people)
    for path in package.glob("*.csv"):
        for row in read_csv(path):
            if row["beneficiaries"]:
                assert int(row["beneficiaries"]) == 0 or int(row["beneficiaries"]) >= 5, (path.name, row)


LEVEL_KEYS = {"programmes": ["programme_id"], "operations": ["programme_id", "operation_id"],
              "contracts": ["programme_id", "operation_id", "contract_id"],
              "contract_months": ["programme_id", "operation_id", "contract_id", "month"]}


def test_open_data_totals_equal_clickhouse(package, ledger, store):
    (total,), = store.query("SELECT sum(hours) FROM ledger_entries FINAL WHERE status = 'counted' "
                            "AND work_date <= (SELECT as_of FROM ledger_as_of)").result_rows
    assert total == ledger.hours() > 0
    counted = [e for e in ledger.entries if e["status"] == "counted" and e["work_date"] <= AS_OF]
    for name, keys in LEVEL_KEYS.items():
        rows = read_csv(package / f"{name}.csv")
        figures = [r for r in rows if r["counted_hours"] != ""]
        # Each file adds up to the ledger's counted hours, to the cent.
        assert sum(Decimal(r["counted_hours"]) for r in figures) == total, name
        # The entries a row covers: an own row, its group's; an "other" row of a parent, what the
        # parent has that the file's rows below that parent do not cover (deepest first).
        def path(row: dict) -> tuple:
            return tuple(row[k] for k in keys if row[k])

        def under(prefix: tuple) -> set[int]:
            return {i for i, e in enumerate(counted) if all(key(e, k) == v for k, v in zip(keys, prefix))}

        coverage: dict[int, set[int]] = {}
        for n, row in sorted(enumerate(figures), key=lambda nr: -len(path(nr[1]))):
            if not row["row_kind"].startswith("other_"):
                assert len(path(row)) == len(keys), (name, row)
                coverage[n] = under(path(row))
            else:
                below = [m for m, r in enumerate(figures)
                         if len(path(r)) > len(path(row)) and path(r)[:len(path(row))] == path(row)]
                coverage[n] = under(path(row)) - set().union(*(coverage[m] for m in below))
        covered: set[int] = set()
        for n, row in enumerate(figures):
            mine = coverage[n]
            assert not mine & covered, (name, row)
            covered |= mine
            net = defaultdict(Decimal)
            for i in mine:
                net[counted[i]["beneficiary_id"]] += counted[i]["hours"]
            assert Decimal(row["counted_hours"]) == sum(counted[i]["hours"] for i in mine), (name, row)
            assert int(row["beneficiaries"]) == len({b for b, h in net.items() if b and h > 0}), (name, row)
        assert covered == set(range(len(counted))), name
    # Every programme, operation and contract is listed, with its target; published figures are
    # those of the ledger and the trajectory.
    contracts = {r["contract_id"]: r for r in read_csv(package / "contracts.csv") if r["row_kind"] == "contract"}
    assert set(contracts) == set(ledger.contracts)
    for cid, c in ledger.contracts.items():
        row = contracts[cid]
        assert Decimal(row["target_hours"]) == c["target_hours"] and row["contractor_siren"] == c["contractor_siret"][:9]
        if row["figures"] == "published":
            want = trajectory(c["start_date"], c["end_date"], c["target_hours"], ledger.hours(contract_id=cid),
                              ledger.hours(contract_id=cid, since=AS_OF - dt.timedelta(days=89)))
            assert row["status"] == want["status"] and close(float(row["pct_done"]), want["pct_done"], "pct")
        else:
            assert row["counted_hours"] == row["status"] == row["pct_done"] == ""
    # The dataset has both: contracts published on their own and contracts merged.
    assert {"published", "merged"} <= {r["figures"] for r in contracts.values()}
    kinds = {r["row_kind"] for r in read_csv(package / "contract_months.csv")}
    assert "contract_month" in kinds and kinds & {"other_months", "other_contracts", "other_operations"}


def test_export_command(store, tmp_path, monkeypatch):
    code, out = run_cli(store, monkeypatch, "export", "--open-data", str(tmp_path / "od"))
    assert code == 0
    assert out.split()[0] == str(tmp_path / "od" / "datapackage.json") and len(out.split()) == 5
