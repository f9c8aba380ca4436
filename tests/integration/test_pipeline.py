"""The whole path on real parts: intake topic -> Faust worker -> ledger topic -> loader -> ClickHouse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.events import ETTI, contract, enrolment, programme, timesheet

pytestmark = pytest.mark.integration


def hours_by_contract(pipeline) -> dict[str, Decimal]:
    return {r["contract_id"]: r["hours"] for r in pipeline.store.rows("hours_by_contract")}


def test_exact_hours_duplicates_once_and_every_bad_event_rejected_with_its_reason(pipeline_factory):
    """Countable hours count; hours outside the contract or the eligibility are recorded as not
    counting; what cannot be counted at all is rejected with its reason (unknown references only
    after waiting as pending: 30 min of stream time, passed by the test, not by the wall clock)."""
    pipeline = pipeline_factory(start=False)
    pipeline.cfg = pipeline.cfg.model_copy(update={"pending_timeout_hours": 0.5})
    pipeline.start_worker()
    pipeline.start_loader()
    pipeline.post(programme(), contract("c-a", target_hours=500), contract("c-b", operation_id="L16"),
                  enrolment("b-0000000001"), enrolment("b-0000000002", eligible_until="2024-06-30"))
    pipeline.wait_accounted()

    counted = [
        timesheet("c-a", "b-0000000001", "2024-03-04", 7.5),
        timesheet("c-a", "b-0000000001", "2024-03-05", 8),
        timesheet("c-b", "b-0000000002", "2024-03-04", 7, mode="temp_agency_etti", siae_siret=ETTI),
    ]
    duplicate = dict(counted[0])  # a contractor's retry after a timeout: same event, same id
    unknown_contract = timesheet("c-zzz", "b-0000000001", "2024-03-06")
    ineligible = timesheet("c-b", "b-0000000002", "2024-07-01")  # the day after eligible_until
    outside_contract = timesheet("c-a", "b-0000000001", "2027-01-04")
    unknown_beneficiary = timesheet("c-a", "b-0099999999", "2024-03-04")
    malformed = '{"type": "timesheet.submitted", "hours": '
    wrong_type = dict(timesheet("c-a", "b-0000000001", "2024-03-07"), hours=True)
    pipeline.post(*counted, duplicate, unknown_contract, ineligible, outside_contract, unknown_beneficiary,
                  malformed, wrong_type)
    accounting = pipeline.wait_accounted()
    assert accounting["pending"] == 2  # the unknown contract and the unknown beneficiary wait
    pipeline.let_time_pass()
    accounting = pipeline.wait_settled()

    assert hours_by_contract(pipeline) == {"c-a": Decimal("15.50"), "c-b": Decimal("7.00")}
    assert accounting["accepted"] == 5 + 3 + 2
    assert accounting["rejected"] == 5
    assert accounting["accepted"] + accounting["rejected"] == pipeline.posted == 15
    withheld = {(r["status"], r["reason"]): r["hours"] for r in pipeline.store.rows("withheld_hours")}
    assert withheld == {("not_counted", "not_eligible_on_work_date"): Decimal("7.00"),
                        ("not_counted", "outside_contract_period"): Decimal("7.00")}

    rejected = pipeline.rejection_topic(expected=5)
    by_event = {r["event_id"]: r["reason"] for r in rejected}
    assert by_event[duplicate["event_id"]] == "duplicate_event"
    assert by_event[unknown_contract["event_id"]] == "unknown_contract"
    assert by_event[unknown_beneficiary["event_id"]] == "unknown_beneficiary"
    assert ineligible["event_id"] not in by_event and outside_contract["event_id"] not in by_event
    assert by_event[wrong_type["event_id"]] == "invalid_event"
    assert by_event[None] == "invalid_json"
    # The rejection keeps the original payload, so the sender can see what it sent.
    assert next(r for r in rejected if r["event_id"] is None)["payload"] == malformed
    assert "hours" in next(r for r in rejected if r["event_id"] == wrong_type["event_id"])["detail"]

    progress = {r["contract_id"]: r for r in pipeline.store.rows("contract_progress")}
    assert progress["c-a"]["target_hours"] == Decimal("500.00")
    assert progress["c-a"]["pct_done"] == pytest.approx(3.1)
    programme_row = pipeline.store.rows("programme_progress")[0]
    assert programme_row["hours_done"] == Decimal("22.50")
    assert programme_row["contracts"] == 2

    # The partner and every party are on the entry, for the roll-ups to come.
    entry = pipeline.rows("SELECT * FROM ledger_entries FINAL WHERE source_event_id = {id:UUID}",
                          id=counted[2]["event_id"])[0]
    assert (entry["siae_siret"], entry["operation_id"], entry["programme_id"], entry["mode"]) == \
        (ETTI, "L16", "gpe", "temp_agency_etti")


def test_contract_target_computed_from_amount(pipeline):
    pipeline.post(contract("c-amount", target_hours=None, amount_eur=1_000_000, labour_share=0.5,
                           clause_rate=0.05, hourly_cost_eur=30))
    pipeline.wait_accounted()
    row = pipeline.store.rows("contract_progress")[0]
    assert row["target_hours"] == Decimal("833.33")  # EUR 1M x 50% x 5% / 30 (facilitator guides)


def test_several_events_in_one_message_keep_their_own_ids(pipeline):
    import json

    pipeline.post(contract("c-batch"), enrolment("b-0000000010"))
    pipeline.wait_accounted()
    sheets = [timesheet("c-batch", "b-0000000010", f"2024-04-{d:02d}", 7) for d in (1, 2, 3)]
    batch = json.dumps(sheets + [sheets[0], {"type": "timesheet.submitted"}])
    pipeline.producer.send(batch.encode(), "b-0000000010").get(timeout=30)
    pipeline.posted += 5
    accounting = pipeline.wait_accounted()
    assert accounting["accepted"] == 2 + 3 and accounting["rejected"] == 2
    assert hours_by_contract(pipeline) == {"c-batch": Decimal("21.00")}


def test_replaying_the_ledger_topic_into_the_store_counts_nothing_twice(pipeline):
    pipeline.post(contract("c-r"), enrolment("b-0000000020"),
                  *[timesheet("c-r", "b-0000000020", f"2024-05-{d:02d}", 7) for d in range(1, 21)])
    pipeline.wait_accounted()
    before = hours_by_contract(pipeline)
    # A loader in a new consumer group reads both topics again from offset 0 into the same tables.
    pipeline.stop_loader()
    pipeline.cfg = pipeline.cfg.model_copy(update={"loader_group": pipeline.cfg.loader_group + "-replay"})
    pipeline.start_loader()
    deadline = __import__("time").monotonic() + 60
    while pipeline.loader.records_loaded < 22 and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.2)
    assert pipeline.loader.records_loaded >= 22
    assert hours_by_contract(pipeline) == before == {"c-r": Decimal("140.00")}
    assert pipeline.wait_accounted()["accepted"] == 22


def test_worker_killed_and_restarted_keeps_its_tables_and_counts_each_event_once(pipeline):
    pipeline.post(contract("c-k"), enrolment("b-0000000030"))
    first = [timesheet("c-k", "b-0000000030", f"2024-06-{d:02d}", 8) for d in range(1, 11)]
    pipeline.post(*first)
    pipeline.wait_accounted()
    pipeline.stop_worker(kill=True)
    # While the worker is down: new timesheets, and retries of already counted ones.
    pipeline.post(*[timesheet("c-k", "b-0000000030", f"2024-06-{d:02d}", 8) for d in range(11, 16)], *first[:3])
    pipeline.start_worker()
    # Settled, not just accounted: the first ten wait (pending) for the contract their partition
    # learns a moment after its own decides it, and are released by the new worker.
    accounting = pipeline.wait_settled(timeout=180)
    assert hours_by_contract(pipeline) == {"c-k": Decimal("120.00")}
    assert accounting["duplicates"] == 3
    assert accounting["accepted"] + accounting["rejected"] == pipeline.posted
