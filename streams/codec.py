"""How ledger records and rejections travel on Kafka: JSON, one ledger message per intake message.

A ledger message is a JSON array of records, each with a `record` field naming its kind: `entry`
(hours recorded or reversed), `pending` (a timesheet waiting for reference data, or what became
of it), or the reference data the entries rely on (`programme`, `contract`, `beneficiary`,
`pooling`, `outcome`). A rejection message is one JSON object.
"""

from __future__ import annotations

import json

from pydantic_core import to_json

from ledger.entries import Rejection
from ledger.events import (
    BeneficiaryEnrolled,
    BeneficiaryOutcome,
    ContractRegistered,
    Event,
    PoolingAgreed,
    ProgrammeDefined,
)
from ledger.intake import Decision
from ledger.rulebook import Rulebook

REFERENCE_RECORDS = {ProgrammeDefined: "programme", ContractRegistered: "contract", BeneficiaryEnrolled: "beneficiary",
                     PoolingAgreed: "pooling", BeneficiaryOutcome: "outcome"}

# The worker's own clock signal on an intake partition (see streams.agents.tick): not an event. Only
# a message with this value AND this header is a tick; the same bytes from anyone else are decided
# like any event (and rejected), so nobody can make posted events vanish or forge stream time by
# accident. (Writing the header on purpose takes write access to the intake topic, which the
# deployment's ACLs give to the gateway and the workers only.)
TICK = b'{"type":"ledger.tick"}'
TICK_HEADER = "ledger-tick"


def reference_record(event: Event, rulebook: Rulebook) -> dict:
    record = {"record": REFERENCE_RECORDS[type(event)], **event.model_dump(mode="json")}
    # The store keeps the effective values, so that auditors need not re-apply defaults.
    if isinstance(event, ContractRegistered):
        record["target_hours"] = str(rulebook.target_hours(event))
    elif isinstance(event, BeneficiaryEnrolled):
        record["eligible_until"] = rulebook.eligible_until(event).isoformat()
    return record


def encode_accepted(decisions: list[Decision], rulebook: Rulebook) -> bytes | None:
    parts = []
    for d in decisions:
        # The bytes of model_dump_json(), without its str round trip and per-call keyword handling.
        parts += map(to_json, d.entries)
        if d.pending is not None:
            parts.append(to_json(d.pending))
        if d.rejection is None and d.event is not None and type(d.event) in REFERENCE_RECORDS:
            parts.append(json.dumps(reference_record(d.event, rulebook), separators=(",", ":")).encode())
    return b"[" + b",".join(parts) + b"]" if parts else None


def encode_rejection(rejection: Rejection) -> bytes:
    return to_json(rejection)


def decode_records(value: bytes) -> list[dict]:
    records = json.loads(value)
    return records if isinstance(records, list) else [records]
