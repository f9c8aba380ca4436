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
    target_hours_from_amount,
)
from ledger.rulebook import Rulebook
from ledger.registry import subject_of

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
    ("timesheet", {"beneficiary_id": "b-0123456789"}),             # 12 characters, 10 hex: the minimum
    ("timesheet", {"beneficiary_id": "abcdefgh-" + "f" * 56}),     # the maximum: 8 + 1 + 56
    ("timesheet", {"beneficiary_id": "p2-9c1d0e7a52f4b831"}),
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
    ("timesheet", {"beneficiary_id": "Jean Dupont-Martin"}, "invalid_event", "beneficiary_id: String should match pattern"),
    ("timesheet", {"beneficiary_id": "jean.dupont@mail.fr"}, "invalid_event", "beneficiary_id: String should match"),
    ("timesheet", {"beneficiary_id": "185057800608436"}, "invalid_event",
     "beneficiary_id: Value error, looks like a national identification number"),
    ("enrolment", {"beneficiary_id": "1850578006084"}, "invalid_event",
     "beneficiary_id: Value error, looks like a national identification number"),
    ("timesheet", {"beneficiary_id": "B-3F9A1C2E7D"}, "invalid_event", "beneficiary_id: String should match pattern"),
    ("timesheet", {"beneficiary_id": "b-3f9a1"}, "invalid_event", "beneficiary_id: String should have at least 12"),
    ("timesheet", {"beneficiary_id": "abcdefgh-" + "f" * 57}, "invalid_event",
     "beneficiary_id: String should have at most 65"),
    ("timesheet", {"beneficiary_id": "-3f9a1c2e7d01"}, "invalid_event", "beneficiary_id: String should match pattern"),
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
    ("pooling", {"effective_from": "2025-01-01", "effective_until": "2024-12-31"}, "invalid_event",
     "effective_until is before effective_from"),
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
def test_subject_of_each_event_type(ev, kind, expected):
    assert subject_of(parse_event(ev.raw(build(ev, kind, {})))) == expected


def test_a_timesheets_subject_is_the_beneficiary_not_the_contract(ev):
    event = parse_event(ev.raw(ev.timesheet(contract_id="gpe-c777", beneficiary_id="b-000000aaaa")))
    assert subject_of(event) == "b-000000aaaa"


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


# ---------------------------------------------------------------------------- issue 11: the contract's limits
# Each of these failed before the limit was added (docs/security.md, "The event contract's limits").

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ledger.events import FIRST_DAY, LAST_DAY, MAX_EVENT_BYTES, duplicate_key  # noqa: E402

# Every day of every event type, with what else the event needs for that day to be the only problem.
DATE_FIELDS = [
    ("programme", "start_date", {}), ("programme", "end_date", {}),
    ("contract", "start_date", {}), ("contract", "end_date", {}),
    ("enrolment", "eligible_from", {}), ("enrolment", "eligible_until", {}), ("enrolment", "validated_on", {}),
    ("enrolment", "proof_valid_until", {}),
    ("timesheet", "work_date", {}), ("timesheet", "hire_date", {"hire_type": "permanent"}),
    ("correction", "work_date", {}), ("correction", "hire_date", {"hire_type": "permanent"}),
    ("invoice", "period_start", {}), ("invoice", "period_end", {}),
    ("pooling", "effective_from", {}), ("pooling", "effective_until", {}),
    ("outcome", "outcome_date", {}),
]
TIMESTAMP_FIELDS = [("timesheet", "submitted_at"), ("correction", "submitted_at"), ("retraction", "submitted_at"),
                    ("invoice", "submitted_at")]
KIND_OF = dict(zip(KINDS, TYPES))


def refusal(ev, kind: str, changes: dict) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as refused:
        parse_event(ev.raw(build(ev, kind, changes)))
    return refused.value


def test_every_date_and_timestamp_field_is_listed_here():
    # A new date field must be bounded too: this list and the schemas name the same fields.
    in_schemas = {(name, field) for name, schema in json_schemas().items() if name != "event"
                  for field, prop in schema["properties"].items()
                  if any(p.get("format") in ("date", "date-time") for p in prop.get("anyOf", [prop]))}
    corrections = {("timesheet.corrected", f) for _, f, _ in DATE_FIELDS if _ == "correction"}
    listed = {(KIND_OF[k], f) for k, f, _ in DATE_FIELDS} | {(KIND_OF[k], f) for k, f in TIMESTAMP_FIELDS}
    assert in_schemas == listed | corrections


