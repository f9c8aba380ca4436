"""Who may name what (issue 11): a contractor's timesheets, a facilitator's beneficiaries, a buyer's
programmes and contracts. The ownership the gateway checks is what it recorded from earlier requests
Kafka acknowledged, never what the request being checked says."""

from __future__ import annotations

import pytest

from tests.support.gateway import (CONTRACTOR_A, CONTRACTOR_B, Client, contract, correction, enrolment, programme,
                                    reasons, retraction, timesheet)


@pytest.fixture
def gw(tmp_path):
    client = Client(tmp_path)
    client.buyer = client.issue("buyer", "sgp")
    client.a = client.issue("contractor", CONTRACTOR_A)
    client.b = client.issue("contractor", CONTRACTOR_B)
    assert client.post(client.buyer, [programme(), contract("c-a", CONTRACTOR_A),
                                      contract("c-b", CONTRACTOR_B)]).status_code == 202
    return client


# --- contractor against contractor ------------------------------------------------------------------

@pytest.mark.parametrize("undo", ["retracted", "corrected"])
def test_a_decoy_in_the_same_batch_does_not_let_a_contractor_undo_another_ones_timesheet(gw, undo):
    theirs = timesheet("c-b")
    assert gw.post(gw.b, theirs).status_code == 202
    sent = len(gw.broker.sent)
    decoy = dict(timesheet("c-a"), event_id=theirs["event_id"])  # B's event id on A's own contract
    # The retraction names A's own contract (which A holds) and B's timesheet.
    undoing = retraction(theirs, contract_id="c-a") if undo == "retracted" else correction(decoy, hours=1)
    answer = gw.post(gw.a, [decoy, undoing])
    assert answer.status_code == 403, answer.text
    assert reasons(answer) == [(1, "event_id_taken"), (2, "timesheet_not_yours")]
    assert len(gw.broker.sent) == sent  # nothing produced
    # B's timesheet is still B's: B may retract it, A still may not.
    assert gw.tokens.timesheet_owners({theirs["event_id"]}) == {theirs["event_id"]: CONTRACTOR_B}
    assert reasons(gw.post(gw.a, retraction(theirs, contract_id="c-a"))) == [(1, "timesheet_not_yours")]
    assert gw.post(gw.b, retraction(theirs)).status_code == 202


def test_a_retraction_names_only_a_timesheet_acknowledged_before_the_request(gw):
    mine = timesheet("c-a")
    answer = gw.post(gw.a, [mine, retraction(mine)])
    assert answer.status_code == 403 and reasons(answer) == [(2, "timesheet_not_yours")]
    assert gw.post(gw.a, mine).status_code == 202
    assert gw.post(gw.a, retraction(mine)).status_code == 202
    assert gw.post(gw.a, correction(mine, hours=6)).status_code == 202


def test_an_event_id_seen_from_another_party_is_refused_and_never_re_recorded(gw):
    theirs = timesheet("c-b")
    assert gw.post(gw.b, theirs).status_code == 202
    squat = dict(timesheet("c-a"), event_id=theirs["event_id"])
    answer = gw.post(gw.a, squat)
    assert answer.status_code == 403 and reasons(answer) == [(1, "event_id_taken")]
    # The same party posting its own event again (a retry) is fine.
    assert gw.post(gw.b, theirs).status_code == 202
    # Even recorded directly, a timesheet's first owner is kept.
    gw.tokens.record_timesheets([(theirs["event_id"], CONTRACTOR_A, "c-a")])
    assert gw.tokens.timesheet_owners({theirs["event_id"]}) == {theirs["event_id"]: CONTRACTOR_B}


def test_a_buyer_cannot_reuse_a_contractors_event_id(gw):
    theirs = timesheet("c-b")
    assert gw.post(gw.b, theirs).status_code == 202
    answer = gw.post(gw.buyer, dict(contract("c-new"), event_id=theirs["event_id"]))  # sgp's own contract
    assert answer.status_code == 403 and reasons(answer) == [(1, "event_id_taken")]


# --- facilitator against facilitator ------------------------------------------------------------------

