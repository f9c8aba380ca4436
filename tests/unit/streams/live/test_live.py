"""Pure parts of the live view: typed JSON, addresses, ordering, the committed OpenAPI document."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
from decimal import Decimal

import pytest

from streams.live.access import store_locked
from streams.live.page import duration
from streams.live.server import LiveConfigError, is_loopback, parse_address
from streams.live.snapshot import attention_order, status_counts
from streams.live.wire import decode_result, decode_rows, encode_result, encode_rows
from streams.settings import REPO_ROOT


def test_rows_come_back_with_the_values_the_store_gave():
    rows = [{"id": "c1", "target": Decimal("1234.50"), "pct": 12.5, "n": 3, "day": dt.date(2025, 1, 2),
             "at": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "ok": True, "none": None},
            {"id": "c2", "target": None, "pct": float("nan"), "n": 2**70, "day": None, "at": None, "ok": False,
             "none": None}]
    encoded, kinds = encode_rows(rows)
    back = decode_rows(json.loads(json.dumps(encoded)), kinds)
    assert kinds == {"id": "string", "target": "decimal", "pct": "float", "n": "int", "day": "date",
                     "at": "datetime", "ok": "bool", "none": "string"}
    assert encoded[0]["target"] == "1234.50" and encoded[1]["pct"] == "nan"
    assert back[0] == rows[0]
    assert math.isnan(back[1]["pct"]) and back[1]["n"] == 2**70 and back[1]["target"] is None


def test_a_query_result_keeps_repeated_column_names_and_nested_values():
    columns = ["x", "x", "arr", "when"]
    rows = [(1, "a", [dt.date(2025, 1, 1), Decimal("2.5")], dt.datetime(2025, 1, 1, 12)),
            (2, "b", [], None)]
    document = json.loads(json.dumps(encode_result(columns, rows)))
    assert document["columns"] == columns and document["column_types"] == ["int", "string", "json", "datetime"]
    got_columns, got_rows = decode_result(document)
    assert got_columns == columns
    assert got_rows[0] == (1, "a", ["2025-01-01", "2.5"], dt.datetime(2025, 1, 1, 12))


@pytest.mark.parametrize("text, expected", [("127.0.0.1:8765", ("127.0.0.1", 8765)), ("[::1]:80", ("::1", 80)),
                                            ("0.0.0.0:0", ("0.0.0.0", 0)), ("off", None), ("", None), ("OFF", None)])
def test_addresses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["8765", "host:", ":80", "::1:80", "a:99999", "a:b"])
def test_bad_addresses_are_refused(text):
    with pytest.raises(LiveConfigError):
        parse_address(text)


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.2") and not is_loopback("ledger.example")


def test_contracts_needing_attention_come_first():
    rows = [{"contract_id": "a", "status": "on_track", "gap": Decimal(5)},
            {"contract_id": "b", "status": "at_risk", "gap": Decimal(-10)},
            {"contract_id": "c", "status": "behind", "gap": Decimal(-1)},
            {"contract_id": "d", "status": "at_risk", "gap": Decimal(-50)},
            {"contract_id": "e", "status": "not_started", "gap": None},
            {"contract_id": "f", "status": None}]
    assert [r["contract_id"] for r in attention_order(rows)] == ["d", "b", "c", "e", "a", "f"]
    assert list(status_counts(rows).items()) == [("at_risk", 2), ("behind", 1), ("not_started", 1),
                                                 ("on_track", 1), ("unknown", 1)]


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (None, 3, 89, 600, 3 * 3600, 5 * 86400, 200 * 86400)] == \
        ["–", "3 s", "89 s", "10 min", "3.0 h", "5.0 d", "6.6 mo"]


def test_a_store_locked_by_its_owner_is_detected(tmp_path):
    assert not store_locked(tmp_path)  # no store there
    (tmp_path / "status").write_text("PID: 1\nStarted at: 2026-12-04 05:51:02\n")
    assert not store_locked(tmp_path)
    fd = os.open(tmp_path / "status", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what chDB's engine holds while the path is open
        assert store_locked(tmp_path)
        # held by this very process (a test, the demo): chDB opens it again here, no need to ask anyone
        (tmp_path / "status").write_text(f"PID: {os.getpid()}\nStarted at: 2026-12-04 05:51:02\n")
        assert not store_locked(tmp_path)
    finally:
        os.close(fd)
    assert not store_locked(tmp_path)


def test_the_committed_openapi_document_is_the_one_the_app_serves():
    from streams.gateway.commands import openapi_text

    committed = (REPO_ROOT / "docs" / "live-openapi.json").read_text()
    assert committed == openapi_text(live=True), "docs/live-openapi.json is stale: run `ledger openapi --live`"
    document = json.loads(committed)
    assert {"/api/v1/live", "/api/v1/progress", "/api/v1/report", "/api/v1/sql", "/api/v1/workbook.xlsx"} <= \
        set(document["paths"])


def test_documented_progress_rows_are_the_columns_of_the_queries():
    from streams.live.app import ContractProgress, ProgrammeProgress
    from streams.store import query_text

    def columns(name: str) -> list[str]:
        select = query_text(name).split("SELECT", 1)[1].split("FROM", 1)[0]
        return [c.strip() for c in select.replace("\n", " ").split(",")]

    assert columns("programme_progress") == list(ProgrammeProgress.model_fields)
    assert columns("contract_progress") == list(ContractProgress.model_fields)
