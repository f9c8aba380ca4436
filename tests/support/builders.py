"""Builders of valid events as JSON objects, shared by the unit tests.

Each builder returns a plain dict (what a sender posts); tests change one field at a time and send
it through `parse_event` / `decide` as JSON bytes, which is how events reach the ledger.
"""

from __future__ import annotations

import json
import uuid


# SIRETs with a valid Luhn key (hand-checked in test_siret.py), used across the suite.
CONTRACTOR_SIRET = "73282932000074"
OTHER_CONTRACTOR_SIRET = "35600000000048"  # La Poste's head office: a second contractor
PARTNER_SIRET = "44306184100047"

_counter = iter(range(1, 10**9))


def new_id() -> str:
    """A fresh UUID4 string, reproducible across runs (derived from a counter)."""
    return str(uuid.UUID(int=next(_counter) << 64 | 0xABCDEF, version=4))


def programme(**changes) -> dict:
    event = {"type": "programme.defined", "event_id": new_id(), "schema_version": 1,
             "programme_id": "gpe", "buyer_id": "buyer-sgp", "name": "Grand Paris Express", "target_hours": 14_000_000,
             "start_date": "2017-01-01", "end_date": "2032-12-31"}
    return _apply(event, changes)


def contract(**changes) -> dict:
    event = {"type": "contract.registered", "event_id": new_id(), "schema_version": 1,
             "contract_id": "gpe-c001", "programme_id": "gpe", "buyer_id": "buyer-sgp", "operation_id": "L15S", "lot": "GC-01",
             "contractor_siret": CONTRACTOR_SIRET, "start_date": "2024-01-01", "end_date": "2024-12-31",
             "target_hours": 833.33}
    return _apply(event, changes)


def enrolment(**changes) -> dict:
    event = {"type": "beneficiary.enrolled", "event_id": new_id(), "schema_version": 1,
             "beneficiary_id": "b-3f9a1c2e7d", "facilitator_id": "fac-01", "criteria": ["rsa"],
             "eligible_from": "2024-03-15", "birth_year": 1990, "gender": "F"}
    return _apply(event, changes)


def timesheet(**changes) -> dict:
    event = {"type": "timesheet.submitted", "event_id": new_id(), "schema_version": 1,
             "contract_id": "gpe-c001", "beneficiary_id": "b-3f9a1c2e7d", "work_date": "2024-06-03",
             "hours": 7.5, "mode": "direct_hire", "submitted_at": "2024-06-03T18:00:00+02:00"}
    return _submitted_after_work(_apply(event, changes), changes)


def correction(original: dict, **changes) -> dict:
    """A timesheet.corrected restating `original` in full (with `changes`) under a new event_id."""
    restated = {k: v for k, v in original.items() if k not in ("type", "event_id", "original_event_id")}
    event = {**restated, "type": "timesheet.corrected", "event_id": new_id(),
             "original_event_id": original["event_id"]}
    return _submitted_after_work(_apply(event, changes), changes)


def retraction(original: dict, **changes) -> dict:
    event = {"type": "timesheet.retracted", "event_id": new_id(), "schema_version": 1,
             "original_event_id": original["event_id"], "beneficiary_id": original["beneficiary_id"],
             "contract_id": original.get("contract_id", "gpe-c001"), "reason": "declared on the wrong person", "submitted_at": "2024-06-10T09:00:00+02:00"}
    return _apply(event, changes)


def invoice(**changes) -> dict:
    event = {"type": "siae.invoice", "event_id": new_id(), "schema_version": 1, "invoice_id": "inv-0001",
             "contract_id": "gpe-c001", "siae_siret": PARTNER_SIRET, "amount_eur": 28_000,
             "period_start": "2024-05-01", "period_end": "2024-05-31", "labour_share": 0.4,
             "submitted_at": "2024-06-05T10:00:00+02:00"}
    return _apply(event, changes)


def pooling(**changes) -> dict:
    event = {"type": "pooling.agreed", "event_id": new_id(), "schema_version": 1, "agreement_id": "gpe-pool-1",
             "programme_id": "gpe", "contractor_siret": CONTRACTOR_SIRET, "contract_ids": ["gpe-c001", "gpe-c002"],
             "effective_from": "2024-01-01"}
    return _apply(event, changes)


def resolution(flagged: dict, decision: str = "count", **changes) -> dict:
    event = {"type": "claim.resolved", "event_id": new_id(), "schema_version": 1,
             "flagged_event_id": flagged["event_id"], "beneficiary_id": flagged["beneficiary_id"],
             "facilitator_id": "fac-01", "decision": decision, "reason": "checked with both site managers"}
    return _apply(event, changes)


def outcome(**changes) -> dict:
    event = {"type": "beneficiary.outcome", "event_id": new_id(), "schema_version": 1,
             "beneficiary_id": "b-3f9a1c2e7d", "facilitator_id": "fac-01", "outcome": "durable_job",
             "outcome_date": "2024-12-15", "detail": "cdi"}
    return _apply(event, changes)


def _apply(event: dict, changes: dict) -> dict:
    """Override fields; a value of `...` removes the field."""
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _submitted_after_work(event: dict, changes: dict) -> dict:
    """A work_date moved past the default submitted_at moves submitted_at to that day's evening
    (submitted_at may not be before work_date); a test that sets submitted_at keeps its own."""
    work, submitted = event.get("work_date"), event.get("submitted_at")
    if "submitted_at" not in changes and isinstance(work, str) and isinstance(submitted, str) \
            and submitted[:10] < work:
        event["submitted_at"] = f"{work}T18:00:00+02:00"
    return event


def raw(event: dict) -> bytes:
    return json.dumps(event).encode()
