"""`ledger report --html FILE [--csv FILE]`: progress against trajectory as one self-contained page.

For the embedded mode (no Grafana) and for sending to a buyer: inline CSS and inline SVG charts, no
script, no external asset. Every figure comes from the store, read with readonly=1:

- the trajectory views `programme_trajectory`, `operation_progress`, `contract_trajectory`
  (deploy/clickhouse/schema/004_analytics.sql) when the store has them, else the progress views
  `programme_progress` and `contract_progress` (figures the older views lack are shown as "–");
- the cumulative curves from the counted hours per day up to the store's reference date
  (`ledger_as_of`: today unless pinned), like the views: deploy/clickhouse/queries/
  daily_counted_hours.sql reads the analytical model's operation-day table, `ledger_entries` in a
  store without it.

Each figure in the page carries a `data-field` attribute inside an element naming its scope
(`data-programme`, `data-operation`, `data-contract`), so that a test (or a buyer's tool) can read
the figures back from the rendered page and check them against ClickHouse.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.trajectory import STATUSES
from streams.audit.tools import csv_cell, csv_writer, read_only_query
from streams.store import QUERY_SETTINGS, Store, query_text

CONTRACT_COLUMNS = [
    # (field, title, kind)
    ("operation_id", "Operation", "text"),
    ("contract_id", "Contract", "text"),
    ("lot", "Lot", "text"),
    ("contractor_siret", "Contractor SIRET", "text"),
    ("start_date", "Start", "date"),
    ("end_date", "End", "date"),
    ("target_hours", "Target h", "hours"),
    ("hours_done", "Done h", "hours"),
    ("expected_to_date", "Expected to date h", "hours"),
    ("gap", "Gap h", "hours"),
    ("pct_done", "% done", "pct"),
    ("status", "Status", "status"),
    ("rate_90d_per_day", "90-day rate h/day", "hours"),
    ("forecast_completion_date", "Forecast completion", "date"),
]
CSV_COLUMNS = ["programme_id", "operation_id", "contract_id", "lot", "contractor_siret", "start_date", "end_date",
               "target_hours", "hours_done", "expected_to_date", "gap", "pct_done", "status", "rate_90d_per_day",
               "forecast_completion_date"]
PROGRAMME_FIGURES = [
    ("target_hours", "Target", "hours", " h"), ("hours_done", "Done", "hours", " h"),
    ("pct_done", "Of the target", "pct", " %"), ("expected_to_date", "Expected to date", "hours", " h"),
    ("gap", "Gap", "hours", " h"), ("status", "Status", "status", ""),
    ("rate_90d_per_day", "Last 90 days", "hours", " h/day"),
    ("forecast_completion_date", "Forecast completion", "date", ""),
]
OPERATION_FIGURES = [
    ("contracts", "Contracts", "int", ""), ("target_hours", "Target", "hours", " h"),
    ("hours_done", "Done", "hours", " h"), ("pct_done", "Of the target", "pct", " %"),
    ("expected_to_date", "Expected to date", "hours", " h"),
]


# ---------------------------------------------------------------------------------------------
# Data


def _rows(store: Store, sql: str) -> list[dict]:
    return read_only_query(store, sql).as_dicts()


def _relations(store: Store) -> set[str]:
    return {r["name"] for r in _rows(store, "SELECT name FROM system.tables WHERE database = currentDatabase()")}


# A store older than the analytical model (no hours_by_operation_day): the same sums from the ledger.
_DAILY_FROM_LEDGER = """
    SELECT programme_id, operation_id, work_date, sum(hours) AS hours
    FROM ledger_entries FINAL
    WHERE status = 'counted' AND work_date <= {as_of:Date}
    GROUP BY programme_id, operation_id, work_date
    ORDER BY work_date, programme_id, operation_id"""


def report_data(store: Store) -> dict[str, Any]:
    """Everything the page shows, read from the store."""
    relations = _relations(store)
    trajectory = {"programme_trajectory", "contract_trajectory", "operation_progress"} <= relations
    if trajectory:
        programmes = _rows(store, "SELECT * FROM programme_trajectory ORDER BY programme_id")
        contracts = _rows(store, "SELECT * FROM contract_trajectory ORDER BY programme_id, operation_id, contract_id")
        operations = _rows(store, "SELECT * FROM operation_progress ORDER BY programme_id, operation_id")
    else:
        programmes = _rows(store, "SELECT * FROM programme_progress ORDER BY programme_id")
        contracts = _rows(store, "SELECT * FROM contract_progress ORDER BY programme_id, operation_id, contract_id")
        operations = _operations_from_contracts(contracts)
    # "To date" is the store's reference date (ledger_as_of: today unless pinned), as in the views.
    as_of = _rows(store, "SELECT as_of FROM ledger_as_of" if "ledger_as_of" in relations
                  else "SELECT today() AS as_of")[0]["as_of"]
    sql, settings = ((query_text("daily_counted_hours"), QUERY_SETTINGS["daily_counted_hours"])
                     if "hours_by_operation_day" in relations else (_DAILY_FROM_LEDGER, None))
    daily = read_only_query(store, sql, {"as_of": as_of}, settings).as_dicts()
    return {"database": store.database, "as_of": as_of, "source": "trajectory views" if trajectory
            else "progress views (no trajectory views in this store)",
            "programmes": programmes, "operations": operations, "contracts": contracts, "daily": daily,
            "generated_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0)}


def _operations_from_contracts(contracts: list[dict]) -> list[dict]:
    grouped: dict[tuple[str, str], dict] = {}
    for c in contracts:
        op = grouped.setdefault((c["programme_id"], c["operation_id"]), {
            "programme_id": c["programme_id"], "operation_id": c["operation_id"], "contracts": 0,
            "target_hours": Decimal(0), "hours_done": Decimal(0)})
        op["contracts"] += 1
        op["target_hours"] += Decimal(c["target_hours"] or 0)
        op["hours_done"] += Decimal(c["hours_done"] or 0)
    for op in grouped.values():
        op["pct_done"] = round(100 * float(op["hours_done"]) / float(op["target_hours"]), 2) \
            if op["target_hours"] else None
    return [grouped[k] for k in sorted(grouped)]


def cumulative(daily: list[dict], **match: str) -> list[tuple[dt.date, Decimal]]:
    """Cumulative counted hours at the end of each day with entries, for the rows matching `match`."""
    per_day: dict[dt.date, Decimal] = defaultdict(Decimal)
    for row in daily:
        if all(row[k] == v for k, v in match.items()):
            per_day[row["work_date"]] += Decimal(row["hours"])
    total, points = Decimal(0), []
    for day in sorted(per_day):
        total += per_day[day]
        points.append((day, total))
    return points


def linear_trajectory(start: dt.date, end: dt.date, target: Decimal) -> list[tuple[dt.date, Decimal]]:
    return [(start, Decimal(0)), (end, Decimal(target))]


def summed_trajectory(contracts: list[dict]) -> list[tuple[dt.date, Decimal]]:
    """Sum of the contracts' linear trajectories: piecewise linear, exact at every start and end date."""
    spans = [(c["start_date"], c["end_date"], Decimal(c["target_hours"] or 0)) for c in contracts
             if c.get("start_date") and c.get("end_date")]
    if not spans:
        return []
    days = sorted({d for s, e, _ in spans for d in (s, e)})

    def at(day: dt.date) -> Decimal:
        total = Decimal(0)
        for s, e, target in spans:
            if day >= e:
                total += target
            elif day > s:
                total += target * Decimal((day - s).days) / Decimal((e - s).days)
        return total

    return [(d, at(d)) for d in days]


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind in ("hours", "pct"):
        return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
    if kind == "int":
        return f"{int(value):,}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def status_class(status: Any) -> str:
    """The CSS class of a trajectory status (ledger.trajectory.STATUSES); 'unknown' for anything else."""
    return str(status).replace("_", "-") if status in STATUSES else "unknown"


