"""The table of event types (ledger.registry): complete, consistent with the models and the desk."""

from __future__ import annotations

import pytest

from ledger.desk import Desk
from ledger.events import _MODELS, EVENT_TYPES, parse_event
from ledger.registry import KINDS, Role, Scope, key_of, kind_of, posted_by
from tests.support import builders


def test_every_event_model_has_a_row():
    assert {kind.model for kind in KINDS.values()} == set(_MODELS)
    assert set(KINDS) == set(EVENT_TYPES)
    for event_type, kind in KINDS.items():
        assert kind.type == event_type and EVENT_TYPES[event_type] is kind.model


def test_every_handler_is_a_method_of_the_desk():
    for kind in KINDS.values():
        assert callable(getattr(Desk, kind.handler, None)), kind.handler


def test_every_key_field_is_a_required_string_field_of_its_model():
    for kind in KINDS.values():
        field = kind.model.model_fields.get(kind.key_field)
        assert field is not None and field.is_required(), (kind.type, kind.key_field)


EXAMPLES = {  # a valid event of each type, and the key it is decided under
    "programme.defined": (builders.programme, "reference:gpe"),
    "contract.registered": (builders.contract, "reference:gpe-c001"),
    "pooling.agreed": (builders.pooling, "contract:gpe-pool-1"),
    "beneficiary.enrolled": (builders.enrolment, "person:b-3f9a1c2e7d"),
    "beneficiary.outcome": (builders.outcome, "person:b-3f9a1c2e7d"),
    "claim.resolved": (lambda: builders.resolution(builders.timesheet()), "person:b-3f9a1c2e7d"),
    "timesheet.submitted": (builders.timesheet, "person:b-3f9a1c2e7d"),
    "timesheet.corrected": (lambda: builders.correction(builders.timesheet()), "person:b-3f9a1c2e7d"),
    "timesheet.retracted": (lambda: builders.retraction(builders.timesheet()), "person:b-3f9a1c2e7d"),
    "siae.invoice": (builders.invoice, "contract:gpe-c001"),
}


def test_the_examples_cover_every_type():
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_key_of(event_type):
    build, key = EXAMPLES[event_type]
    event = build()
    assert parse_event(builders.raw(event)).type == event_type  # a valid event of that type
    assert key_of(event) == key
    kind = kind_of(event_type)
    assert key == f"{kind.scope.value}:{event[kind.key_field]}"


@pytest.mark.parametrize("item", [
    None, 42, "timesheet.submitted", [{"type": "timesheet.submitted", "beneficiary_id": "b-3f9a1c2e7d"}],
    {}, {"type": "no.such.type", "beneficiary_id": "b-3f9a1c2e7d"}, {"type": None},
    {"type": "timesheet.submitted"}, {"type": "timesheet.submitted", "beneficiary_id": ""},
    {"type": "timesheet.submitted", "beneficiary_id": 7}, {"type": "timesheet.submitted", "beneficiary_id": None},
    {"type": "contract.registered", "beneficiary_id": "b-3f9a1c2e7d"},  # a contract is keyed by its contract_id
])
def test_key_of_what_cannot_be_keyed_is_none(item):
    assert key_of(item) is None


@pytest.mark.parametrize("event_type", ["no.such.type", "", "Timesheet.Submitted", "timesheet"])
def test_an_unknown_type_raises(event_type):
    with pytest.raises(LookupError, match="not in ledger.registry.KINDS"):
        kind_of(event_type)
    assert posted_by(event_type) == frozenset()


def test_who_posts_what():
    assert {t for t in KINDS if Role.BUYER in posted_by(t)} == {"programme.defined", "contract.registered",
                                                                "pooling.agreed"}
    assert {t for t in KINDS if Role.FACILITATOR in posted_by(t)} == {"beneficiary.enrolled", "beneficiary.outcome",
                                                                      "claim.resolved"}
    assert {t for t in KINDS if Role.CONTRACTOR in posted_by(t)} == {
        "timesheet.submitted", "timesheet.corrected", "timesheet.retracted", "siae.invoice"}
    assert all(len(posted_by(t)) == 1 for t in KINDS)


def test_reference_records_and_scopes():
    assert {t: k.record for t, k in KINDS.items() if k.record is not None} == {
        "programme.defined": "programme", "contract.registered": "contract", "pooling.agreed": "pooling",
        "beneficiary.enrolled": "beneficiary", "beneficiary.outcome": "outcome", "claim.resolved": "resolution"}
    # Hours are always decided with the person's state (or the contract's, for an invoice).
    assert all(KINDS[t].scope is Scope.PERSON for t in ("timesheet.submitted", "timesheet.corrected",
                                                         "timesheet.retracted", "claim.resolved"))
    assert {t for t, k in KINDS.items() if k.scope is Scope.REFERENCE} == {"programme.defined", "contract.registered"}


def test_the_gateway_permits_what_the_registry_says():
    from streams.gateway.auth import ALLOWED

    assert ALLOWED == {kind.type: kind.posted_by for kind in KINDS.values()}
    assert all(ALLOWED[t] for t in KINDS)  # every type has a poster: none accepted "silently"