@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31", "1970-01-01", "1999-12-31", "2100-01-01", "2149-06-07",
                                 "9999-12-31"])
@pytest.mark.parametrize("kind, field, needs", DATE_FIELDS, ids=[f"{k}.{f}" for k, f, _ in DATE_FIELDS])
def test_a_day_outside_2000_2099_is_refused_naming_the_field(ev, kind, field, needs, day):
    refused = refusal(ev, kind, {**needs, field: day})
    assert refused.reason == "invalid_event"
    assert refused.detail.startswith(f"{field}: Input should be "), refused.detail


@pytest.mark.parametrize("kind, changes", [
    ("programme", {"start_date": "2000-01-01", "end_date": "2099-12-31"}),
    ("contract", {"start_date": "2000-01-01", "end_date": "2099-12-31"}),
    ("enrolment", {"eligible_from": "2000-01-01", "validated_on": "2000-01-01", "eligible_until": "2099-12-31",
                   "proof_valid_until": "2099-12-31"}),
    ("timesheet", {"work_date": "2000-01-01", "hire_type": "permanent", "hire_date": "2000-01-01",
                   "submitted_at": "2000-01-01T00:00:00+14:00"}),  # 1999-12-31T10:00Z: the day is the sender's
    ("timesheet", {"work_date": "2099-12-31", "submitted_at": "2099-12-31T23:59:59.999-12:00"}),
    ("invoice", {"period_start": "2000-01-01", "period_end": "2099-12-31", "submitted_at": "2099-12-31T00:00:00Z"}),
    ("pooling", {"effective_from": "2000-01-01", "effective_until": "2099-12-31"}),
    ("outcome", {"outcome_date": "2099-12-31"}),
    ("retraction", {"submitted_at": "2000-01-01T00:00:00Z"}),
])
def test_the_first_and_last_day_of_the_range_are_accepted(ev, kind, changes):
    parse_event(ev.raw(build(ev, kind, changes)))


@pytest.mark.parametrize("stamp", ["9999-12-31T00:00:00+00:00", "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
                                   "1970-01-01T00:00:00Z", "2100-01-01T00:30:00+01:00",
                                   "1999-12-31T23:30:00-01:00"])  # 2000-01-01 in UTC, 1999-12-31 where sent
@pytest.mark.parametrize("kind, field", TIMESTAMP_FIELDS)
def test_a_submission_time_outside_the_range_is_refused(ev, kind, field, stamp):
    changes = {field: stamp}
    if kind in ("timesheet", "correction") and stamp < "2000":
        changes["work_date"] = "2000-01-01"  # only the time is wrong
    refused = refusal(ev, kind, changes)
    assert refused.detail.startswith(f"{field}: Value error, must be a day in 2000-01-01..2099-12-31"), refused.detail


@pytest.mark.parametrize("kind", ["timesheet", "correction"])
def test_submitted_before_the_work_date_is_refused(ev, kind):
    # 2024-06-02T23:30-01:00 is 2024-06-03 in UTC, but the sender's day is the 2nd: refused.
    refused = refusal(ev, kind, {"work_date": "2024-06-03", "submitted_at": "2024-06-02T23:30:00-01:00"})
    assert refused.reason == "invalid_event"
    assert "submitted_at (2024-06-02) is before work_date (2024-06-03)" in refused.detail
    # 2024-06-03T00:30+02:00 is 2024-06-02 in UTC, the 3rd where it was sent: accepted.
    parse_event(ev.raw(build(ev, kind, {"work_date": "2024-06-03", "submitted_at": "2024-06-03T00:30:00+02:00"})))


def test_an_invoice_submitted_before_its_period_is_refused(ev):
    refused = refusal(ev, "invoice", {"period_start": "2024-05-01", "submitted_at": "2024-04-30T23:59:00+02:00"})
    assert "submitted_at (2024-04-30) is before period_start (2024-05-01)" in refused.detail
    parse_event(ev.raw(ev.invoice(period_start="2024-05-01", submitted_at="2024-05-01T00:00:00+02:00")))


def test_the_schemas_give_the_date_range():
    for name, schema in json_schemas().items():
        for field, prop in schema.get("properties", {}).items():
            for p in prop.get("anyOf", [prop]):
                if p.get("format") == "date":
                    assert (p["formatMinimum"], p["formatMaximum"]) == ("2000-01-01", "2099-12-31"), (name, field)
                    assert p["pattern"] == "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"
                if p.get("format") == "date-time":
                    assert "2000-01-01..2099-12-31" in p["description"] and p["pattern"].startswith("^20")
    assert (FIRST_DAY, LAST_DAY) == (dt.date(2000, 1, 1), dt.date(2099, 12, 31))


