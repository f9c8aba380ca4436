"""A gateway on a fake broker, for the unit tests: FastAPI's TestClient, no Kafka, sqlite in tmp."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from streams.gateway.app import create_app
from streams.gateway.config import GatewaySettings
from streams.gateway.intake import Produced
from streams.settings import Settings

CONTRACTOR_A = "73282932000074"
CONTRACTOR_B = "35600000000048"


def event(type_: str, **fields) -> dict:
    return {"type": type_, "event_id": str(uuid.uuid4()), "schema_version": 1, **fields}


def programme(programme_id: str = "gpe", buyer_id: str = "sgp", **fields) -> dict:
    return event("programme.defined", programme_id=programme_id, buyer_id=buyer_id, name="Grand Paris Express",
                 target_hours=14_000_000, start_date="2017-01-01", end_date="2032-12-31", **fields)


def contract(contract_id: str, siret: str = CONTRACTOR_A, programme_id: str = "gpe", target_hours=1000,
             buyer_id: str = "sgp", **fields) -> dict:
    return event("contract.registered", contract_id=contract_id, programme_id=programme_id, buyer_id=buyer_id,
                 operation_id="L15S",
                 lot="GC-01", contractor_siret=siret, start_date="2024-01-01", end_date="2026-12-31",
                 target_hours=target_hours, **fields)


def enrolment(beneficiary_id: str, facilitator_id: str = "fac-01", eligible_from: str = "2024-01-01",
              **fields) -> dict:
    return event("beneficiary.enrolled", beneficiary_id=beneficiary_id, facilitator_id=facilitator_id,
                 criteria=["rsa"], eligible_from=eligible_from, **fields)


def timesheet(contract_id: str, beneficiary_id: str = "b-0000000001", work_date: str = "2024-03-04",
              hours: float = 7, **fields) -> dict:
    return event("timesheet.submitted", contract_id=contract_id, beneficiary_id=beneficiary_id,
                 work_date=work_date, hours=hours, mode="direct_hire", submitted_at=f"{work_date}T18:00:00+00:00",
                 **fields)


def retraction(original: dict, **fields) -> dict:
    fields.setdefault("contract_id", original["contract_id"])
    return event("timesheet.retracted", original_event_id=original["event_id"],
                 beneficiary_id=original["beneficiary_id"], submitted_at="2024-03-05T18:00:00+00:00", **fields)


def correction(original: dict, **changes) -> dict:
    body = {k: v for k, v in original.items() if k not in ("type", "event_id")}
    body.update(changes)
    return event("timesheet.corrected", original_event_id=original["event_id"], **body)


class FakeBroker:
    """Acknowledges every event (partition 0, offsets counting up) and keeps what it was sent."""

    def __init__(self):
        self.sent: list[dict] = []

    def check(self, *args, **kwargs) -> None:
        pass

    def produce(self, lines, headers, *args, **kwargs) -> Produced:
        acked = []
        for line in lines:
            acked.append((line, 0, len(self.sent)))
            self.sent.append(json.loads(line.value))
        return Produced(acknowledged=acked)

    def close(self) -> None:
        pass


def gateway_settings(tmp: Path, **overrides) -> GatewaySettings:
    values = dict(tokens=tmp / "gateway" / "tokens.sqlite", idempotency=tmp / "gateway" / "idem.sqlite",
                  kafka_timeout_seconds=5)
    values.update(overrides)
    return GatewaySettings(**values)


class Client:
    """The app, a fake broker, and one token per party."""

    def __init__(self, tmp: Path, broker=None, **overrides):
        self.broker = broker or FakeBroker()
        self.app = create_app(Settings(), gateway_settings(tmp, **overrides), producer=self.broker)
        self.tokens = self.app.state.gateway.tokens
        self.http = TestClient(self.app, raise_server_exceptions=False)

    def issue(self, role: str, subject: str, **kwargs) -> str:
        return self.tokens.issue(role, subject, **kwargs)[1]

    def post(self, token: str, body, path: str | None = None, content_type: str = "application/json",
             key: str | None = None):
        if path is None:
            path = "/v1/batches" if isinstance(body, list) or content_type != "application/json" else "/v1/events"
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.http.post(path, content=content, headers=headers)


def reasons(answer) -> list[tuple[int, str]]:
    return [(e["line"], e["reason"]) for e in answer.json()["errors"]]
