"""Auditors' tools on real parts: `ledger sql` (read-only), `ledger reconcile`, and docs/auditing.md's queries.

The commands run in this process (`streams.cli.main`), because chDB lets one process only open the
session's store. The known dataset below is also used by test_report.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from streams import cli
from streams.audit.tools import read_only_query
from streams.kafka.topics import read_topic
from streams.kafka.codec import decode_records
from streams.settings import REPO_ROOT, settings
from ledger.siret import with_check_digit
from tests.integration.conftest import ledger_in_process
from tests.integration.events import ETTI, contract, enrolment, event, programme, timesheet

pytestmark = pytest.mark.integration

AUDITING_MD = REPO_ROOT / "docs" / "auditing.md"


# ---------------------------------------------------------------------------------------------
# A known dataset, through the real worker: three contracts (one held by a second contractor), a
# correction (7.5 h -> 6 h: a reversal entry and a new credit), a conflict caught by the
# cross-contractor check (the same person, day and hours claimed by two contractors: both claims
# are flagged, the one already counted by a reversal and a flagged credit), a duplicate and two
# malformed events.

OTHER_CONTRACTOR = with_check_digit("5523406700001")


class Dataset:
    def __init__(self) -> None:
        self.sheets: dict[str, list[dict]] = {}
        self.correction_event: dict = {}
        self.flagged_event: dict = {}
        # The entries the worker recorded for them, read from the ledger topic.
        self.reversal: dict = {}  # of the corrected timesheet
        self.correction: dict = {}  # its new credit
        self.flagged: dict = {}  # the second contractor's claim (gpe-c002)
        self.unflagged: dict = {}  # the reversal of the first contractor's counted claim (gpe-c003)
        self.reflagged: dict = {}  # and its flagged credit
        self.entries = 0  # distinct entries in the ledger

    @staticmethod
    def counted_hours() -> dict[str, Decimal]:
        # gpe-c001: 7.5 + 8 + 7, the 7.5 corrected to 6; gpe-c002: 6.5 + 7 (its 7 h of 2024-05-06
        # flagged); gpe-c003: 3 x 7 h, but its 7 h of 2024-05-06 are flagged too.
        return {"gpe-c001": Decimal("21.00"), "gpe-c002": Decimal("13.50"), "gpe-c003": Decimal("14.00")}


def topics_visible(cfg, timeout: float = 30) -> None:
    """Wait until the broker's metadata lists the pipeline's topics with their partitions.

    A loader whose consumer joins its group before its own metadata of freshly created topics
    arrived is assigned no partition, and stays idle until its next metadata refresh (5 minutes):
    a race in streams.loader.app (kafka-python subscribes in the constructor), which these tests work
    around: topics first, then the loader, started again if it got nothing.
    """
    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None)
    try:
        deadline = time.monotonic() + timeout
        topics = (cfg.intake_topic, cfg.ledger_topic, cfg.rejections_topic)
        while not (set(topics) <= consumer.topics() and all(consumer.partitions_for_topic(t) for t in topics)):
            assert time.monotonic() < deadline, f"topics {topics} not in the broker's metadata"
            time.sleep(0.2)
    finally:
        consumer.close()


def start_loader(pipeline, attempts: int = 4, wait: float = 10) -> None:
    """Start the loader, again if its consumer got no partitions (see topics_visible)."""
    for _ in range(attempts):
        pipeline.start_loader()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if pipeline.loader.consumer.assignment():
                return
            time.sleep(0.2)
        pipeline.stop_loader()
    raise AssertionError(f"the loader got no partitions of {pipeline.cfg.ledger_topic} in {attempts} attempts")


def started(pipeline_factory, **settings_changes):
    """A pipeline (worker, loader, producer) started once its topics are visible and the loader has
    its partitions."""
    pipeline = pipeline_factory(start=False)
    if settings_changes:
        pipeline.cfg = pipeline.cfg.model_copy(update=settings_changes)
    topics_visible(pipeline.cfg)
    pipeline.start_worker()
    start_loader(pipeline)
    return pipeline


@pytest.fixture
def running(pipeline_factory):
    return started(pipeline_factory)


def ledger_cli(pipeline, monkeypatch, *args: str) -> tuple[int, str, str]:
    """`ledger ARGS` in this process, configured like the pipeline (its topics and database)."""
    return ledger_in_process(pipeline.env(), monkeypatch, *args)


def send_ledger_records(pipeline, records: list[dict], partition: int = 0) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.cfg.bootstrap_servers, acks="all")
    try:
        producer.send(pipeline.cfg.ledger_topic, json.dumps(records).encode(), partition=partition).get(timeout=30)
    finally:
        producer.close()


def derived_entry(original: dict, **changes) -> dict:
    record = dict(original, entry_id=str(uuid.uuid4()), **changes)
    if not isinstance(original["hours"], str):  # the same JSON type as the worker's entries
        record["hours"] = float(record["hours"])
    return record


def wait_entries(pipeline, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while pipeline.rows("SELECT count() AS n FROM ledger_entries FINAL")[0]["n"] < count:
        assert time.monotonic() < deadline, f"fewer than {count} entries loaded"
        time.sleep(0.2)


def load_dataset(pipeline) -> Dataset:
    data = Dataset()
    pipeline.post(programme(), contract("gpe-c001", lot="GC-01"),
                  contract("gpe-c002", lot="GC-02", target_hours=500, start_date="2024-02-01",
                           end_date="2025-12-31", contractor_siret=OTHER_CONTRACTOR),
                  contract("gpe-c003", operation_id="L16", lot="GC-03", target_hours=2000,
                           start_date="2023-06-01", end_date="2027-06-30"),
                  enrolment("b-0000000001"), enrolment("b-0000000002"), enrolment("b-0000000003"))
    pipeline.wait_accounted()
    data.sheets = {
        "gpe-c001": [timesheet("gpe-c001", "b-0000000001", "2024-03-04", 7.5),
                     timesheet("gpe-c001", "b-0000000001", "2024-03-05", 8),
                     timesheet("gpe-c001", "b-0000000002", "2024-03-05", 7)],
        "gpe-c002": [timesheet("gpe-c002", "b-0000000002", "2024-04-02", 6.5),
                     timesheet("gpe-c002", "b-0000000003", "2024-04-03", 7)],
        "gpe-c003": [timesheet("gpe-c003", "b-0000000003", f"2024-05-{d:02d}", 7, mode="temp_agency_etti",
                               siae_siret=ETTI) for d in (6, 7, 8)],
    }
    sheets = [s for group in data.sheets.values() for s in group]
    duplicate = dict(data.sheets["gpe-c001"][0])
    malformed = '{"type": "timesheet.submitted", "hours": '
    wrong_type = dict(timesheet("gpe-c001", "b-0000000001", "2024-03-07"), hours=True)
    # Another contractor claims the same person, day and hours as gpe-c003's first timesheet.
    data.flagged_event = timesheet("gpe-c002", "b-0000000003", "2024-05-06", 7)
    pipeline.post(*sheets, duplicate, malformed, wrong_type, data.flagged_event)
    pipeline.wait_accounted()
    original = data.sheets["gpe-c001"][0]
    data.correction_event = event("timesheet.corrected", original_event_id=original["event_id"],
                                  **{k: original[k] for k in ("contract_id", "beneficiary_id", "work_date", "mode",
                                                              "submitted_at")}, hours=6)
    pipeline.post(data.correction_event)
    pipeline.wait_accounted()
    data.entries = len(sheets) + 3 + 2  # + the conflict's three entries + the correction's two

    by_source: dict[tuple[str, str, str], dict] = {}
    for message in read_topic(pipeline.cfg, pipeline.cfg.ledger_topic):
        for record in decode_records(message.value):
            if record.get("record") == "entry":
                by_source[(record["source_event_id"], record["kind"], record["contract_id"])] = record
    assert len(by_source) == data.entries
    data.reversal = by_source[(data.correction_event["event_id"], "reversal", "gpe-c001")]
    data.correction = by_source[(data.correction_event["event_id"], "credit", "gpe-c001")]
    assert data.reversal["reverses_entry_id"] == by_source[(original["event_id"], "credit", "gpe-c001")]["entry_id"]
    conflict = data.flagged_event["event_id"]
    data.flagged = by_source[(conflict, "credit", "gpe-c002")]
    data.unflagged = by_source[(conflict, "reversal", "gpe-c003")]
    data.reflagged = by_source[(conflict, "credit", "gpe-c003")]
    for entry in (data.flagged, data.reflagged):
        assert (entry["status"], entry["reason"]) == ("flagged", "claimed_by_two_contractors")
    first = data.sheets["gpe-c003"][0]["event_id"]
    assert data.unflagged["reverses_entry_id"] == by_source[(first, "credit", "gpe-c003")]["entry_id"]
    wait_entries(pipeline, data.entries)
    return data


# ---------------------------------------------------------------------------------------------
# ledger sql


def test_sql_prints_a_table_or_csv_and_refuses_any_write(running, monkeypatch):
    pipeline = running
    load_dataset(pipeline)
    code, out, err = ledger_cli(pipeline, monkeypatch, "sql",
                                "SELECT contract_id, target_hours, hours_done FROM contract_progress "
                                "ORDER BY contract_id")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["contract_id", "target_hours", "hours_done"]
    assert lines[2].split() == ["gpe-c001", "1,000.00", "21.00"]  # 7.5 + 8 + 7, then 7.5 corrected to 6
    assert lines[3].split() == ["gpe-c002", "500.00", "13.50"]  # the flagged 7 h do not count
    assert lines[4].split() == ["gpe-c003", "2,000.00", "14.00"]  # its 7 h of 2024-05-06 flagged too
    assert lines[-1] == "(3 rows)"

    code, out, err = ledger_cli(pipeline, monkeypatch, "sql", "--csv",
                                "SELECT contract_id, hours_done, start_date FROM contract_progress "
                                "ORDER BY contract_id;")
    assert code == 0, err
    assert out.splitlines() == ["contract_id,hours_done,start_date", "gpe-c001,21.00,2024-01-01",
                                "gpe-c002,13.50,2024-02-01", "gpe-c003,14.00,2023-06-01"]

    before = pipeline.rows("SELECT count() AS n FROM rejections FINAL")[0]["n"]
    for write in ("INSERT INTO rejections (rejection_id, reason) VALUES (generateUUIDv4(), 'forged')",
                  "ALTER TABLE ledger_entries DELETE WHERE 1", "DROP TABLE rejections",
                  "CREATE TABLE forged (x UInt8) ENGINE = Memory", "SELECT 1 SETTINGS readonly = 0"):
        code, out, err = ledger_cli(pipeline, monkeypatch, "sql", write)
        # Refused by the guard before the engine sees it (which would refuse it too: readonly=1).
        assert code == 2 and "ledger sql: refused:" in err, (write, code, out, err)
    code, out, err = ledger_cli(pipeline, monkeypatch, "sql", "SELECT 1; DROP TABLE rejections")
    assert code == 2 and "one statement" in err
    assert pipeline.rows("SELECT count() AS n FROM rejections FINAL")[0]["n"] == before == 3
    # The store still serves the loader's writes afterwards: the refusal was the query's, not the store's.
    assert read_only_query(pipeline.store, "SELECT getSetting('readonly') AS r").rows == [(1,)]
    assert pipeline.rows("SELECT getSetting('readonly') AS r")[0]["r"] == 0


# ---------------------------------------------------------------------------------------------
# ledger reconcile


def test_reconcile_equal_then_finds_records_not_loaded_and_rows_not_in_kafka(running, monkeypatch):
    pipeline = running
    data = load_dataset(pipeline)
    code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
    assert code == 0, out + err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("gpe-", "TOTAL"))}
    expected = data.counted_hours()
    for contract_id, hours in expected.items():
        # contract, kafka h, clickhouse h, difference, kafka entries, clickhouse entries, check
        assert rows[contract_id][1:4] == [f"{hours:,.2f}", f"{hours:,.2f}", "0.00"]
        assert rows[contract_id][-1] == "ok"
    assert rows["gpe-c001"][4:6] == ["5", "5"]  # 3 credits, a reversal, the corrected credit
    assert rows["gpe-c002"][4:6] == ["3", "3"]  # 2 credits and a flagged one
    assert rows["gpe-c003"][4:6] == ["5", "5"]  # 3 credits, the reversal of one, its flagged credit
    assert rows["TOTAL"][1:3] == ["48.50", "48.50"]
    assert re.search(r"rejections duplicate_event\s+1\s+1\s+ok", out)
    assert re.search(r"rejections \(all\)\s+3\s+3\s+ok", out)
    assert re.search(r"beneficiary records\s+3\s+3\s+ok", out)
    assert out.strip().splitlines()[-1].startswith(
        f"OK: ClickHouse equals the Kafka ledger: {data.entries} entries, 48.50 counted hours, 7 other records, "
        f"3 rejections")

    # Kafka ahead of the store: a record the (stopped) loader has not written yet.
    pipeline.stop_loader()
    late = derived_entry(data.correction, kind="credit", source_event_id=str(uuid.uuid4()), hours="4.00",
                         work_date="2024-03-06", contract_id="gpe-c002", lot="GC-02")
    send_ledger_records(pipeline, [late])
    code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
    assert code == 1, out + err
    assert "MISMATCH: 3 difference(s)" in out
    assert "contract gpe-c002 counted hours: kafka 17.50, clickhouse 13.50" in out
    assert f"entry {late['entry_id']} (contract gpe-c002): kafka present, clickhouse absent" in out
    assert "contract gpe-c002 entries: kafka 4, clickhouse 3" in out
    assert "has not yet committed 1 message(s)" in out

    # Once the loader caught up, the two agree again.
    start_loader(pipeline)
    wait_entries(pipeline, data.entries + 1)
    deadline = time.monotonic() + 30
    while True:
        code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
        if code == 0 and "not yet committed" not in out or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert code == 0, out + err

    # A row written into ClickHouse behind the ledger's back (and a rejection erased from view).
    forged = derived_entry(data.correction, hours="100.00", contract_id="gpe-c003", lot="GC-03",
                           operation_id="L16", version=0)
    pipeline.store.insert_json_rows("ledger_entries", json.dumps(forged).encode())
    code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
    assert code == 1
    assert "contract gpe-c003 counted hours: kafka 14.00, clickhouse 114.00" in out
    assert "contract gpe-c003 entries: kafka 5, clickhouse 6" in out
    assert re.search(r"gpe-c003\s+14\.00\s+114\.00\s+100\.00\s+5\s+6\s+DIFFERENT", out)
    assert f"entry {forged['entry_id']} (contract gpe-c003): kafka absent, clickhouse present" in out


# ---------------------------------------------------------------------------------------------
# docs/auditing.md


def sql_blocks(path: Path) -> list[str]:
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", path.read_text(), re.S)]


def block_named(blocks: list[str], words: str) -> str:
    found = [b for b in blocks if words.lower() in b.splitlines()[0].lower()]
    assert len(found) == 1, f"one ```sql block of docs/auditing.md must start with a comment naming {words!r}"
    return found[0]


def test_every_query_of_the_auditing_guide_runs_read_only_and_the_trace_finds_the_entries(running):
    pipeline = running
    data = load_dataset(pipeline)
    blocks = sql_blocks(AUDITING_MD)
    assert len(blocks) >= 6
    results = {}
    for block in blocks:
        try:
            results[block] = read_only_query(pipeline.store, block).as_dicts()
        except Exception as error:  # name the query that failed
            pytest.fail(f"docs/auditing.md query failed: {error}\n{block}")

    # Trace: the contract's total, entry by entry, each with the event it comes from.
    trace = results[block_named(blocks, "trace")]
    sheets = data.sheets["gpe-c001"]
    want = [(sheets[0]["event_id"], "credit", Decimal("7.50")), (sheets[1]["event_id"], "credit", Decimal("8.00")),
            (sheets[2]["event_id"], "credit", Decimal("7.00")),
            (data.reversal["source_event_id"], "reversal", Decimal("-7.50")),
            (data.correction["source_event_id"], "credit", Decimal("6.00"))]
    got = sorted((str(r["source_event_id"]), r["kind"], r["hours"]) for r in trace)
    assert got == sorted(want)
    assert [r["running_total"] for r in trace][-1] == Decimal("21.00")
    total = results[block_named(blocks, "contract's total")]
    assert [(r["contract_id"], r["hours_done"]) for r in total] == [("gpe-c001", Decimal("21.00"))]

    corrections = results[block_named(blocks, "corrections")]
    assert [(r["contract_id"], str(r["reversal_entry_id"]), str(r["reverses_entry_id"]), r["correcting_event_type"],
             r["reversed_hours"], r["reversal_hours"], r["replacement_hours"], r["replacement_status"])
            for r in corrections] == [
        ("gpe-c001", data.reversal["entry_id"], data.reversal["reverses_entry_id"], "timesheet.corrected",
         Decimal("7.50"), Decimal("-7.50"), Decimal("6.00"), "counted"),
        ("gpe-c003", data.unflagged["entry_id"], data.unflagged["reverses_entry_id"], "timesheet.submitted",
         Decimal("7.00"), Decimal("-7.00"), Decimal("7.00"), "flagged")]
    assert str(corrections[0]["original_event_id"]) == sheets[0]["event_id"]
    assert str(corrections[0]["correcting_event_id"]) == data.correction_event["event_id"]
    assert str(corrections[1]["original_event_id"]) == data.sheets["gpe-c003"][0]["event_id"]
    assert str(corrections[1]["correcting_event_id"]) == data.flagged_event["event_id"]

    flagged = results[block_named(blocks, "list flagged claims")]
    assert [(r["contract_id"], str(r["entry_id"]), r["reason"], r["hours"]) for r in flagged] == [
        ("gpe-c002", data.flagged["entry_id"], "claimed_by_two_contractors", Decimal("7.00")),
        ("gpe-c003", data.reflagged["entry_id"], "claimed_by_two_contractors", Decimal("7.00"))]
    competing = results[block_named(blocks, "claims on the same person and day")]
    assert sorted((r["contract_id"], r["status"], r["kind"], r["hours"]) for r in competing) == [
        ("gpe-c002", "flagged", "credit", Decimal("7.00")), ("gpe-c003", "counted", "credit", Decimal("7.00")),
        ("gpe-c003", "counted", "reversal", Decimal("-7.00")), ("gpe-c003", "flagged", "credit", Decimal("7.00"))]

    checked = results[block_named(blocks, "trajectory views against the ledger")]
    assert [(r["contract_id"], r["difference"]) for r in checked] == \
        [("gpe-c001", 0), ("gpe-c002", 0), ("gpe-c003", 0)]
    assert {r["contract_id"]: r["ledger_hours"] for r in checked} == data.counted_hours()

    by_reason = results[block_named(blocks, "rejections by reason")]
    assert {r["reason"]: r["events"] for r in by_reason} == {"duplicate_event": 1, "invalid_json": 1,
                                                           "invalid_event": 1}


def test_the_auditing_guide_names_every_table_and_view_of_the_store(running):
    pipeline = running
    names = {r["name"] for r in pipeline.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    text = AUDITING_MD.read_text()
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"docs/auditing.md does not describe: {', '.join(missing)}"


# ---------------------------------------------------------------------------------------------
# Issue 11 (security): the auditor's SQL writes nothing, reconcile compares what totals depend on,
# the topics of record keep their history, exports are escaped.


@pytest.fixture
def idle(pipeline_factory):
    """Topics and a database of their own, no worker and no loader: for the commands alone."""
    return pipeline_factory(start=False)


def test_sql_refuses_into_outfile_and_every_file_or_network_access(idle, monkeypatch, tmp_path):
    pipeline = idle
    metadata = Path(str(pipeline.cfg.clickhouse_dsn).removeprefix("chdb://")) / "metadata" / \
        pipeline.cfg.clickhouse_database / "rejections.sql"
    before = metadata.read_bytes()
    kept = tmp_path / "kept.txt"
    kept.write_text("keep me\n")
    writes = [f"SELECT 1 INTO OUTFILE '{metadata}' TRUNCATE",
              f"SELECT 1 INTO OUTFILE '{tmp_path / 'a.csv'}'",
              f"SELECT 1 INTO OUTFILE '{kept}' APPEND",
              f"SELECT 1 INTO OUTFILE '{kept}' TRUNCATE",
              f"SELECT 1 INTO OUTFILE '{tmp_path / 'c.gz'}' COMPRESSION 'gzip'",
              f"SELECT 1 -- hidden\nINTO /* hidden */ OUTFILE '{tmp_path / 'd.csv'}'",
              f"INSERT INTO FUNCTION file('{tmp_path / 'e.csv'}', 'CSV') SELECT 1",
              f"SELECT * FROM file('{kept}', 'LineAsString')",
              "SELECT * FROM url('http://127.0.0.1:1/', 'RawBLOB')",
              "SELECT * FROM executable('id', 'TSV', 'x String')",
              "SELECT * FROM remote('127.0.0.1:1', system.one)",
              "SYSTEM DROP MARK CACHE", "KILL QUERY WHERE 1", "SET readonly = 0",
              "SELECT 1 SETTINGS readonly = 0", "SELECT 1; SELECT 2"]
    for write in writes:
        code, out, err = ledger_cli(pipeline, monkeypatch, "sql", write)
        assert code == 2 and "ledger sql: refused:" in err, (write, code, out, err)
    assert metadata.read_bytes() == before
    assert kept.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
    code, out, err = ledger_cli(pipeline, monkeypatch, "sql", "SELECT count() AS n FROM rejections FINAL")
    assert code == 0 and out.splitlines()[2].strip() == "0", out + err


def test_sql_renders_out_of_range_dates_control_characters_and_formulas_without_crashing(
        idle, monkeypatch):
    pipeline = idle
    dates = ("SELECT toDateTime64('9999-12-31 23:59:59', 3, 'Etc/GMT+12') AS late, "
             "toDateTime64('0001-01-01 00:00:00', 3, 'Etc/GMT-14') AS early, "
             "toDateTime('2106-02-07 06:28:15', 'UTC') AS dt_max, toDate32('1900-01-01') AS d32, "
             "[toDateTime64('9999-12-31 23:59:59', 3, 'Etc/GMT+12')] AS arr, 'x' AS s")
    for args in (("sql", "--csv", dates), ("sql", dates)):
        code, out, err = ledger_cli(pipeline, monkeypatch, *args)
        assert code == 0, (args, out, err)
        assert "10000-01-01T11:59:59" in out and "2106-02-07" in out and "1900-01-01" in out, out
    code, out, err = ledger_cli(pipeline, monkeypatch, "sql", "--csv", dates)
    header, row = list(csv.reader(io.StringIO(out, newline="")))
    assert header == ["late", "early", "dt_max", "d32", "arr", "s"]
    assert row[3] == "1900-01-01" and row[5] == "x"

    code, out, err = ledger_cli(pipeline, monkeypatch, "sql",
                                "SELECT concat(char(27), '[31mred', char(27), '[0m', char(13), char(7)) AS s")
    assert code == 0, err
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "\\x1b[31mred\\x1b[0m\\r\\x07" in out

    code, out, err = ledger_cli(pipeline, monkeypatch, "sql", "--csv",
                                "SELECT '=HYPERLINK(\"http://evil/\")' AS f, concat('a', char(13), 'b') AS cr, "
                                "'-2+3+cmd|'' /C calc''!A0' AS dde, -7.5 AS n")
    assert code == 0, err
    assert list(csv.reader(io.StringIO(out, newline=""))) == [
        ["f", "cr", "dde", "n"], ["'=HYPERLINK(\"http://evil/\")", "a\rb", "'-2+3+cmd|' /C calc'!A0", "-7.5"]]
    assert '"a\rb"' in out


def _entry(pipeline, entry_id: str) -> dict:
    return pipeline.rows("SELECT * FROM ledger_entries FINAL WHERE entry_id = {e:UUID}", e=entry_id)[0]


def test_reconcile_compares_every_field_the_totals_depend_on(running, monkeypatch):
    pipeline = running
    data = load_dataset(pipeline)
    code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
    assert code == 0, out + err

    # A stored row altered behind the ledger's back, its counts and hours unchanged: a work date
    # moved (in the same year: the table is partitioned by year) and a credit given to another person.
    moved = dict(data.correction, work_date="2024-12-31", version=0)
    other = dict(data.flagged, beneficiary_id="b-99999999", version=0)
    pipeline.store.insert_json_rows("ledger_entries", (json.dumps(moved) + "\n" + json.dumps(other)).encode())
    assert str(_entry(pipeline, data.correction["entry_id"])["work_date"]) == "2024-12-31"
    code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
    assert code == 1, out + err
    assert "MISMATCH: 2 difference(s)" in out
    assert (f"entry {data.correction['entry_id']} (contract gpe-c001) work_date: kafka 2024-03-04, "
            f"clickhouse 2024-12-31") in out
    assert (f"entry {data.flagged['entry_id']} (contract gpe-c002) beneficiary_id: kafka {data.flagged['beneficiary_id']}, "
            f"clickhouse b-99999999") in out

    # Put back as the ledger has them: equal again.
    pipeline.store.insert_json_rows("ledger_entries", (json.dumps(dict(data.correction, version=0)) + "\n"
                                                       + json.dumps(dict(data.flagged, version=0))).encode())
    code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
    assert code == 0, out + err

    # A date the store cannot hold, recorded in the ledger and loaded: reconcile says whether the
    # store kept it (a Date column turns 0001-01-01 into 1970-01-01).
    ancient = derived_entry(data.correction, source_event_id=str(uuid.uuid4()), work_date="0001-01-01")
    send_ledger_records(pipeline, [ancient])
    wait_entries(pipeline, data.entries + 1)
    stored = str(_entry(pipeline, ancient["entry_id"])["work_date"])
    deadline = time.monotonic() + 30
    while True:
        code, out, err = ledger_cli(pipeline, monkeypatch, "reconcile")
        if "not yet committed" not in out or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if stored == "0001-01-01":
        assert code == 0, out + err
    else:
        assert code == 1 and (f"entry {ancient['entry_id']} (contract gpe-c001) work_date: kafka 0001-01-01, "
                              f"clickhouse {stored}") in out, out + err


def _topic_configs(cfg, topic: str) -> dict[str, dict]:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers)
    try:
        return admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                      config_filter="all")["topic"][topic]
    finally:
        admin.close()


def test_topics_of_record_are_created_to_keep_their_history_forever(idle):
    cfg = idle.cfg
    for topic in (cfg.intake_topic, cfg.ledger_topic, cfg.rejections_topic):
        configs = _topic_configs(cfg, topic)
        for key, value in {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}.items():
            assert configs[key]["value"] == value, (topic, key, configs[key])
        # Set on the topic itself, not inherited from whatever the broker's default is.
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG", configs["retention.ms"]
    from streams.kafka.topics import check_retention

    check_retention(cfg)  # passes


def test_the_worker_s_batches_follow_what_its_topics_accept(idle, kafka_dsn):
    """Topics created by `ensure_topics` take the worker's 4 MiB batches; for topics created before,
    with Kafka's default (a batch over 1 MiB refused), the worker's batches are cut to 1 MiB."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from streams.kafka.topics import MIN_BATCH_BYTES, WORKER_TOPIC_BATCH_BYTES, batch_bytes_allowed

    cfg = idle.cfg
    assert _topic_configs(cfg, cfg.ledger_topic)["max.message.bytes"]["value"] == str(WORKER_TOPIC_BATCH_BYTES)
    assert batch_bytes_allowed(cfg) == cfg.worker_batch_bytes == 4 * 1024 * 1024

    older = cfg.model_copy(update={"topic_prefix": f"older-{uuid.uuid4().hex[:8]}"})
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(getattr(older, t), 1, 1) for t in
                             ("routed_topic", "ledger_topic", "rejections_topic", "state_topic")])
    finally:
        admin.close()
    assert batch_bytes_allowed(older) == MIN_BATCH_BYTES

    # A batch of ~3.6 MB (four records of 900 kB; the producer waits to fill it) is taken.
    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, batch_size=4 * 1024 * 1024,
                             linger_ms=1000, max_request_size=8 * 1024 * 1024)
    try:
        futures = [producer.send(cfg.ledger_topic, value=bytes(900_000), partition=0) for _ in range(4)]
        producer.flush()
        offsets = [future.get(timeout=30).offset for future in futures]
    finally:
        producer.close()
    assert offsets == list(range(offsets[0], offsets[0] + 4))


