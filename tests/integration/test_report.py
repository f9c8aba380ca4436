"""`ledger report --html`: the page a buyer receives, opened in headless Chromium, shows ClickHouse's figures.

Chromium is a system package (.ci/run installs it); without it this test is skipped, saying so.
"""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streams.audit.report_html import fmt
from tests.integration.chromium import CHROMIUM, MISSING
from tests.integration.test_audit import ledger_cli, load_dataset, running  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
AS_OF = dt.date(2025, 6, 30)


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


class Figures(HTMLParser):
    """Texts of the elements with data-field, by scope: ('programme', id), ('operation', id), ('contract', id)."""

    SCOPES = ("data-contract", "data-operation", "data-programme")

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        self.stack: list[tuple[str, tuple[str, str] | None, str | None]] = []
        self.texts: dict[int, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        scope = next(((s[5:], attrs[s]) for s in self.SCOPES if s in attrs), None)
        self.stack.append((tag, scope, attrs.get("data-field")))
        if attrs.get("data-field"):
            self.texts[len(self.stack)] = []

    def handle_endtag(self, tag):
        while self.stack:
            depth = len(self.stack)
            open_tag, _, field = self.stack.pop()
            if field:
                scopes = [s for _, s, _ in self.stack if s]
                scope = scopes[-1] if scopes else ("page", "")
                self.found[scope][field] = "".join(self.texts.pop(depth)).strip()
            if open_tag == tag:
                return

    def handle_data(self, data):
        for texts in self.texts.values():
            texts.append(data)


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def shown(value, kind: str) -> str:
    """The text the page must show for a ClickHouse value."""
    return fmt(value, kind)


KINDS = {"target_hours": "hours", "hours_done": "hours", "expected_to_date": "hours", "gap": "hours",
         "pct_done": "pct", "rate_90d_per_day": "hours", "contracts": "int", "start_date": "date",
         "end_date": "date", "forecast_completion_date": "date"}


def test_html_report_in_headless_chromium_shows_the_figures_of_clickhouse(running, monkeypatch, tmp_path):
    pipeline = running
    if CHROMIUM is None:
        pytest.skip(f"{MISSING}: cannot render the HTML report")
    data = load_dataset(pipeline)
    trajectories = "contract_trajectory" in {
        r["name"] for r in pipeline.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    if trajectories:  # pin "to date", so that expected hours and statuses do not depend on the day the test runs
        pipeline.store.insert_json_rows("ledger_settings", f'{{"as_of": "{AS_OF}"}}'.encode())
    page, table = tmp_path / "report.html", tmp_path / "contracts.csv"
    code, out, err = ledger_cli(pipeline, monkeypatch, "report", "--html", str(page), "--csv", str(table))
    assert code == 0, err
    assert out.split() == [str(page), str(table)]

    source = page.read_text()
    # Self-contained: nothing fetched from anywhere (the page goes out by e-mail).
    for outside in ("<script", "<link", "src=", "href=", "url(", "@import", "http://", "https://"):
        assert outside not in source, outside

    rendered = chromium(page, tmp_path / "profile", "--dump-dom")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    shot = tmp_path / "report.png"
    snapped = chromium(page, tmp_path / "profile", "--window-size=1400,2000", f"--screenshot={shot}")
    assert snapped.returncode == 0 and shot.stat().st_size > 20_000, snapped.stderr[-2000:]
    print(f"screenshot: {shot}")
    parser = Figures()
    parser.feed(rendered.stdout)
    figures = parser.found

    def views(name: str, fallback: str, order: str) -> list[dict]:
        return pipeline.rows(f"SELECT * FROM {name if trajectories else fallback} ORDER BY {order}")

    programmes = views("programme_trajectory", "programme_progress", "programme_id")
    contracts = views("contract_trajectory", "contract_progress", "contract_id")
    assert [p["programme_id"] for p in programmes] == ["gpe"]
    assert [c["contract_id"] for c in contracts] == ["gpe-c001", "gpe-c002", "gpe-c003"]

    # 1. The page shows the store's views, figure by figure.
    programme = figures[("programme", "gpe")]
    for field, value in programmes[0].items():
        if field in KINDS and field in programme:
            assert programme[field] == shown(value, KINDS[field]), field
        elif field == "status":
            assert programme[field] == value
    assert number(programme["target_hours"]) == Decimal("14000000")
    if trajectories:
        assert {"expected_to_date", "gap", "status", "forecast_completion_date"} <= programme.keys()

    operations = pipeline.rows(
        "SELECT * FROM operation_progress ORDER BY operation_id" if trajectories else
        "SELECT operation_id, count() AS contracts, sum(target_hours) AS target_hours, sum(hours_done) AS hours_done "
        "FROM contract_progress GROUP BY operation_id ORDER BY operation_id")
    assert [o["operation_id"] for o in operations] == ["L15S", "L16"]
    for op in operations:
        shown_op = figures[("operation", op["operation_id"])]
        for field, value in op.items():
            if field in KINDS and field in shown_op:
                assert shown_op[field] == shown(value, KINDS[field]), (op["operation_id"], field)
        assert {"contracts", "target_hours", "hours_done", "pct_done"} <= shown_op.keys()
        if trajectories:
            assert shown_op["status"] == op["status"]
            assert {"expected_to_date", "status"} <= shown_op.keys()

    for row in contracts:  # the contract table, cell by cell
        cells = figures[("contract", row["contract_id"])]
        for field, value in row.items():
            if field in cells:
                want = value if field == "status" else shown(value, KINDS.get(field, "text"))
                assert cells[field] == (want if value is not None else "–"), (row["contract_id"], field)
        assert {"operation_id", "target_hours", "hours_done", "pct_done"} <= cells.keys()

    with table.open() as f:  # the CSV export: the same rows, raw values
        exported = list(csv.DictReader(f))
    assert [r["contract_id"] for r in exported] == [c["contract_id"] for c in contracts]
    for got, row in zip(exported, contracts):
        assert Decimal(got["hours_done"]) == row["hours_done"]
        assert Decimal(got["target_hours"]) == row["target_hours"]
        assert got["start_date"] == row["start_date"].isoformat()
        if trajectories:
            assert got["status"] == row["status"]

    # 2. Those figures are the ledger's: the curves (drawn from ledger_entries) end on the views'
    #    counted hours, and these are the hours the dataset counts (a correction and a flagged claim in).
    ledger = {r["contract_id"]: r["hours"] for r in pipeline.rows(
        "SELECT contract_id, sum(hours) AS hours FROM ledger_entries FINAL WHERE status = 'counted' "
        "GROUP BY contract_id")}
    assert ledger == data.counted_hours()
    shown_hours = {c: number(figures[("contract", c)]["hours_done"]) for c in ledger}
    assert shown_hours == ledger, "the views' counted hours differ from ledger_entries (analytical model)"
    assert number(programme["curve_end"]) == Decimal("48.50") == number(programme["hours_done"])
    for op, hours in (("L15S", Decimal("34.50")), ("L16", Decimal("14.00"))):
        assert number(figures[("operation", op)]["curve_end"]) == hours == \
            number(figures[("operation", op)]["hours_done"]), op
