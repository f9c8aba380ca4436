"""The event contract: what parses, what is refused, with which reason code and which field named."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from uuid import UUID

import pytest

from ledger.events import (
    EVENT_TYPES,
    BeneficiaryEnrolled,
    ContractRegistered,
    Criterion,
    Gender,
    HireType,
    InvalidEvent,
    Mode,
    ProgrammeDefined,
    TimesheetCorrected,
    TimesheetSubmitted,
    json_schemas,
    parse_event,
    partition_key,
    target_hours_from_amount,
)
from ledger.rulebook import Rulebook

PARTNER_MODES = ["temp_agency_etti", "siae_placement_ai", "siae_subcontract", "geiq"]
OWN_MODES = ["direct_hire", "training"]
TYPES = ["programme.defined", "contract.registered", "beneficiary.enrolled", "timesheet.submitted",
         "timesheet.corrected", "timesheet.retracted", "siae.invoice", "pooling.agreed", "claim.resolved",
         "beneficiary.outcome"]
# Builders of the conftest per event type, with every kind of event the ledger accepts.
KINDS = ["programme", "contract", "enrolment", "timesheet", "correction", "retraction", "invoice", "pooling",
         "resolution", "outcome"]


def build(ev, kind: str, changes: dict) -> dict:
    if kind in ("correction", "retraction", "resolution"):  # about an earlier timesheet
        return getattr(ev, kind)(ev.timesheet(), **changes)
    return getattr(ev, kind)(**changes)


# ---------------------------------------------------------------------------------------- valid events

def test_programme_parses(ev):
    event = ev.programme(event_id="0f8fad5b-d9cb-469f-a165-70867728950e")
    parsed = parse_event(ev.raw(event))
    assert isinstance(parsed, ProgrammeDefined)
    assert parsed.event_id == UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert parsed.programme_id == "gpe"
    assert parsed.target_hours == Decimal(14_000_000)
    assert parsed.start_date == dt.date(2017, 1, 1) and parsed.end_date == dt.date(2032, 12, 31)


def test_contract_with_target_parses(ev):
    parsed = parse_event(ev.raw(ev.contract(target_hours=1200.5)))
    assert isinstance(parsed, ContractRegistered)
    assert parsed.contract_id == "gpe-c001" and parsed.operation_id == "L15S" and parsed.lot == "GC-01"
    assert parsed.contractor_siret == "73282932000074"
    assert parsed.start_date == dt.date(2024, 1, 1) and parsed.end_date == dt.date(2024, 12, 31)
    assert parsed.target_hours == Decimal("1200.5")
    assert Rulebook().target_hours(parsed) == Decimal("1200.5")  # declared: the rulebook keeps it


def test_contract_target_from_tender_formula(ev):
    # domain.md: EUR 1,000,000 x 50% labour x 5% clause / EUR 30 an hour = 25,000 / 30 = 833.33 h.
    event = ev.contract(target_hours=..., amount_eur=1_000_000, labour_share=0.5, clause_rate=0.05,
                        hourly_cost_eur=30)
    parsed = parse_event(ev.raw(event))
    assert parsed.target_hours is None
    assert Rulebook().target_hours(parsed) == Decimal("833.33")


@pytest.mark.parametrize("given, expected", [
    # Rates the contract leaves out are the rulebook's defaults in force at start_date:
    # labour share 0.5, clause rate 0.05, EUR 28 an hour.
    ({}, "892.86"),                                                  # 1M x 0.5 x 0.05 / 28 = 892.857...
    ({"hourly_cost_eur": 25}, "1000.00"),                            # 1M x 0.5 x 0.05 / 25
    ({"labour_share": 0.4, "clause_rate": 0.1}, "1428.57"),          # 1M x 0.4 x 0.1 / 28 = 1428.571...
    ({"labour_share": 0.5, "clause_rate": 0.05, "hourly_cost_eur": 30}, "833.33"),
])
def test_contract_with_amount_alone_takes_the_rates_from_the_rulebook(ev, given, expected):
    parsed = parse_event(ev.raw(ev.contract(target_hours=..., amount_eur=1_000_000, **given)))
    assert Rulebook().target_hours(parsed) == Decimal(expected)


@pytest.mark.parametrize("amount, labour, rate, cost, expected", [
    ("1000000", "0.5", "0.05", "30", "833.33"),    # 25000 / 30 = 833.333...
    ("1000000", "0.5", "0.05", "25", "1000.00"),   # 25000 / 25
    ("1000000", "0.5", "0.1", "28", "1785.71"),    # 50000 / 28 = 1785.714...
    ("1000000", "0.5", "0.05", "28", "892.86"),    # 25000 / 28 = 892.857...
    ("1001", "0.5", "0.05", "1", "25.03"),         # 25.025 exactly: half up, not to even
    ("12345.67", "0.4321", "0.1", "27.5", "19.40"),  # 533.4564007 / 27.5 = 19.3984...
])
def test_target_hours_from_amount(amount, labour, rate, cost, expected):
    result = target_hours_from_amount(Decimal(amount), Decimal(labour), Decimal(rate), Decimal(cost))
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2


def test_enrolment_parses(ev):
    parsed = parse_event(ev.raw(ev.enrolment(criteria=["rsa", "rqth"], eligible_until="2025-03-14")))
    assert isinstance(parsed, BeneficiaryEnrolled)
    assert parsed.beneficiary_id == "b-3f9a1c2e7d"
    assert parsed.criteria == [Criterion.RSA, Criterion.RQTH]
    assert parsed.eligible_from == dt.date(2024, 3, 15) and parsed.eligible_until == dt.date(2025, 3, 14)
    assert parsed.birth_year == 1990 and parsed.gender is Gender.FEMALE


def test_enrolment_without_until_leaves_it_to_the_rulebook(ev):
    parsed = parse_event(ev.raw(ev.enrolment(birth_year=..., gender=...)))
    assert parsed.eligible_until is None and parsed.birth_year is None and parsed.gender is None


def test_timesheet_parses(ev):
    parsed = parse_event(ev.raw(ev.timesheet()))
    assert isinstance(parsed, TimesheetSubmitted)
    assert parsed.contract_id == "gpe-c001" and parsed.beneficiary_id == "b-3f9a1c2e7d"
    assert parsed.work_date == dt.date(2024, 6, 3)
    assert parsed.hours == Decimal("7.5")
    assert parsed.mode is Mode.DIRECT_HIRE and parsed.siae_siret is None
    assert parsed.submitted_at == dt.datetime(2024, 6, 3, 16, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("kind, type_", list(zip(KINDS, TYPES)))
def test_every_kind_of_event_parses_to_its_model(ev, kind, type_):
    event = build(ev, kind, {})
    parsed = parse_event(ev.raw(event))
    assert parsed.type == type_ and isinstance(parsed, EVENT_TYPES[type_])
    assert str(parsed.event_id) == event["event_id"]


def test_correction_names_its_original_and_restates_the_hours(ev):
    original = ev.timesheet(hours=7)
    parsed = parse_event(ev.raw(ev.correction(original, hours=6.5)))
    assert isinstance(parsed, TimesheetCorrected)
    assert parsed.original_event_id == UUID(original["event_id"]) != parsed.event_id
    assert parsed.hours == Decimal("6.5") and parsed.work_date == dt.date(2024, 6, 3)


def test_permanent_hire_and_eligibility_details_parse(ev):
    sheet = parse_event(ev.raw(ev.timesheet(hire_type="permanent", hire_date="2024-03-10")))
    assert sheet.hire_type is HireType.PERMANENT and sheet.hire_date == dt.date(2024, 3, 10)
    assert parse_event(ev.raw(ev.timesheet())).hire_type is None  # fixed term unless told
    person = parse_event(ev.raw(ev.enrolment(criteria=["facilitator_validation"], validated_on="2024-03-12",
                                             proof_valid_until="2025-01-31",
                                             derogation_reason="long inactivity after an illness")))
    assert person.validated_on == dt.date(2024, 3, 12) and person.proof_valid_until == dt.date(2025, 1, 31)
    assert person.derogation_reason == "long inactivity after an illness"


@pytest.mark.parametrize("mode", PARTNER_MODES)
def test_partner_mode_with_partner_parses(ev, mode):
    parsed = parse_event(ev.raw(ev.timesheet(mode=mode, siae_siret=ev.PARTNER_SIRET)))
    assert parsed.mode.value == mode and parsed.siae_siret == "44306184100047"


@pytest.mark.parametrize("kind, changes", [
    ("timesheet", {"hours": 24}),
    ("timesheet", {"hours": 0.01}),
    ("timesheet", {"hours": 7.25}),
    ("timesheet", {"hours": 8}),
    ("timesheet", {"mode": "training"}),
    ("timesheet", {"submitted_at": "2024-06-03T18:00:00Z"}),
    ("timesheet", {"beneficiary_id": "b-123456"}),                 # 8 characters: the minimum
    ("timesheet", {"beneficiary_id": "a" * 64}),                   # the maximum
    ("timesheet", {"beneficiary_id": "0f3a_9c-1e"}),
    ("timesheet", {"contract_id": "GPE/L15S:lot-01.a"}),
    ("contract", {"start_date": "2024-05-05", "end_date": "2024-05-05"}),
    ("contract", {"target_hours": 0}),
    ("enrolment", {"eligible_until": "2024-03-15"}),                # a one-day window
    ("enrolment", {"criteria": [c.value for c in Criterion],         # all ten criteria once; the
                   "derogation_reason": "long inactivity, assessed"}),  # facilitator's one needs a reason
    ("enrolment", {"criteria": ["facilitator_validation"], "derogation_reason": "x" * 10}),
    ("enrolment", {"criteria": ["facilitator_validation"], "derogation_reason": "x" * 500}),
    ("enrolment", {"validated_on": "2024-03-10", "proof_valid_until": "2024-03-15"}),  # proof for one day
    ("enrolment", {"eligible_until": "2026-03-14", "proof_valid_until": "2025-01-31"}),
    ("timesheet", {"hire_type": "fixed_term"}),
    ("timesheet", {"hire_type": "apprenticeship"}),
    ("timesheet", {"hire_type": "permanent", "hire_date": "2024-06-03"}),  # hired that very day
    ("timesheet", {"hire_type": "permanent", "hire_date": "2019-01-07"}),
    ("contract", {"target_hours": ..., "amount_eur": 1_000_000}),  # the rates are the rulebook's
    ("contract", {"target_hours": ..., "amount_eur": 0.01, "labour_share": 1, "clause_rate": 1}),
    ("correction", {"hours": 0.5}),
    ("retraction", {"reason": ...}),
    ("invoice", {"labour_share": ...}),                             # the rulebook's labour share
    ("invoice", {"period_start": "2024-05-31", "period_end": "2024-05-31"}),
    ("invoice", {"labour_share": 1}),
    ("pooling", {"contract_ids": [f"gpe-c{n:03d}" for n in range(100)], "effective_until": "2030-12-31"}),
    ("resolution", {"decision": "refuse", "reason": "abc"}),
    ("outcome", {"outcome": "positive_exit", "detail": "qualifying_training"}),
    ("outcome", {"outcome": "transition_job", "detail": ...}),
    ("enrolment", {"birth_year": 1940}),
    ("enrolment", {"birth_year": 2015}),
    ("programme", {"start_date": "2020-01-01", "end_date": "2020-01-01"}),
])
def test_boundary_values_are_accepted(ev, kind, changes):
    event = build(ev, kind, changes)
    parsed = parse_event(ev.raw(event))
    assert str(parsed.event_id) == event["event_id"]


# ---------------------------------------------------------------------------------------- refused events

BAD = [
    # --- unknown fields: personal data cannot sneak in under another name
    ("timesheet", {"overtime": True}, "invalid_event", "overtime: Extra inputs are not permitted"),
    ("enrolment", {"name": "Jean Dupont"}, "invalid_event", "name: Extra inputs are not permitted"),
    ("enrolment", {"nir": "185057800608436"}, "invalid_event", "nir: Extra inputs are not permitted"),
    # --- wrong JSON types
    ("timesheet", {"hours": True}, "invalid_event", "hours: "),
    ("timesheet", {"hours": None}, "invalid_event", "hours: "),
    ("timesheet", {"hours": [7]}, "invalid_event", "hours: "),
    pytest.param("timesheet", {"hours": "7.5"}, "invalid_event", "hours: "),
    pytest.param("contract", {"target_hours": "1000"}, "invalid_event", "target_hours: "),
    ("contract", {"labour_share": True, "target_hours": ..., "amount_eur": 1, "clause_rate": 0.05,
                  "hourly_cost_eur": 30}, "invalid_event", "labour_share: "),
    ("enrolment", {"birth_year": True}, "invalid_event", "birth_year: "),
    ("enrolment", {"birth_year": "1990"}, "invalid_event", "birth_year: "),
    ("timesheet", {"event_id": 12}, "invalid_event", "event_id: "),
    ("timesheet", {"event_id": "not-a-uuid"}, "invalid_event", "event_id: "),
    ("timesheet", {"work_date": 20240603}, "invalid_event", "work_date: "),
    ("timesheet", {"work_date": "03/06/2024"}, "invalid_event", "work_date: "),
    ("timesheet", {"work_date": "2024-02-30"}, "invalid_event", "work_date: "),
    ("timesheet", {"mode": "overtime"}, "invalid_event", "mode: "),
    ("timesheet", {"contract_id": "gpe c001"}, "invalid_event", "contract_id: String should match pattern"),
    ("timesheet", {"contract_id": ""}, "invalid_event", "contract_id: "),
    # --- hours: more than zero, at most a day, at most two decimals
    ("timesheet", {"hours": 0}, "invalid_event", "hours: Input should be greater than 0"),
    ("timesheet", {"hours": -7}, "invalid_event", "hours: Input should be greater than 0"),
    ("timesheet", {"hours": 24.01}, "invalid_event", "hours: Input should be less than or equal to 24"),
    ("timesheet", {"hours": 30}, "invalid_event", "hours: Input should be less than or equal to 24"),
    ("timesheet", {"hours": 7.125}, "invalid_event", "hours: Decimal input should have no more than 2 decimal"),
    ("timesheet", {"hours": 0.001}, "invalid_event", "hours: Decimal input should have no more than 2 decimal"),
    # --- missing required fields
    ("timesheet", {"hours": ...}, "invalid_event", "hours: Field required"),
    ("timesheet", {"submitted_at": ...}, "invalid_event", "submitted_at: Field required"),
    ("timesheet", {"event_id": ...}, "invalid_event", "event_id: Field required"),
    ("timesheet", {"schema_version": ...}, "invalid_event", "schema_version: Field required"),
    # --- the partner: named exactly when a partner delivers the hours
    *[("timesheet", {"mode": m}, "invalid_event", f"siae_siret is required when mode is {m}")
      for m in PARTNER_MODES],
    *[("timesheet", {"mode": m, "siae_siret": "44306184100047"}, "invalid_event",
       f"siae_siret must be absent when mode is {m}") for m in OWN_MODES],
    ("timesheet", {"mode": "geiq", "siae_siret": "44306184100048"}, "invalid_event",
     "siae_siret: Value error, not a valid SIRET"),
    ("timesheet", {"mode": "geiq", "siae_siret": "4430618410004"}, "invalid_event", "siae_siret: "),
    # --- the submission time must say its time zone
    ("timesheet", {"submitted_at": "2024-06-03T18:00:00"}, "invalid_event",
     "submitted_at: Input should have timezone info"),
    ("timesheet", {"submitted_at": 1717430400}, "invalid_event", "submitted_at: "),
    # --- the beneficiary key: pseudonymous only
    ("timesheet", {"beneficiary_id": "Jean Dupont"}, "invalid_event", "beneficiary_id: String should match pattern"),
    ("timesheet", {"beneficiary_id": "jean.dupont@mail.fr"}, "invalid_event", "beneficiary_id: String should match"),
    ("timesheet", {"beneficiary_id": "185057800608436"}, "invalid_event",
     "beneficiary_id: Value error, looks like a national identification number"),
    ("enrolment", {"beneficiary_id": "1850578006084"}, "invalid_event",
     "beneficiary_id: Value error, looks like a national identification number"),
    ("timesheet", {"beneficiary_id": "B-3F9A1C2E7D"}, "invalid_event", "beneficiary_id: String should match pattern"),
    ("timesheet", {"beneficiary_id": "b-3f9a1"}, "invalid_event", "beneficiary_id: String should have at least 8"),
    ("timesheet", {"beneficiary_id": "a" * 65}, "invalid_event", "beneficiary_id: String should have at most 64"),
    ("timesheet", {"beneficiary_id": "-3f9a1c2e7d"}, "invalid_event", "beneficiary_id: String should match pattern"),
    # --- the contract's target: given, or computed from all four inputs, never both
    ("contract", {"target_hours": ...}, "invalid_event", "give target_hours, or amount_eur (with labour_share, "
     "clause_rate and hourly_cost_eur, or the rulebook's rates in force at start_date)"),
    ("contract", {"target_hours": ..., "labour_share": 0.5, "clause_rate": 0.05, "hourly_cost_eur": 30},
     "invalid_event", "give target_hours, or amount_eur"),  # rates without the amount: nothing to multiply
    ("contract", {"amount_eur": 1_000_000, "labour_share": 0.5, "clause_rate": 0.05, "hourly_cost_eur": 30},
     "invalid_event", "give target_hours or the inputs to compute it, not both"),
    ("contract", {"hourly_cost_eur": 30}, "invalid_event", "give target_hours or the inputs to compute it, not both"),
    ("contract", {"target_hours": -1}, "invalid_event", "target_hours: Input should be greater than or equal to 0"),
    ("contract", {"target_hours": ..., "amount_eur": 1_000_000, "labour_share": 1.5, "clause_rate": 0.05,
                  "hourly_cost_eur": 30}, "invalid_event", "labour_share: Input should be less than or equal to 1"),
    ("contract", {"target_hours": ..., "amount_eur": 1_000_000, "labour_share": 0.5, "clause_rate": 0,
                  "hourly_cost_eur": 30}, "invalid_event", "clause_rate: Input should be greater than 0"),
    ("contract", {"target_hours": ..., "amount_eur": 10.005, "labour_share": 0.5, "clause_rate": 0.05,
                  "hourly_cost_eur": 30}, "invalid_event", "amount_eur: Decimal input should have no more than 2"),
    ("contract", {"contractor_siret": "73282932000075"}, "invalid_event",
     "contractor_siret: Value error, not a valid SIRET"),
    ("contract", {"contractor_siret": 73282932000074}, "invalid_event", "contractor_siret: "),
    # --- periods: the end is not before the start
    ("contract", {"end_date": "2023-12-31"}, "invalid_event", "end_date is before start_date"),
    ("programme", {"end_date": "2016-12-31"}, "invalid_event", "end_date is before start_date"),
    ("enrolment", {"eligible_until": "2024-03-14"}, "invalid_event", "eligible_until is before eligible_from"),
    # --- criteria: a closed set, each once, at least one
    ("enrolment", {"criteria": ["rsa", "rqth", "rsa"]}, "invalid_event", "criteria are repeated"),
    ("enrolment", {"criteria": ["rsa", "martian"]}, "invalid_event", "criteria.1: Input should be"),
    ("enrolment", {"criteria": []}, "invalid_event", "criteria: List should have at least 1 item"),
    ("enrolment", {"criteria": "rsa"}, "invalid_event", "criteria: "),
    ("enrolment", {"birth_year": 1939}, "invalid_event", "birth_year: Input should be greater than or equal to 1940"),
    ("enrolment", {"gender": "female"}, "invalid_event", "gender: Input should be 'F', 'M' or 'X'"),
    ("programme", {"name": ""}, "invalid_event", "name: String should have at least 1 character"),
    # --- version and type
    ("timesheet", {"schema_version": 2}, "invalid_event", "schema_version: Input should be 1"),
    ("contract", {"schema_version": "1"}, "invalid_event", "schema_version: Value error, must be a JSON integer"),
    pytest.param("timesheet", {"schema_version": True}, "invalid_event", "schema_version: "),
    ("timesheet", {"type": "timesheet.corrected"}, "invalid_event", "original_event_id: Field required"),
    ("timesheet", {"type": "timesheet.deleted"}, "invalid_event",
     "event: Input tag 'timesheet.deleted' found using 'type' does not match any of the expected tags"),
    # --- eligibility: a derogation says why; the proof is valid from the start at least
    ("enrolment", {"criteria": ["facilitator_validation"]}, "invalid_event",
     "derogation_reason is required with criterion facilitator_validation"),
    ("enrolment", {"criteria": ["rsa", "facilitator_validation"]}, "invalid_event",
     "derogation_reason is required with criterion facilitator_validation"),
    ("enrolment", {"criteria": ["facilitator_validation"], "derogation_reason": "too short"}, "invalid_event",
     "derogation_reason: String should have at least 10 characters"),
    ("enrolment", {"criteria": ["facilitator_validation"], "derogation_reason": "x" * 501}, "invalid_event",
     "derogation_reason: String should have at most 500 characters"),
    ("enrolment", {"proof_valid_until": "2024-03-14"}, "invalid_event", "proof_valid_until is before eligible_from"),
    ("enrolment", {"validated_on": "15/03/2024"}, "invalid_event", "validated_on: "),
    # --- the kind of hire: direct hires only; a permanent one says when it began
    ("timesheet", {"hire_type": "permanent"}, "invalid_event", "hire_date is required for a permanent hire"),
    ("timesheet", {"hire_type": "permanent", "hire_date": "2024-06-04"}, "invalid_event",
     "hire_date is after work_date"),
    ("timesheet", {"hire_type": "interim"}, "invalid_event",
     "hire_type: Input should be 'fixed_term', 'permanent' or 'apprenticeship'"),
    ("timesheet", {"mode": "training", "hire_type": "fixed_term"}, "invalid_event",
     "hire_type applies to mode direct_hire only"),
    ("timesheet", {"mode": "geiq", "siae_siret": "44306184100047", "hire_type": "permanent",
                   "hire_date": "2024-01-02"}, "invalid_event", "hire_type applies to mode direct_hire only"),
    # --- corrections and retractions name the original timesheet
    ("correction", {"original_event_id": ...}, "invalid_event", "original_event_id: Field required"),
    ("correction", {"original_event_id": "not-a-uuid"}, "invalid_event", "original_event_id: Input should be a valid UUID"),
    ("correction", {"hours": 0}, "invalid_event", "hours: Input should be greater than 0"),
    ("correction", {"mode": "geiq"}, "invalid_event", "siae_siret is required when mode is geiq"),
    ("retraction", {"original_event_id": ...}, "invalid_event", "original_event_id: Field required"),
    ("retraction", {"hours": 7}, "invalid_event", "hours: Extra inputs are not permitted"),
    ("retraction", {"submitted_at": "2024-06-10T09:00:00"}, "invalid_event",
     "submitted_at: Input should have timezone info"),
    # --- invoices, pooling, resolutions, outcomes
    ("invoice", {"period_end": "2024-04-30"}, "invalid_event", "period_end is before period_start"),
    ("invoice", {"labour_share": 0}, "invalid_event", "labour_share: Input should be greater than 0"),
    ("invoice", {"labour_share": 1.01}, "invalid_event", "labour_share: Input should be less than or equal to 1"),
    ("invoice", {"amount_eur": 0}, "invalid_event", "amount_eur: Input should be greater than 0"),
    ("invoice", {"amount_eur": "28000"}, "invalid_event", "amount_eur: "),
    ("invoice", {"siae_siret": ...}, "invalid_event", "siae_siret: Field required"),
    ("pooling", {"contract_ids": ["gpe-c001"]}, "invalid_event", "contract_ids: List should have at least 2 items"),
    ("pooling", {"contract_ids": ["gpe-c001", "gpe-c001"]}, "invalid_event", "contract_ids are repeated"),
    ("resolution", {"decision": "maybe"}, "invalid_event", "decision: Input should be 'count' or 'refuse'"),
    ("resolution", {"reason": "ok"}, "invalid_event", "reason: String should have at least 3 characters"),
    ("resolution", {"flagged_event_id": ...}, "invalid_event", "flagged_event_id: Field required"),
    ("outcome", {"outcome": "retired"}, "invalid_event",
     "outcome: Input should be 'durable_job', 'transition_job' or 'positive_exit'"),
    ("outcome", {"detail": "CDI"}, "invalid_event", "detail: String should match pattern"),
    ("outcome", {"name": "Jean Dupont"}, "invalid_event", "name: Extra inputs are not permitted"),
    ("timesheet", {"type": ...}, "invalid_event", "event: Unable to extract tag using discriminator 'type'"),
]


def _case_id(row) -> str:
    kind, changes, reason, _ = getattr(row, "values", row)
    shown = ",".join(f"{k}={'absent' if v is ... else json.dumps(v)[:20]}" for k, v in changes.items())
    return f"{kind}[{shown}]->{reason}"


@pytest.mark.parametrize("kind, changes, reason, fragment", BAD, ids=[_case_id(row) for row in BAD])
def test_bad_event_is_refused_with_reason_and_field(ev, kind, changes, reason, fragment):
    with pytest.raises(InvalidEvent) as refused:
        parse_event(ev.raw(build(ev, kind, changes)))
    assert refused.value.reason == reason
    assert fragment in refused.value.detail
    assert str(refused.value) == f"{reason}: {refused.value.detail}"


def test_only_the_wrong_field_is_named(ev):
    with pytest.raises(InvalidEvent) as refused:
        parse_event(ev.raw(ev.timesheet(hours=25, overtime=1)))
    assert refused.value.detail == ("hours: Input should be less than or equal to 24; "
                                    "overtime: Extra inputs are not permitted")


@pytest.mark.parametrize("raw, reason, fragment", [
    (b'{"type": "timesheet.submitted", "hours": 7', "invalid_json", "event: Invalid JSON: EOF while parsing"),
    (b"", "invalid_json", "event: Invalid JSON"),
    (b"{'type': 'timesheet.submitted'}", "invalid_json", "event: Invalid JSON"),
    (b'{"hours": 7,}', "invalid_json", "event: Invalid JSON"),
    (b"\xff\xfe{}", "invalid_json", "event: Invalid JSON"),
    ("hours=7", "invalid_json", "event: Invalid JSON"),
    (b"42", "invalid_event", "event: Input should be an object"),
    (b"null", "invalid_event", "event: Input should be an object"),
    (b'[{"type": "timesheet.submitted"}]', "invalid_event", "event: Input should be an object"),
])
def test_bad_json(raw, reason, fragment):
    with pytest.raises(InvalidEvent) as refused:
        parse_event(raw)
    assert refused.value.reason == reason
    assert fragment in refused.value.detail
    assert refused.value.event_id is None  # from bytes, the intake desk peeks itself


def test_invalid_dict_keeps_its_identity(ev):
    event = ev.timesheet(hours=99)
    with pytest.raises(InvalidEvent) as refused:
        parse_event(event)
    assert refused.value.event_id == event["event_id"]
    assert refused.value.event_type == "timesheet.submitted"


def test_already_decoded_object_parses(ev):
    event = ev.timesheet()
    parsed = parse_event(json.loads(ev.raw(event)))
    assert parsed.hours == Decimal("7.5")


# ---------------------------------------------------------------------------------------- schemas and keys

def test_json_schemas_cover_every_type_and_the_union():
    schemas = json_schemas()
    assert set(schemas) == set(TYPES) | {"event"}
    for name, schema in schemas.items():
        json.dumps(schema)  # serialisable as it is exported
        assert "properties" in schema or "oneOf" in schema or "discriminator" in schema, name


@pytest.mark.parametrize("name, required", [
    ("programme.defined", {"event_id", "schema_version", "type", "programme_id", "buyer_id", "name", "target_hours",
                           "start_date", "end_date"}),
    ("contract.registered", {"event_id", "schema_version", "type", "contract_id", "programme_id", "buyer_id",
                             "operation_id", "lot", "contractor_siret", "start_date", "end_date"}),
    ("beneficiary.enrolled", {"event_id", "schema_version", "type", "beneficiary_id", "facilitator_id",
                              "criteria", "eligible_from"}),
    ("timesheet.submitted", {"event_id", "schema_version", "type", "contract_id", "beneficiary_id",
                             "work_date", "hours", "mode", "submitted_at"}),
    ("timesheet.corrected", {"event_id", "schema_version", "type", "original_event_id", "contract_id",
                             "beneficiary_id", "work_date", "hours", "mode", "submitted_at"}),
    ("timesheet.retracted", {"event_id", "schema_version", "type", "original_event_id", "beneficiary_id", "contract_id",
                             "submitted_at"}),
    ("siae.invoice", {"event_id", "schema_version", "type", "invoice_id", "contract_id", "siae_siret",
                      "amount_eur", "period_start", "period_end", "submitted_at"}),
    ("pooling.agreed", {"event_id", "schema_version", "type", "agreement_id", "programme_id", "contractor_siret",
                        "contract_ids", "effective_from"}),
    ("claim.resolved", {"event_id", "schema_version", "type", "flagged_event_id", "beneficiary_id",
                        "facilitator_id", "decision", "reason"}),
    ("beneficiary.outcome", {"event_id", "schema_version", "type", "beneficiary_id", "facilitator_id", "outcome",
                             "outcome_date"}),
])
def test_type_schema_is_closed_and_requires_its_fields(name, required):
    schema = json_schemas()[name]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == required
    assert schema["properties"]["type"]["const"] == name
    assert schema["properties"]["schema_version"]["const"] == 1
    assert set(schema["required"]) <= set(schema["properties"])


def test_union_schema_discriminates_on_type():
    schema = json_schemas()["event"]
    assert len(schema["oneOf"]) == len(TYPES) == 10
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == set(TYPES)


def test_hours_schema_bounds():
    hours = json_schemas()["timesheet.submitted"]["properties"]["hours"]
    numeric = [branch for branch in hours.get("anyOf", [hours]) if branch.get("type") == "number"]
    assert numeric and numeric[0]["exclusiveMinimum"] == 0 and numeric[0]["maximum"] == 24


def test_hours_schema_is_numeric_only():
    hours = json_schemas()["timesheet.submitted"]["properties"]["hours"]
    assert hours.get("type") == "number"


@pytest.mark.parametrize("kind, expected", [
    ("programme", "gpe"),
    ("contract", "gpe-c001"),
    ("enrolment", "b-3f9a1c2e7d"),
    ("timesheet", "b-3f9a1c2e7d"),  # with the enrolment: one worker sees a person's events in order
    ("correction", "b-3f9a1c2e7d"),  # with the timesheet it corrects
    ("retraction", "b-3f9a1c2e7d"),
    ("resolution", "b-3f9a1c2e7d"),  # with the flagged claim
    ("outcome", "b-3f9a1c2e7d"),
    ("invoice", "gpe-c001"),  # no person: with the contract
    ("pooling", "gpe-pool-1"),
])
def test_partition_key(ev, kind, expected):
    assert partition_key(parse_event(ev.raw(build(ev, kind, {})))) == expected


def test_partition_key_of_timesheet_is_the_beneficiary_not_the_contract(ev):
    event = parse_event(ev.raw(ev.timesheet(contract_id="gpe-c777", beneficiary_id="b-0000aaaa")))
    assert partition_key(event) == "b-0000aaaa"


@pytest.mark.parametrize("kind", KINDS)
def test_an_event_written_back_as_json_parses_to_the_same_event(ev, kind):
    # The worker keeps reference events in its tables as their JSON and reads them back.
    event = parse_event(ev.raw(build(ev, kind, {})))
    assert parse_event(event.model_dump_json()) == event


def test_amounts_written_back_are_json_numbers_with_every_digit(ev):
    event = parse_event(ev.raw(ev.contract(target_hours=..., amount_eur=123456789012.34, labour_share=0.5,
                                           clause_rate=0.0525, hourly_cost_eur=28.5)))
    written = json.loads(event.model_dump_json())
    assert written["amount_eur"] == 123456789012.34 and written["clause_rate"] == 0.0525
    assert parse_event(event.model_dump_json()).amount_eur == Decimal("123456789012.34")