# --- beneficiary keys: a prefix, a dash, 10+ lower-case hex characters

BENEFICIARY_KINDS = ["enrolment", "timesheet", "correction", "retraction", "resolution", "outcome"]


@pytest.mark.parametrize("key, fragment", [
    ("jean-dupont", "String should have at least 12"),
    ("jean-dupont-martin", "String should match pattern"),
    ("nir185057800608436", "String should match pattern"),
    ("185057800608436", "looks like a national identification number"),
    ("b-185057800608436", "looks like a national identification number"),  # digits are hex too
    ("nir-2850578006084", "looks like a national identification number"),
    ("b-3F9A1C2E7D", "String should match pattern"),  # upper case
    ("b-3f9a1c2e7g", "String should match pattern"),  # not hex
    ("b_3f9a1c2e7d", "String should match pattern"),
    ("b-3f9a1c2e7", "String should have at least 12"),  # 9 hex characters
    ("abcdefghi-3f9a1c2e7d", "String should match pattern"),  # a prefix of 9
    ("9b-3f9a1c2e7d", "String should match pattern"),  # a prefix starting with a digit
    ("b-3f9a1c2e7d-01", "String should match pattern"),
    ("b-3f9a1c2e7d\n", "String should match pattern"),
    ("jean.dupont@mail.fr", "String should match pattern"),
])
@pytest.mark.parametrize("kind", BENEFICIARY_KINDS)
def test_a_beneficiary_key_not_in_the_documented_format_is_refused(ev, kind, key, fragment):
    refused = refusal(ev, kind, {"beneficiary_id": key})
    assert refused.detail.startswith("beneficiary_id: ") and fragment in refused.detail, refused.detail


@pytest.mark.parametrize("key", ["b-3f9a1c2e7d", "b-9c1d0e7a52f4b831", "fac07-0123456789abcdef",
                                 "b-" + "0123456789abcdef" * 3 + "01234567", "b-0000000001", "b-1850578006084361"])
def test_a_beneficiary_key_in_the_documented_format_is_accepted(ev, key):
    assert parse_event(ev.raw(ev.timesheet(beneficiary_id=key))).beneficiary_id == key


def test_the_schema_documents_the_key_format():
    prop = json_schemas()["timesheet.submitted"]["properties"]["beneficiary_id"]
    assert prop["pattern"] == "^[a-z][a-z0-9]{0,7}-[0-9a-f]{10,56}$"
    assert "keyed hash" in prop["description"] and "national identification number" in prop["description"]


# --- free text: bounded, one printable line, no personal data

# (kind, field, what the event needs for the field to be there, longest accepted)
FREE_TEXT = [
    ("programme", "name", {}, 200),
    ("contract", "lot", {}, 64),
    ("enrolment", "derogation_reason", {"criteria": ["facilitator_validation"]}, 500),
    ("retraction", "reason", {}, 500),
    ("resolution", "reason", {}, 500),
]
FREE_TEXT_IDS = [f"{k}.{f}" for k, f, _, _ in FREE_TEXT]
BAD_TEXT = [
    ("line one\nline two", "control or format character U+000A"),
    ("carriage\rreturn", "U+000D"),
    ("tab\tbetween", "U+0009"),
    ("colour \x1b[31mred", "U+001B"),
    ("nul \x00 inside", "U+0000"),
    ("del \x7f inside", "U+007F"),
    ("c1 \x85 next line", "U+0085"),
    ("bidi \u202eoverride", "U+202E"),
    ("zero\u200bwidth space", "U+200B"),
    ("line\u2028separator", "U+2028"),
    ("write to jean.dupont@mail.fr", "must not contain '@'"),
    ("call 0612345678 first", "9 digits or more"),
    ("call 06 12 34 56 78 first", "9 digits or more"),
    ("call +33.6.12.34.56.78", "9 digits or more"),
    ("nir 1 85 05 78 006 084 36", "9 digits or more"),
    ("iban part 300060000112345678", "9 digits or more"),
]
GOOD_TEXT = ["Grand Paris Express - ligne 15 Sud (lot 2)", "réorientation après un arrêt long, validée",
             "tranche 2024-06-03 à 2024-06-07", "montant 12 345 678 EUR", "n° 12345678 du marché",
             "pièce « justificative » vue ✓"]