def test_check_retention_refuses_topics_that_delete_history_and_reconcile_and_replay_refuse_to_run(
        kafka_dsn, chdb_path, monkeypatch, capsys, tmp_path):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from streams.settings import Settings
    from streams.kafka.topics import RetentionError, check_retention

    name = f"retention-{uuid.uuid4().hex[:8]}"
    cfg = Settings(kafka_dsn=kafka_dsn, clickhouse_dsn=f"chdb://{chdb_path}", clickhouse_database="db_retention",
                   topic_prefix=name, loader_group=f"{name}-loader")
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers)
    try:
        admin.create_topics([
            NewTopic(cfg.intake_topic, 1, 1, topic_configs={"retention.ms": "-1", "retention.bytes": "-1"}),
            NewTopic(cfg.ledger_topic, 1, 1, topic_configs={"retention.ms": "604800000"}),  # 7 days
            NewTopic(cfg.rejections_topic, 1, 1, topic_configs={"retention.ms": "-1", "retention.bytes": "-1",
                                                                "cleanup.policy": "compact"})])
    finally:
        admin.close()
    with pytest.raises(RetentionError) as refused:
        check_retention(cfg)
    message = str(refused.value)
    assert f"{cfg.ledger_topic}: retention.ms=604800000 (deletes records older than 7 days)" in message
    assert f"{cfg.rejections_topic}: cleanup.policy=compact" in message
    assert cfg.intake_topic + ":" not in message

    missing = cfg.model_copy(update={"topic_prefix": f"{name}-none"})
    with pytest.raises(RetentionError, match="no such topic"):
        check_retention(missing)

    for name_, value in {"LEDGER_KAFKA_DSN": kafka_dsn, "LEDGER_CLICKHOUSE_DSN": f"chdb://{chdb_path}",
                         "LEDGER_CLICKHOUSE_DATABASE": "db_retention", "LEDGER_TOPIC_PREFIX": name}.items():
        monkeypatch.setenv(name_, value)
    for args in (["reconcile"], ["replay", "--rulebook", str(REPO_ROOT / "rules" / "2026.1.toml")]):
        settings.cache_clear()
        capsys.readouterr()
        try:
            code = cli.main(args)
        finally:
            settings.cache_clear()
        err = capsys.readouterr().err
        assert code == 2 and "retention.ms=604800000" in err, (args, code, err)
