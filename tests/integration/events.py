"""Small hand-made events for the integration tests (pseudonymous keys only)."""

from __future__ import annotations

import uuid

from ledger.siret import with_check_digit

CONTRACTOR = with_check_digit("7328293200007")
ETTI = with_check_digit("4420118800012")


def event(type_: str, **fields) -> dict:
    return {"type": type_, "event_id": str(uuid.uuid4()), "schema_version": 1, **fields}


def programme(programme_id: str = "gpe", target_hours: int = 14_000_000) -> dict:
    return event("programme.defined", programme_id=programme_id, buyer_id="buyer-sgp", name="Grand Paris Express",
                 target_hours=target_hours, start_date="2017-01-01", end_date="2032-12-31")


def contract(contract_id: str, programme_id: str = "gpe", operation_id: str = "L15S", **fields) -> dict:
    body = dict(contract_id=contract_id, programme_id=programme_id, buyer_id="buyer-sgp", operation_id=operation_id, lot="GC-01",
                contractor_siret=CONTRACTOR, start_date="2024-01-01", end_date="2026-12-31", target_hours=1000)
    body.update(fields)
    return event("contract.registered", **body)


def enrolment(beneficiary_id: str, eligible_from: str = "2024-01-01", **fields) -> dict:
    return event("beneficiary.enrolled", beneficiary_id=beneficiary_id, facilitator_id="fac-01",
                 criteria=["rsa"], eligible_from=eligible_from, **fields)


def timesheet(contract_id: str, beneficiary_id: str, work_date: str, hours: float = 7, mode: str = "direct_hire",
              **fields) -> dict:
    body = dict(contract_id=contract_id, beneficiary_id=beneficiary_id, work_date=work_date, hours=hours,
                mode=mode, submitted_at=f"{work_date}T18:00:00+00:00")
    body.update(fields)
    return event("timesheet.submitted", **body)