@pytest.mark.parametrize("text, fragment", BAD_TEXT, ids=[t for t, _ in BAD_TEXT])
@pytest.mark.parametrize("kind, field, needs, longest", FREE_TEXT, ids=FREE_TEXT_IDS)
def test_free_text_refuses_control_characters_and_personal_data(ev, kind, field, needs, longest, text, fragment):
    refused = refusal(ev, kind, {**needs, field: text[:longest]})
    assert refused.detail.startswith(f"{field}: Value error, ") and fragment in refused.detail, refused.detail


@pytest.mark.parametrize("kind, field, needs, longest", FREE_TEXT, ids=FREE_TEXT_IDS)
def test_free_text_is_bounded(ev, kind, field, needs, longest):
    parse_event(ev.raw(build(ev, kind, {**needs, field: "x" * longest})))
    refused = refusal(ev, kind, {**needs, field: "x" * (longest + 1)})
    assert refused.detail == f"{field}: String should have at most {longest} characters"
    for text in GOOD_TEXT:
        parse_event(ev.raw(build(ev, kind, {**needs, field: text[:longest]})))


def test_an_outcome_detail_cannot_carry_a_phone_number(ev):
    assert refusal(ev, "outcome", {"detail": "tel_0612345678"}).detail.startswith("detail: Value error, must not")


@pytest.mark.parametrize("kind, field, needs, longest", FREE_TEXT, ids=FREE_TEXT_IDS)
def test_the_schema_says_free_text_must_not_carry_personal_data(kind, field, needs, longest):
    import re
    schema = json_schemas()[KIND_OF[kind]]["properties"][field]
    prop = next((p for p in schema.get("anyOf", [schema]) if p.get("type") == "string"), schema)
    description = schema.get("description") or prop.get("description")
    assert "must not carry personal data" in description
    assert prop["maxLength"] == longest
    # The schema's pattern (ECMA-262) refuses and accepts what the validator does.
    pattern = re.compile(prop["pattern"])
    assert all(pattern.match(t) for t in GOOD_TEXT)
    assert not any(pattern.match(t) for t, _ in BAD_TEXT)


# --- the new fields: who owns a programme or contract, which contract retracts

@pytest.mark.parametrize("kind, field", [("programme", "buyer_id"), ("contract", "buyer_id"),
                                         ("retraction", "contract_id")])
def test_ownership_fields_are_required_identifiers(ev, kind, field):
    assert refusal(ev, kind, {field: ...}).detail == f"{field}: Field required"
    assert refusal(ev, kind, {field: "buyer sgp"}).detail.startswith(f"{field}: String should match pattern")
    assert refusal(ev, kind, {field: ""}).detail.startswith(f"{field}: String should have at least 1")
    assert getattr(parse_event(ev.raw(build(ev, kind, {field: "owner-01"}))), field) == "owner-01"
    assert field in json_schemas()[KIND_OF[kind]]["required"]


def test_a_retraction_names_the_contract_of_the_timesheet(ev):
    sheet = ev.timesheet(contract_id="gpe-c002")
    assert parse_event(ev.raw(ev.retraction(sheet))).contract_id == "gpe-c002"


# --- duplicate keys: refused, whatever the spacing or depth

def with_text(event: dict, extra: str) -> bytes:
    """The event's JSON with `extra` (more members, written as is) before its closing brace."""
    return (json.dumps(event)[:-1] + extra + "}").encode()


@pytest.mark.parametrize("extra, key", [
    (', "hours": 7.5', "hours"),  # the same value twice
    (', "hours": 24', "hours"),
    (', "hours" : 8', "hours"),  # whitespace before the colon
    (', "hours"\n\t :8', "hours"),
    (', "hour\\u0073": 8', "hours"),  # the same key escaped
    (', "type": "timesheet.corrected"', "type"),
    (', "event_id": "4b1e2c9a-0000-4000-8000-000000000001"', "event_id"),
    (', "x": {"a": 1, "a": 2}', "a"),  # nested (an unknown field besides)
    (', "x": [{"b": 1}, {"c": {"d": 1, "d" :2}}]', "d"),
])
def test_a_repeated_key_is_refused_naming_it(ev, extra, key):
    for raw_event in (with_text(ev.timesheet(), extra), with_text(ev.timesheet(), extra).decode()):
        with pytest.raises(InvalidEvent) as refused:
            parse_event(raw_event)
        assert refused.value.reason == "invalid_json"
        assert refused.value.detail == f'duplicate key "{key}" in a JSON object: each key must appear once'


