"""Smaller defects of issue 11: CSV columns, byte-order marks, error lists, metric labels, file modes."""

from __future__ import annotations

import json
import sqlite3
import stat

import pytest

from streams.gateway import metrics
from streams.contractor import producer
from streams.contractor.producer import post_lines, read_lines
from tests.support.gateway import CONTRACTOR_A, Client, contract, programme, reasons, timesheet

HEADER = "type,event_id,schema_version,contract_id,beneficiary_id,work_date,hours,mode,submitted_at"


def row(sheet: dict) -> str:
    return ",".join(str(sheet[c]) for c in HEADER.split(","))


@pytest.fixture
def gw(tmp_path):
    client = Client(tmp_path)
    client.buyer = client.issue("buyer", "sgp")
    client.a = client.issue("contractor", CONTRACTOR_A)
    assert client.post(client.buyer, [programme(), contract("c-a")]).status_code == 202
    return client


def test_a_csv_column_named_twice_is_refused_with_line_1(gw):
    sent = len(gw.broker.sent)
    body = HEADER + ",hours\n" + row(timesheet("c-a", hours=7)) + ",24\n"
    answer = gw.post(gw.a, body, content_type="text/csv")
    assert answer.status_code == 422, answer.text
    assert [(e["line"], e["field"], e["reason"]) for e in answer.json()["errors"]] == [(1, "hours", "invalid_csv")]
    assert len(gw.broker.sent) == sent


def test_extra_csv_cells_are_refused_with_their_line(gw):
    sheets = [timesheet("c-a", work_date=f"2024-03-0{d}") for d in (4, 5, 6)]
    body = "\n".join([HEADER, row(sheets[0]), row(sheets[1]) + ",extra", row(sheets[2])]) + "\n"
    answer = gw.post(gw.a, body, content_type="text/csv")
    assert answer.status_code == 422, answer.text
    assert reasons(answer) == [(3, "invalid_csv")] and "cells" in answer.json()["errors"][0]["message"]


def test_ledger_post_reads_a_byte_order_mark_as_the_gateway_does(gw, tmp_path):
    sheet = timesheet("c-a")
    (tmp_path / "a.csv").write_text(HEADER + "\n" + row(sheet) + "\n", encoding="utf-8-sig")
    (tmp_path / "a.jsonl").write_text(json.dumps(sheet) + "\n", encoding="utf-8-sig")
    for name in ("a.csv", "a.jsonl"):
        lines = list(read_lines(tmp_path / name))
        assert [json.loads(text)["event_id"] for _, text in lines] == [sheet["event_id"]], name
        report = post_lines(_Sink(), lines)
        assert report.sent == 1 and not report.refused, (name, report)
    # The gateway takes the same bytes.
    body = (tmp_path / "a.csv").read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    assert gw.post(gw.a, body, content_type="text/csv").status_code == 202


def test_ledger_post_refuses_a_repeated_column_and_extra_cells_by_line(tmp_path):
    sheets = [timesheet("c-a", work_date=f"2024-03-0{d}") for d in (4, 5)]
    (tmp_path / "dup.csv").write_text(HEADER + ",hours\n" + row(sheets[0]) + ",8\n")
    (tmp_path / "extra.csv").write_text("\n".join([HEADER, row(sheets[0]) + ",x", row(sheets[1])]) + "\n")
    dup = post_lines(_Sink(), read_lines(tmp_path / "dup.csv"))
    assert dup.sent == 0 and [(r.line, r.reason) for r in dup.refused] == [(1, "invalid_csv")]
    extra = post_lines(_Sink(), read_lines(tmp_path / "extra.csv"))
    assert extra.sent == 1 and [(r.line, r.reason) for r in extra.refused] == [(2, "invalid_csv")]
    assert isinstance(list(read_lines(tmp_path / "extra.csv"))[0][1], producer.CsvLineError)


class _Sink:
    """A ContractorProducer that keeps what it is sent."""

    def __init__(self):
        self.sent = []

    def send(self, value, key):
        self.sent.append(value)
        return None

    def send_pending(self):
        return []

    def flush(self):
        pass


def test_errors_listed_are_capped_per_line_and_per_request(gw):
    flood = dict(timesheet("c-a"), **{f"x{n}": n for n in range(100_000)})
    answer = gw.post(gw.a, flood, key="flood-1")
    assert answer.status_code == 422
    body = answer.json()
    assert len(body["errors"]) == 10 and body["errors_omitted"] == 100_000 - 10
    assert "not listed" in body["message"] and len(answer.content) < 10_000
    assert len(gw.post(gw.a, flood, key="flood-1").content) == len(answer.content)  # the stored answer is as small
    many = [dict(timesheet("c-a"), hours=30) for _ in range(300)]
    answer = gw.post(gw.a, many)
    assert answer.status_code == 422
    assert len(answer.json()["errors"]) == 100 and answer.json()["errors_omitted"] == 200
    # A field name quoted back is cut short.
    long_name = dict(timesheet("c-a"), **{"y" * 5000: 1})
    assert max(len(e["field"]) for e in gw.post(gw.a, long_name).json()["errors"]) < 300


def test_metric_labels_are_bounded(gw):
    for method in ("FOOBAR", "BREW", "X-" + "a" * 50):
        gw.http.request(method, "/v1/events")
    gw.http.get("/no/such/path/" + "z" * 30)
    text = gw.http.get("/metrics").text
    assert "FOOBAR" not in text and "BREW" not in text and "zzzz" not in text
    assert 'method="other"' in text and 'route="other"' in text
    routes = {s.labels["route"] for m in metrics.REGISTRY.collect() for s in m.samples if "route" in s.labels}
    assert routes <= {"/v1/events", "/v1/batches", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                      "/docs/oauth2-redirect", "/redoc", "other"}


def test_stores_are_created_readable_by_their_owner_only(tmp_path):
    client = Client(tmp_path)
    token = client.issue("buyer", "sgp")
    gateway_dir = tmp_path / "gateway"
    # Connections held open while the gateway writes: the -wal and -shm files stay (the last one to
    # close removes them).
    held = [sqlite3.connect(gateway_dir / name) for name in ("tokens.sqlite", "idem.sqlite")]
    for db in held:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    assert client.post(token, [programme()], key="k-1").status_code == 202
    files = sorted(p.name for p in gateway_dir.iterdir())
    assert {"tokens.sqlite", "idem.sqlite"} <= set(files)
    assert any(name.endswith("-wal") for name in files)
    for path in gateway_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))
    assert stat.S_IMODE(gateway_dir.stat().st_mode) == 0o700
    for db in held:
        db.close()


def test_an_existing_world_readable_store_is_tightened(tmp_path):
    (tmp_path / "gateway").mkdir()
    for name in ("tokens.sqlite", "idem.sqlite"):
        (tmp_path / "gateway" / name).touch(mode=0o644)
    Client(tmp_path)
    for name in ("tokens.sqlite", "idem.sqlite"):
        assert stat.S_IMODE((tmp_path / "gateway" / name).stat().st_mode) == 0o600

