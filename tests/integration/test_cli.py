"""The commands a user runs: post a file, read progress, export schemas, run the demo."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from tests.integration.conftest import run_cli
from tests.integration.events import CONTRACTOR, contract, enrolment, timesheet

pytestmark = pytest.mark.integration


def test_post_csv_reports_bad_lines_by_number_and_sends_the_rest(pipeline, tmp_path):
    pipeline.post(contract("c-csv"), enrolment("b-0000000040"))
    pipeline.wait_accounted()
    path = tmp_path / "timesheets.csv"
    columns = ["type", "event_id", "schema_version", "contract_id", "beneficiary_id", "work_date", "hours", "mode",
               "siae_siret", "submitted_at"]
    rows = [timesheet("c-csv", "b-0000000040", f"2024-02-{d:02d}", 7.5) for d in (5, 6, 7)]
    rows.insert(1, dict(timesheet("c-csv", "b-0000000040", "2024-02-08", 7), hours="25"))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in columns})

    done = run_cli("post", str(path), "--no-progress", env=pipeline.env())
    assert done.returncode == 1, done.stderr  # something was refused
    assert f"{path}:3: refused (invalid_event) hours: Input should be less than or equal to 24" in done.stderr
    assert "posted 3 events, refused 1 lines" in done.stdout
    pipeline.posted += 3
    pipeline.wait_accounted()
    assert pipeline.store.rows("hours_by_contract")[0]["hours"] == 22.5


def test_schemas_are_written_for_every_event_type(tmp_path, pipeline):
    done = run_cli("schemas", "--out", str(tmp_path), env=pipeline.env())
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in tmp_path.glob("*.schema.json"))
    assert written == ["beneficiary.enrolled.schema.json", "beneficiary.outcome.schema.json",
                       "claim.resolved.schema.json", "contract.registered.schema.json", "event.schema.json",
                       "pooling.agreed.schema.json", "programme.defined.schema.json", "siae.invoice.schema.json",
                       "timesheet.corrected.schema.json", "timesheet.retracted.schema.json",
                       "timesheet.submitted.schema.json"]
    timesheet_schema = json.loads((tmp_path / "timesheet.submitted.schema.json").read_text())
    assert timesheet_schema["additionalProperties"] is False
    assert "siae_subcontract" in json.dumps(timesheet_schema)
    assert CONTRACTOR  # fixture data uses a checked SIRET


@pytest.mark.slow
def test_demo_runs_on_the_broker_and_its_last_line_says_the_totals_match(kafka_dsn, tmp_path, pipeline):
    env = dict(pipeline.env(), LEDGER_KAFKA_DSN=kafka_dsn)
    env.pop("LEDGER_CLICKHOUSE_DSN")  # the demo's own embedded store, in its directory
    done = run_cli("demo", "--dir", str(tmp_path / "demo"), "--beneficiaries", "40", env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert "the hours in ClickHouse equal the hours the generator expects" in last
    assert (tmp_path / "demo" / "programme" / "expected.json").exists()


def test_the_worker_logs_at_its_level_without_building_records_for_debug_lines():
    import logging

    from streams.cli import faust_worker
    from streams.settings import Settings
    from streams.worker.app import build_worker

    app = build_worker(Settings()).app

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stdout, stderr = sys.stdout, sys.stderr
    worker = faust_worker(app, "warning")
    try:
        worker._setup_logging()
        assert root.level == logging.WARNING
        assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    finally:
        # _setup_logging enters mode's redirect_stdouts (sys.stdout to a logger). Left open, its
        # `finally` ran whenever the worker was garbage-collected, in a later test, and set
        # sys.stdout to sys.__stdout__ under that test's capture (test_report_writes_any_combination
        # lost its output that way, in full runs only).
        worker.exit_stack.close()
        sys.stdout, sys.stderr = stdout, stderr
        root.handlers[:] = handlers
        root.setLevel(level)