def test_a_value_that_looks_like_a_key_is_not_a_repeated_key(ev):
    # `": ` inside a string makes the cheap count differ: the exact check finds no repeated key.
    sheet = ev.retraction(ev.timesheet(), reason='the site said "hours": seven, not eight')
    assert parse_event(ev.raw(sheet)).reason == 'the site said "hours": seven, not eight'
    assert duplicate_key(ev.raw(sheet)) is None


def test_the_duplicate_check_reads_text_and_bytes():
    assert duplicate_key('{"a": {"b": 1, "b": 2}}') == 'duplicate key "b" in a JSON object: each key must appear once'
    assert duplicate_key(b'{"a": 1, "b": 2}') is None
    assert duplicate_key(b'{"a": 1,') is None  # not JSON: not this check's to say


# --- size

def test_an_event_longer_than_the_limit_is_refused(ev):
    sheet = json.dumps(ev.timesheet())
    padded = sheet[:-1] + " " * (MAX_EVENT_BYTES - len(sheet)) + "}"
    assert len(padded) == MAX_EVENT_BYTES and parse_event(padded.encode())  # whitespace is JSON
    with pytest.raises(InvalidEvent) as refused:
        parse_event((padded[:-1] + " }").encode())
    assert refused.value.reason == "invalid_event"
    assert refused.value.detail == f"the event is {MAX_EVENT_BYTES + 1} bytes long, more than {MAX_EVENT_BYTES}"
    with pytest.raises(InvalidEvent):  # counted in UTF-8 bytes for text too
        parse_event(sheet[:-1] + "\u00a0" * MAX_EVENT_BYTES + "}")


# --- nothing but InvalidEvent, whatever arrives

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
FIELD_NAMES = st.sampled_from(sorted({f for m in EVENT_TYPES.values() for f in m.model_fields}))


@st.composite
def json_texts(draw) -> bytes:
    """An event from the fixtures with some members replaced or repeated, written as raw JSON text."""
    kind = draw(st.sampled_from(KINDS))
    members = list(build(SimpleEv, kind, {}).items())
    for _ in range(draw(st.integers(0, 4))):
        key = draw(FIELD_NAMES | st.text(max_size=8))
        value = draw(JSON_VALUES | st.sampled_from([m[1] for m in members]))
        members.insert(draw(st.integers(0, len(members))), (key, value))
    if draw(st.booleans()):
        members = [m for m in members if draw(st.booleans())]
    spaces = draw(st.sampled_from(["", " ", "\n", "\t ", "  "]))
    return ("{" + ",".join(f"{json.dumps(k)}{spaces}:{json.dumps(v)}" for k, v in members) + "}").encode()


class SimpleEv:  # the conftest's builders, outside a fixture (hypothesis draws many examples per test)
    from tests.support.builders import (contract as contract, correction as correction, enrolment as enrolment,  # noqa
                                     invoice as invoice, outcome as outcome, pooling as pooling,
                                     programme as programme, resolution as resolution, retraction as retraction,
                                     timesheet as timesheet)
    contract, correction, enrolment, invoice, outcome, pooling, programme, resolution, retraction, timesheet = map(
        staticmethod, (contract, correction, enrolment, invoice, outcome, pooling, programme, resolution,
                       retraction, timesheet))


def only_invalid_event(raw) -> None:
    try:
        event = parse_event(raw)
    except InvalidEvent as invalid:
        assert invalid.reason in ("invalid_json", "invalid_event") and invalid.detail
    else:
        assert type(event) in EVENT_TYPES.values()
        if not isinstance(raw, dict):  # what was accepted had no repeated key
            assert duplicate_key(raw) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=8) | JSON_VALUES)
def test_parse_event_raises_only_invalid_event_on_any_json_value(value):
    only_invalid_event(json.dumps(value).encode())
    if isinstance(value, dict):
        only_invalid_event(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_texts())
def test_parse_event_raises_only_invalid_event_on_events_with_members_changed(raw_event):
    only_invalid_event(raw_event)
    only_invalid_event(raw_event.decode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=100))
def test_parse_event_raises_only_invalid_event_on_any_bytes(raw_event):
    only_invalid_event(raw_event)