def compact(value: float) -> str:
    """Axis labels: 0, 250, 1.5k, 2M."""
    a = abs(value)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= size:
            text = f"{value / size:.2f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------------------------
# Charts (inline SVG)

WIDTH, HEIGHT = 620, 250
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 16, 30


def chart_svg(title: str, trajectory: list[tuple[dt.date, Decimal]], done: list[tuple[dt.date, Decimal]],
              as_of: dt.date, expected: Any = None, width: int = WIDTH) -> str:
    """Progress (cumulative counted hours) against the trajectory, both over time."""
    dates = [d for d, _ in trajectory] + [d for d, _ in done] + [as_of]
    x0, x1 = min(dates), max(dates)
    if x1 <= x0:
        x1 = x0 + dt.timedelta(days=1)
    values = [float(v) for _, v in trajectory] + [float(v) for _, v in done] + [0.0]
    if expected is not None:
        values.append(float(expected))
    ticks = nice_ticks(max(values) * 1.02 or 1.0)
    y_top = ticks[-1]
    bottom = min(0.0, min(values))
    span_days = (x1 - x0).days
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: dt.date) -> float:
        return LEFT + plot_w * (day - x0).days / span_days

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (float(value) - bottom) / (y_top - bottom))

    out = [f'<svg class="chart" viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" role="img" '
           f'aria-label="{e(title)}"><title>{e(title)}</title>']
    for tick in ticks:
        out.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                   f'<text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{compact(tick)}</text>')
    for day in _date_ticks(x0, x1):
        label = str(day.year) if span_days > 3 * 365 else day.strftime("%Y-%m")
        out.append(f'<line class="tick" x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{HEIGHT - BOTTOM}" '
                   f'y2="{HEIGHT - BOTTOM + 4}"/><text class="axis" x="{x(day):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                   f'text-anchor="middle">{label}</text>')
    out.append(f'<line class="frame" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>')
    if x0 <= as_of <= x1:
        anchor = "end" if x(as_of) > width - RIGHT - 40 else "start"
        shift = -4 if anchor == "end" else 4
        out.append(f'<line class="today" x1="{x(as_of):.1f}" x2="{x(as_of):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
                   f'<text class="axis today-label" x="{x(as_of) + shift:.1f}" y="{TOP + 10}" '
                   f'text-anchor="{anchor}">as of {as_of.isoformat()}</text>')
    if trajectory:
        points = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in trajectory)
        out.append(f'<polyline class="trajectory" points="{points}"/>')
    if expected is not None and x0 <= as_of <= x1:
        out.append(f'<circle class="expected" cx="{x(as_of):.1f}" cy="{y(expected):.1f}" r="4">'
                   f'<title>expected to date {fmt(expected, "hours")} h</title></circle>')
    if done:
        steps = [(done[0][0], Decimal(0))] + done
        points = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in steps)
        last_day, last = done[-1]
        out.append(f'<polyline class="done" points="{points}"/>'
                   f'<circle class="done-end" cx="{x(last_day):.1f}" cy="{y(last):.1f}" r="3.5"/>')
        anchor = "end" if x(last_day) > width - RIGHT - 120 else "start"
        shift = -6 if anchor == "end" else 6
        out.append(f'<text class="done-label" x="{x(last_day) + shift:.1f}" y="{y(last) - 7:.1f}" '
                   f'text-anchor="{anchor}" data-field="curve_end">{fmt(last, "hours")}</text>')
    out.append("</svg>")
    return "".join(out)


