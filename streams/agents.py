"""The worker's agent: every intake event gets exactly one decision, sent on to the loader."""

from __future__ import annotations

import logging
import time
from uuid import UUID

from ledger.entries import Position
from ledger.events import BeneficiaryEnrolled, ContractRegistered, Event
from ledger.intake import Decision, decide, failed, split_message
from ledger.rules import Rulebook
from streams import metrics
from streams.app import app, beneficiaries, cfg, contracts, first_delivery, intake_topic, ledger_topic, rejections_topic
from streams.codec import encode_accepted, encode_rejection

log = logging.getLogger(__name__)

rulebook = Rulebook(version=cfg.rulebook_version, eligibility_window_months=cfg.eligibility_window_months)


class TableBooks:
    """`ledger.intake.Books` over Faust tables, with parsed models cached by their JSON."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], tuple[str, object]] = {}

    def _model(self, table, kind: str, key: str, model):
        raw = table.get(key)
        if raw is None:
            return None
        cached = self._parsed.get((kind, key))
        if cached is not None and cached[0] == raw:
            return cached[1]
        parsed = model.model_validate_json(raw)
        self._parsed[(kind, key)] = (raw, parsed)
        return parsed

    def contract(self, contract_id: str) -> ContractRegistered | None:
        return self._model(contracts, "c", contract_id, ContractRegistered)

    def beneficiary(self, beneficiary_id: str) -> BeneficiaryEnrolled | None:
        return self._model(beneficiaries, "b", beneficiary_id, BeneficiaryEnrolled)

    def seen_at(self, event_id: UUID) -> str | None:
        return first_delivery.get(str(event_id))

    def keep(self, event: Event, position: Position) -> None:
        key = str(event.event_id)
        if first_delivery.get(key) is None:
            first_delivery[key] = str(position)
        if isinstance(event, ContractRegistered):
            contracts[event.contract_id] = event.model_dump_json()
        elif isinstance(event, BeneficiaryEnrolled):
            beneficiaries[event.beneficiary_id] = event.model_dump_json()


books = TableBooks()


def decide_message(value: bytes, topic: str, partition: int, offset: int) -> list[Decision]:
    items = split_message(value)
    if items is None:
        return [decide_safely(value, Position(topic=topic, partition=partition, offset=offset))]
    return [decide_safely(item, Position(topic=topic, partition=partition, offset=offset, index=i))
            for i, item in enumerate(items)]


def decide_safely(raw: bytes, position: Position) -> Decision:
    try:
        return decide(raw, position, books, rulebook)
    except Exception as error:  # a defect must cost one event a visible rejection, not stop the agent
        log.exception("processing failed at %s", position)
        return failed(raw, position, error)


@app.agent(intake_topic, name="attribute")
async def attribute(stream):
    async for event in stream.events():
        message = event.message
        decisions = decide_message(message.value or b"", message.topic, message.partition, message.offset)
        accepted = encode_accepted(decisions, rulebook)
        # Same partition number as the intake message: one beneficiary's records stay in order.
        if accepted is not None:
            await ledger_topic.send(value=accepted, partition=message.partition)
        for d in decisions:
            if d.rejection is not None:
                await rejections_topic.send(value=encode_rejection(d.rejection), partition=message.partition)
                log.debug("rejected %s at %s: %s", d.rejection.reason.value, d.position, d.rejection.detail)
        metrics.observe_decisions(decisions, message.timestamp, time.time())
