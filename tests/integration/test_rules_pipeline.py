"""The counting rulebook through the real broker, worker, loader and ClickHouse engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.rulebook import Rulebook
from ledger.siret import with_check_digit
from streams.audit.replay import compare, replay
from streams.settings import REPO_ROOT
from tests.integration.events import ETTI, contract, enrolment, event, programme, timesheet

pytestmark = pytest.mark.integration

AI = with_check_digit("5120458100010")
GEIQ = with_check_digit("8012459300011")
EI = with_check_digit("3904411200014")
OTHER_CONTRACTOR = with_check_digit("5522214400013")


def counted(pipeline) -> dict[str, Decimal]:
    return {r["contract_id"]: r["hours"] for r in pipeline.store.rows("hours_by_contract")}


def withheld(pipeline) -> dict[tuple[str, str], Decimal]:
    return {(r["status"], r["reason"]): r["hours"] for r in pipeline.store.rows("withheld_hours")}


def test_every_delivery_mode_is_attributed_and_capped_and_a_replay_shows_a_new_rulebook(pipeline):
    pipeline.post(programme(), contract("c-1", start_date="2023-01-01"),
                  *[enrolment(f"b-000000000{n}", eligible_from="2023-01-01", eligible_until="2025-12-31")
                    for n in range(1, 7)])
    pipeline.wait_accounted()
    training = [timesheet("c-1", "b-0000000006", f"2024-04-{d:02d}", 8, mode="training") for d in range(1, 21)]
    pipeline.post(
        timesheet("c-1", "b-0000000001", "2024-03-04", 7, hire_type="fixed_term"),
        timesheet("c-1", "b-0000000002", "2024-03-04", 8, hire_type="permanent", hire_date="2024-01-15"),
        timesheet("c-1", "b-0000000002", "2025-01-15", 8, hire_type="permanent", hire_date="2024-01-15"),
        timesheet("c-1", "b-0000000003", "2024-03-04", 7, mode="temp_agency_etti", siae_siret=ETTI),
        timesheet("c-1", "b-0000000004", "2024-03-04", 7, mode="siae_placement_ai", siae_siret=AI),
        timesheet("c-1", "b-0000000005", "2024-03-04", 7, mode="geiq", siae_siret=GEIQ),
        *training,
        # An ACI/EI invoice: EUR 28,000 x 40% labour / EUR 28 an hour (rulebook) = 400 h.
        event("siae.invoice", invoice_id="inv-1", contract_id="c-1", siae_siret=EI, amount_eur=28000,
              period_start="2024-03-01", period_end="2024-03-31", labour_share=0.4,
              submitted_at="2024-04-02T09:00:00+00:00"))
    pipeline.wait_settled()

    # 7 + 8 (the permanent hire's 13th month does not count) + 7 + 7 + 7 + 150 (training cap) + 400
    assert counted(pipeline) == {"c-1": Decimal("586.00")}
    assert withheld(pipeline) == {("not_counted", "permanent_hire_cap_reached"): Decimal("8.00"),
                                  ("not_counted", "training_cap_reached"): Decimal("10.00")}
    by_partner = {r["siae_siret"]: r["hours"] for r in pipeline.rows(
        "SELECT siae_siret, toDecimal64(sum(hours), 2) AS hours FROM ledger_entries FINAL "
        "WHERE status = 'counted' AND siae_siret IS NOT NULL GROUP BY siae_siret")}
    assert by_partner == {ETTI: Decimal("7.00"), AI: Decimal("7.00"), GEIQ: Decimal("7.00"), EI: Decimal("400.00")}
    # Six people; the invoice's 400 h are nobody's (its entries have no beneficiary key).
    assert pipeline.rows("SELECT beneficiaries FROM contract_progress WHERE contract_id = 'c-1'") == [{"beneficiaries": 6}]
    assert pipeline.rows("SELECT count() AS n FROM programme_people") == [{"n": 6}]
    rules = {(r["rule"], r["rulebook_version"]) for r in pipeline.rows(
        "SELECT DISTINCT rule, rulebook_version FROM ledger_entries FINAL")}
    assert rules == {("eligible_on_contract", "2026.1"), ("permanent_hire_cap", "2026.1"),
                     ("training_cap", "2026.1"), ("siae_invoice_conversion", "2026.1")}

    # The same history under a rulebook that caps training at 100 h: only c-1's training changes.
    stricter = Rulebook.from_toml((REPO_ROOT / "rules" / "2026.1.toml").read_text().replace(
        'version = "2026.1"', 'version = "2026.2-test"').replace(
        "training_cap_hours = 150", "training_cap_hours = 100"))
    result = replay(pipeline.cfg, stricter, f"{pipeline.cfg.clickhouse_database}_replay")
    assert result.messages >= 28
    rows = compare(pipeline.store, result.database)
    assert rows == [{"contract_id": "c-1", "current": Decimal("586.00"), "replayed": Decimal("536.00"),
                     "difference": Decimal("-50.00")}]
    versions = pipeline.rows(f"SELECT DISTINCT rulebook_version FROM `{result.database}`.ledger_entries FINAL")
    assert versions == [{"rulebook_version": "2026.2-test"}]


def test_corrections_late_enrolment_over_claims_resolution_and_pooling(pipeline):
    pipeline.post(programme(), contract("c-1", target_hours=10), contract("c-3", target_hours=100),
                  contract("c-2", contractor_siret=OTHER_CONTRACTOR),
                  enrolment("b-0000000001"),
                  event("pooling.agreed", agreement_id="pool-1", programme_id="gpe",
                        contractor_siret=contract("x")["contractor_siret"], contract_ids=["c-1", "c-3"],
                        effective_from="2024-01-01"))
    pipeline.wait_accounted()
    t1 = timesheet("c-1", "b-0000000001", "2024-03-04", 7)
    t2 = timesheet("c-1", "b-0000000001", "2024-03-05", 8)
    t3 = timesheet("c-1", "b-0000000001", "2024-03-06", 8)
    t4 = timesheet("c-2", "b-0000000001", "2024-03-06", 4)  # 12 h that day across two contractors
    t5a = timesheet("c-1", "b-0000000001", "2024-03-07", 7)
    t5b = timesheet("c-2", "b-0000000001", "2024-03-07", 7)  # the same 7 h claimed by another contractor
    late = timesheet("c-1", "b-0000000009", "2024-03-04", 7)  # hired before the facilitator enrolled them
    pipeline.post(t1, t2, t3, t4, t5a, t5b, late)
    assert pipeline.wait_accounted()["pending"] == 1
    pipeline.post(
        enrolment("b-0000000009"),
        event("timesheet.corrected", original_event_id=t1["event_id"],
              **{k: v for k, v in t1.items() if k not in ("type", "event_id")} | {"hours": 6.5}),
        event("timesheet.retracted", original_event_id=t2["event_id"], beneficiary_id="b-0000000001",
              contract_id=t2["contract_id"],
              submitted_at="2024-03-08T10:00:00+00:00"),
        event("timesheet.retracted", original_event_id="6d0b6c3e-1111-4a8a-9c1e-5b0d7f0a0001",
              beneficiary_id="b-0000000001", contract_id="c-1", submitted_at="2024-03-08T10:00:00+00:00"))
    pipeline.wait_settled()
    pipeline.post(event("claim.resolved", flagged_event_id=t4["event_id"], beneficiary_id="b-0000000001",
                        facilitator_id="fac-01", decision="count", reason="night shift on another site, checked"))
    accounting = pipeline.wait_settled()

    # Both sides of each conflict are flagged; the facilitator counted t4, t3 still waits.
    assert counted(pipeline) == {"c-1": Decimal("13.50"), "c-2": Decimal("4.00")}  # 6.5 + 7 (late); 4
    assert withheld(pipeline) == {("flagged", "claimed_by_two_contractors"): Decimal("14.00"),
                                  ("flagged", "daily_maximum_exceeded"): Decimal("8.00")}
    reversals = pipeline.rows("SELECT hours, source_event_type FROM ledger_entries FINAL "
                              "WHERE kind = 'reversal' ORDER BY hours, source_event_type")
    assert [(r["hours"], r["source_event_type"]) for r in reversals] == [
        (Decimal("-8.00"), "timesheet.retracted"),  # t2
        (Decimal("-8.00"), "timesheet.submitted"),  # t3 flagged when t4 came
        (Decimal("-7.00"), "timesheet.corrected"),  # t1
        (Decimal("-7.00"), "timesheet.submitted"),  # t5a flagged when t5b came
        (Decimal("-4.00"), "claim.resolved")]  # t4's flagged entry, before its counted one
    reasons = {r["reason"]: r["events"] for r in pipeline.store.query(
        "SELECT reason, events FROM rejections_by_reason").named_results()}
    assert reasons == {"original_not_found": 1}
    assert accounting["accepted"] + accounting["rejected"] == pipeline.posted
    pending = pipeline.rows("SELECT state, reason FROM pending_timesheets FINAL ORDER BY state")
    assert pending == [{"state": "pending", "reason": "unknown_beneficiary"},
                       {"state": "resolved", "reason": "unknown_beneficiary"}]

    pooled = {r["contract_id"]: r for r in pipeline.rows("SELECT * FROM contract_progress_pooled")}
    assert (pooled["c-1"]["given_hours"], pooled["c-1"]["hours_pooled"]) == (Decimal("3.50"), Decimal("10.00"))
    assert (pooled["c-3"]["received_hours"], pooled["c-3"]["hours_pooled"]) == (Decimal("3.50"), Decimal("3.50"))
    assert pooled["c-2"]["hours_pooled"] == Decimal("4.00")
    assert sum(r["hours_pooled"] for r in pooled.values()) == Decimal("17.50")  # no hour counted twice


def test_a_retraction_ends_a_conflict_and_a_correction_waits_for_its_contract(pipeline):
    pipeline.post(programme(), contract("c-1"), contract("c-2", contractor_siret=OTHER_CONTRACTOR),
                  enrolment("b-0000000002"))
    pipeline.wait_accounted()
    a = timesheet("c-1", "b-0000000002", "2024-04-02", 7)
    b = timesheet("c-2", "b-0000000002", "2024-04-02", 7)  # the same 7 h from another contractor
    pipeline.post(a, b)
    pipeline.wait_accounted()
    assert withheld(pipeline) == {("flagged", "claimed_by_two_contractors"): Decimal("14.00")}

    # b was a mistake: its retraction leaves a alone on its day, counted again. Then a moves to a
    # contract registered later: the correction waits for it, and only then applies.
    pipeline.post(event("timesheet.retracted", original_event_id=b["event_id"], beneficiary_id="b-0000000002",
                        contract_id=b["contract_id"],
                        submitted_at="2024-04-03T09:00:00+00:00"),
                  event("timesheet.corrected", original_event_id=a["event_id"],
                        **{k: v for k, v in a.items() if k not in ("type", "event_id")} | {"contract_id": "c-9",
                                                                                          "hours": 6}))
    assert pipeline.wait_accounted()["pending"] == 1
    assert counted(pipeline).get("c-1") == Decimal("7.00") and withheld(pipeline) == {}
    pipeline.post(contract("c-9"))
    accounting = pipeline.wait_settled()
    assert {c: h for c, h in counted(pipeline).items() if h} == {"c-9": Decimal("6.00")}
    assert accounting["accepted"] == pipeline.posted and accounting["rejected"] == 0
    states = pipeline.rows("SELECT state, reason FROM pending_timesheets FINAL ORDER BY state")
    assert states == [{"state": "pending", "reason": "unknown_contract"},
                      {"state": "resolved", "reason": "unknown_contract"}]
    assert pipeline.rows("SELECT * FROM pending_now") == []


def test_a_decision_that_changes_nothing_is_stored_and_accounted(pipeline):
    """Two decisions on one conflict: refusing a ends it (b counts), so "count b" changes no entry.
    It is accepted all the same, and the store must count it (found by the loader-SIGKILL fault
    test: 2 such decisions were in no table the accounting reads, posted = accounted + 2)."""
    pipeline.post(programme(), contract("c-1"), contract("c-2", contractor_siret=OTHER_CONTRACTOR),
                  enrolment("b-0000000003"))
    pipeline.wait_accounted()
    a = timesheet("c-1", "b-0000000003", "2024-05-02", 7)
    b = timesheet("c-2", "b-0000000003", "2024-05-02", 7)  # the same 7 h claimed by another contractor
    pipeline.post(a, b)
    pipeline.wait_accounted()
    decide = {"beneficiary_id": "b-0000000003", "facilitator_id": "fac-01", "reason": "checked with both sites"}
    refuse_a = event("claim.resolved", flagged_event_id=a["event_id"], decision="refuse", **decide)
    count_b = event("claim.resolved", flagged_event_id=b["event_id"], decision="count", **decide)
    pipeline.post(refuse_a, count_b)
    accounting = pipeline.wait_settled()
    assert accounting["accepted"] == pipeline.posted and accounting["rejected"] == 0
    assert {c: h for c, h in counted(pipeline).items() if h} == {"c-2": Decimal("7.00")}
    decisions = pipeline.rows("SELECT toString(event_id) AS event_id, decision, contract_id, entries "
                              "FROM claim_resolutions FINAL ORDER BY decision")
    assert decisions == [
        {"event_id": count_b["event_id"], "decision": "count", "contract_id": "c-2", "entries": 0},
        {"event_id": refuse_a["event_id"], "decision": "refuse", "contract_id": "c-1", "entries": 4}]