def _date_ticks(x0: dt.date, x1: dt.date) -> list[dt.date]:
    span = (x1 - x0).days
    if span > 3 * 365:
        step = max(1, math.ceil((x1.year - x0.year) / 8))
        return [dt.date(year, 1, 1) for year in range(x0.year + 1, x1.year + 1, step) if x0 < dt.date(year, 1, 1) <= x1]
    months_total = (x1.year - x0.year) * 12 + x1.month - x0.month
    step = max(1, math.ceil(months_total / 8))
    ticks, m = [], x0.year * 12 + x0.month  # the first of the month after x0
    while True:
        day = dt.date(m // 12, m % 12 + 1, 1)
        if day > x1:
            return ticks
        if day > x0:
            ticks.append(day)
        m += step


# ---------------------------------------------------------------------------------------------
# Page

CSS = """
:root { --ink:#1d2733; --muted:#5b6875; --line:#d9dee4; --done:#1565c0; --traj:#8a939c; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       background: var(--bg); margin: 0; padding: 24px 32px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 0 0 6px; } .card > h2 { margin-top: 0; }
.meta { color: var(--muted); margin: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 22px; margin: 0 0 10px; }
.figures div { min-width: 90px; } .figures dt { color: var(--muted); font-size: 12px; }
.figures dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.operations { display: grid; grid-template-columns: repeat(auto-fill, minmax(640px, 1fr)); gap: 14px; }
figure { margin: 0; } figcaption { margin-bottom: 6px; }
.legend { color: var(--muted); font-size: 12px; margin: 2px 0 6px; }
.legend .sw { display: inline-block; width: 18px; height: 0; vertical-align: middle; margin: 0 4px 0 10px; }
.legend .sw.done { border-top: 3px solid var(--done); } .legend .sw.traj { border-top: 2px dashed var(--traj); }
.legend .sw.exp { width: 8px; height: 8px; border-radius: 50%; background: #fff; border: 2px solid #e65100; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg .grid { stroke: #eceff2; } svg .frame { stroke: #9aa4ad; } svg .tick { stroke: #9aa4ad; }
svg .axis { fill: var(--muted); font-size: 11px; }
svg .trajectory { fill: none; stroke: var(--traj); stroke-width: 2; stroke-dasharray: 6 4; }
svg .done { fill: none; stroke: var(--done); stroke-width: 2.5; stroke-linejoin: round; }
svg .done-end { fill: var(--done); } svg .done-label { fill: var(--done); font-size: 12px; font-weight: 600; }
svg .expected { fill: #fff; stroke: #e65100; stroke-width: 2; }
svg .today { stroke: #e65100; stroke-dasharray: 2 3; } svg .today-label { fill: #e65100; }
.bar { position: relative; height: 12px; background: #eceff2; border-radius: 6px; margin: 6px 0 10px;
       max-width: 960px; overflow: hidden; }
.bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--done); }
.bar .mark { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #e65100; }
table { border-collapse: collapse; width: 100%; background: #fff; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; white-space: nowrap; }
th { background: #eef1f4; font-weight: 600; font-size: 12px; white-space: normal; vertical-align: bottom; }
td { font-size: 13px; } .table-wrap { overflow-x: auto; }
td.num, th.num { text-align: right; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
          background: #eceff2; color: #37424d; }
.status.on-track { background: #e3f4e6; color: #1b5e20; } .status.behind { background: #fff1d6; color: #8a5300; }
.status.at-risk { background: #fde2e1; color: #b3261e; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
"""


def _figures(row: dict, spec: list[tuple[str, str, str, str]]) -> str:
    items = []
    for field, title, kind, unit in spec:
        if field not in row:
            continue
        value = row[field]
        if kind == "status":
            shown = f'<span class="status {status_class(value)}" data-field="{field}">{e(fmt(value, kind))}</span>'
        else:
            shown = f'<span data-field="{field}">{e(fmt(value, kind))}</span>{e(unit) if value is not None else ""}'
        items.append(f"<div><dt>{e(title)}</dt><dd>{shown}</dd></div>")
    return f'<dl class="figures">{"".join(items)}</dl>'


def _status(row: dict) -> str:
    if "status" not in row:
        return ""
    return f' <span class="status {status_class(row["status"])}" data-field="status">{e(fmt(row["status"], "status"))}</span>'


def _legend(with_expected: bool) -> str:
    expected = '<span class="sw exp"></span>expected to date' if with_expected else ""
    return (f'<div class="legend"><span class="sw done"></span>counted hours (cumulative)'
            f'<span class="sw traj"></span>linear trajectory to the target{expected}</div>')


def _bar(row: dict) -> str:
    target = float(row.get("target_hours") or 0)
    if not target:
        return ""
    done = max(0.0, min(100.0, 100 * float(row.get("hours_done") or 0) / target))
    mark = ""
    if row.get("expected_to_date") is not None:
        expected = max(0.0, min(100.0, 100 * float(row["expected_to_date"]) / target))
        mark = f'<div class="mark" style="left:{expected:.2f}%" title="expected to date"></div>'
    return f'<div class="bar" title="share of the target done"><div class="fill" style="width:{done:.2f}%"></div>{mark}</div>'


def render_html(data: dict[str, Any]) -> str:
    return render_head(data) + render_sections(data) + FOOTER


TITLE = "Insertion hours: progress against targets"


def render_head(data: dict[str, Any]) -> str:
    """The document's head and the page header (database, reference date, when, from which views)."""
    return document_head(data, TITLE) + "<body>\n" + report_header(data, TITLE)


def document_head(data: dict[str, Any], title: str, css: str = "", script: str = "") -> str:
    """`<!doctype>` to `</head>`: the report's styles, and the page's own (the live view's) after them."""
    scripts = f'<script src="{e(script)}" defer></script>\n' if script else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} ({e(data['database'])})</title>