def test_a_facilitator_may_not_re_enrol_or_decide_for_another_facilitators_beneficiary(gw):
    fac1, fac2 = gw.issue("facilitator", "fac-01"), gw.issue("facilitator", "fac-02")
    assert gw.post(fac2, enrolment("b-0000000009", "fac-02")).status_code == 202
    sent = len(gw.broker.sent)
    again = gw.post(fac1, enrolment("b-0000000009", "fac-01", eligible_from="2030-01-01"))
    assert again.status_code == 403 and reasons(again) == [(1, "beneficiary_not_yours")]
    outcome = {"type": "beneficiary.outcome", "event_id": "9d3e1b52-7f4a-4c1e-8a63-2b8f0c6d4e71",
               "schema_version": 1, "beneficiary_id": "b-0000000009", "facilitator_id": "fac-01",
               "outcome": "durable_job", "outcome_date": "2025-01-01"}
    assert reasons(gw.post(fac1, outcome)) == [(1, "beneficiary_not_yours")]
    resolved = {"type": "claim.resolved", "event_id": "1d3e1b52-7f4a-4c1e-8a63-2b8f0c6d4e71", "schema_version": 1,
                "flagged_event_id": "2d3e1b52-7f4a-4c1e-8a63-2b8f0c6d4e71", "beneficiary_id": "b-0000000009",
                "facilitator_id": "fac-01", "decision": "refuse", "reason": "not on site"}
    assert reasons(gw.post(fac1, resolved)) == [(1, "beneficiary_not_yours")]
    assert len(gw.broker.sent) == sent
    # Its own facilitator may enrol again (a changed enrolment) and decide.
    assert gw.post(fac2, enrolment("b-0000000009", "fac-02", eligible_from="2024-06-01")).status_code == 202
    assert gw.post(fac2, dict(outcome, facilitator_id="fac-02")).status_code == 202
    assert gw.post(fac1, enrolment("b-0000000010", "fac-01")).status_code == 202


def test_the_first_enrolment_wins_within_a_batch_of_two_facilitators_racing(gw):
    fac1, fac2 = gw.issue("facilitator", "fac-01"), gw.issue("facilitator", "fac-02")
    assert gw.post(fac1, [enrolment("b-0000000011", "fac-01")]).status_code == 202
    assert gw.post(fac2, [enrolment("b-0000000011", "fac-02")]).status_code == 403
    assert gw.tokens.owners("beneficiary", {"b-0000000011"}) == {"b-0000000011": "fac-01"}


# --- buyer against buyer ------------------------------------------------------------------------------

def test_another_buyer_cannot_re_register_a_contract_or_use_a_programme(gw):
    other = gw.issue("buyer", "other-buyer")
    sent = len(gw.broker.sent)
    hijack = gw.post(other, contract("c-a", CONTRACTOR_B, programme_id="elsewhere", target_hours=1,
                                     buyer_id="other-buyer"))
    assert hijack.status_code == 403 and reasons(hijack) == [(1, "contract_not_yours")]
    into = gw.post(other, contract("c-other", CONTRACTOR_B, buyer_id="other-buyer"))  # into sgp's programme gpe
    assert into.status_code == 403 and reasons(into) == [(1, "programme_not_yours")]
    redefine = gw.post(other, programme(buyer_id="other-buyer"))
    assert redefine.status_code == 403 and reasons(redefine) == [(1, "programme_not_yours")]
    # buyer_id names the token's own buyer, no other.
    posing = gw.post(other, contract("c-a", CONTRACTOR_B, target_hours=1))
    assert posing.status_code == 403 and set(reasons(posing)) == {(1, "not_your_buyer_id"),
                                                                  (1, "programme_not_yours"),
                                                                  (1, "contract_not_yours")}
    assert len(gw.broker.sent) == sent
    # The real contractor still holds its contract.
    assert gw.post(gw.a, timesheet("c-a")).status_code == 202
    # Its own buyer may move the contract to another holder.
    assert gw.post(gw.buyer, contract("c-a", CONTRACTOR_B)).status_code == 202
    assert gw.post(gw.a, timesheet("c-a")).status_code == 403
    assert gw.post(gw.b, timesheet("c-a")).status_code == 202
    # The other buyer may have programmes and contracts of its own.
    assert gw.post(other, [programme("p-other", buyer_id="other-buyer"),
                           contract("c-x", CONTRACTOR_B, programme_id="p-other", buyer_id="other-buyer")]
                   ).status_code == 202


def test_pooling_names_only_the_buyers_own_programme_and_contracts(gw):
    other = gw.issue("buyer", "other-buyer")
    pooling = {"type": "pooling.agreed", "event_id": "3d3e1b52-7f4a-4c1e-8a63-2b8f0c6d4e71", "schema_version": 1,
               "agreement_id": "pool-1", "programme_id": "gpe", "contractor_siret": CONTRACTOR_A,
               "contract_ids": ["c-a", "c-b"], "effective_from": "2024-01-01"}
    answer = gw.post(other, pooling)
    assert answer.status_code == 403 and set(reasons(answer)) == {(1, "programme_not_yours"),
                                                                  (1, "contract_not_yours")}
    assert gw.post(gw.buyer, pooling).status_code == 202