<style>{CSS}{css}</style>
{scripts}</head>
"""


def report_header(data: dict[str, Any], title: str) -> str:
    return f"""<header>
<h1>{e(title)}</h1>
<p class="meta">Store database <b>{e(data['database'])}</b> · as of <time data-field="as_of">{data['as_of'].isoformat()}</time>
· generated {e(data['generated_at'].isoformat())} · from the {e(data['source'])}.
Hours are counted hours (status “counted”, reversals netted).</p>
</header>
"""


def render_sections(data: dict[str, Any]) -> str:
    """The programmes (figures, bar, chart), the operations (charts) and the contracts table, in the
    order of `data`'s lists: the body of the report, and of the live page (streams/live/page.py)."""
    as_of = data["as_of"]
    parts = []
    for p in data["programmes"]:
        trajectory = linear_trajectory(p["start_date"], p["end_date"], p["target_hours"]) \
            if p.get("start_date") and p.get("end_date") else []
        done = cumulative(data["daily"], programme_id=p["programme_id"])
        title = f"Programme {p['programme_id']}: counted hours against the trajectory"
        parts.append(f"""<section class="programme card" data-programme="{e(p['programme_id'])}">
<h2>Programme {e(p['programme_id'])} — {e(p.get('name', ''))}</h2>
<p class="meta">{fmt(p.get('start_date'), 'date')} to {fmt(p.get('end_date'), 'date')}</p>
{_figures(p, PROGRAMME_FIGURES)}
{_bar(p)}
{_legend(p.get('expected_to_date') is not None)}
{chart_svg(title, trajectory, done, as_of, p.get('expected_to_date'), width=960)}
</section>
""")
    parts.append('<h2>Operations</h2>\n<div class="operations">')
    for op in data["operations"]:
        members = [c for c in data["contracts"]
                   if c["programme_id"] == op["programme_id"] and c["operation_id"] == op["operation_id"]]
        done = cumulative(data["daily"], programme_id=op["programme_id"], operation_id=op["operation_id"])
        title = f"Operation {op['operation_id']}: counted hours against the summed contract trajectories"
        parts.append(f"""<figure class="operation card" data-programme="{e(op['programme_id'])}" data-operation="{e(op['operation_id'])}">
<figcaption><h3>Operation {e(op['operation_id'])} <span class="meta">({e(op['programme_id'])})</span>{_status(op)}</h3>
{_figures(op, OPERATION_FIGURES)}{_legend(op.get('expected_to_date') is not None)}</figcaption>
{chart_svg(title, summed_trajectory(members), done, as_of, op.get('expected_to_date'))}
</figure>""")
    parts.append("</div>")
    columns = [c for c in CONTRACT_COLUMNS if any(c[0] in row for row in data["contracts"])]
    head = "".join(f'<th class="{"num" if kind in ("hours", "pct") else ""}">{e(title)}</th>'
                   for _, title, kind in columns)
    body = []
    for row in data["contracts"]:
        cells = []
        for field, _, kind in columns:
            value = row.get(field)
            if kind == "status":
                cells.append(f'<td><span class="status {status_class(value)}" data-field="{field}">'
                             f'{e(fmt(value, kind))}</span></td>')
            else:
                cls = ' class="num"' if kind in ("hours", "pct") else ""
                cells.append(f'<td{cls} data-field="{field}">{e(fmt(value, kind))}</td>')
        body.append(f'<tr data-contract="{e(row["contract_id"])}">{"".join(cells)}</tr>')
    parts.append(f"""<h2>Contracts</h2>
<div class="table-wrap"><table class="contracts"><thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></div>
""")
    return "".join(parts)


FOOTER = """<footer>Targets, trajectories and statuses as defined in deploy/clickhouse/schema/ (see docs/auditing.md).
Every figure can be traced to its ledger entries and their source events with <code>ledger sql</code>.</footer>
</body>
</html>
"""


def write_csv(rows: list[dict], path: Path) -> None:
    """The per-contract table as RFC 4180 CSV, escaped like `ledger sql --csv` (docs/security.md):
    a text cell starting like a formula gets a leading quote, a cell with CR or LF is quoted."""
    columns = [c for c in CSV_COLUMNS if any(c in row for row in rows)] if rows else CSV_COLUMNS
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv_writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row.get(c)) for c in columns])


def write_report(store: Store, html_path: Path | None, csv_path: Path | None = None) -> list[Path]:
    """Write the page (and/or the per-contract CSV); returns the paths written."""
    return write_report_data(report_data(store), html_path, csv_path)


def write_report_data(data: dict[str, Any], html_path: Path | None, csv_path: Path | None = None) -> list[Path]:
    """Write the page (and/or the per-contract CSV) of `report_data`'s result (read here or by the
    process that owns the store: streams/live/access.py); returns the paths written."""
    written = []
    if html_path is not None:
        html_path = Path(html_path)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(data), encoding="utf-8")
        written.append(html_path)
    if csv_path is not None:
        csv_path = Path(csv_path)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(data["contracts"], csv_path)
        written.append(csv_path)
    return written
