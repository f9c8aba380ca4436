"""What a token may post: its role's event types, and only its own contracts or facilitator id."""

from __future__ import annotations

from streams.gateway.auth import ALLOWED, Principal, Role, TokenStore
from streams.gateway.parsing import Line, LineError

# Timesheet events whose ownership the gateway records (who may later correct or retract them).
OWNED_TIMESHEETS = ("timesheet.submitted", "timesheet.corrected")


def authorize(principal: Principal, lines: list[Line], store: TokenStore) -> list[LineError]:
    """One error per line the caller may not post; an empty list when it may post them all."""
    contractor = principal.role is Role.CONTRACTOR
    holders: dict[str, str] = {}
    owners: dict[str, str] = {}
    if contractor:
        holders = store.holders({cid for line in lines if (cid := getattr(line.event, "contract_id", None))})
        originals = {str(o) for line in lines if (o := getattr(line.event, "original_event_id", None))}
        owners = store.timesheet_owners(originals)

    def holds(contract_id: str) -> bool:
        return holders.get(contract_id) == principal.subject or contract_id in principal.contracts

    # A correction may follow its original in the same request.
    owners.update({str(line.event.event_id): principal.subject for line in lines
                   if contractor and line.event.type in OWNED_TIMESHEETS and holds(line.event.contract_id)})

    errors = []
    for line in lines:
        event = line.event
        roles = ALLOWED.get(event.type, frozenset())
        if principal.role not in roles:
            allowed = " or ".join(sorted(r.value for r in roles)) or "no one"
            errors.append(LineError(line.line, "type", f"a {principal.role.value} token may not post {event.type} "
                                    f"(posted by: {allowed})", "forbidden_event_type"))
            continue
        facilitator_id = getattr(event, "facilitator_id", None)
        if principal.role is Role.FACILITATOR and facilitator_id is not None and facilitator_id != principal.subject:
            errors.append(LineError(line.line, "facilitator_id", f"this token posts for facilitator "
                                    f"{principal.subject}, not {facilitator_id}", "not_your_facilitator_id"))
        if not contractor:
            continue
        contract_id = getattr(event, "contract_id", None)
        if contract_id is not None and not holds(contract_id):
            errors.append(LineError(line.line, "contract_id", f"contract {contract_id} is not held by SIRET "
                                    f"{principal.subject}", "contract_not_held"))
        original = getattr(event, "original_event_id", None)
        if original is not None and owners.get(str(original)) != principal.subject:
            errors.append(LineError(line.line, "original_event_id", f"{original} is not a timesheet SIRET "
                                    f"{principal.subject} posted through the gateway", "timesheet_not_yours"))
    return errors


def remember(principal: Principal, acknowledged: list[Line], store: TokenStore) -> None:
    """After Kafka acknowledged: contracts registered, and timesheets their contractor may retract."""
    store.register_contracts(
        [(line.event.contract_id, line.event.contractor_siret, str(line.event.event_id))
         for line in acknowledged if line.event.type == "contract.registered"], registered_by=principal.token_id)
    if principal.role is Role.CONTRACTOR:
        store.record_timesheets([(str(line.event.event_id), principal.subject, line.event.contract_id)
                                 for line in acknowledged if line.event.type in OWNED_TIMESHEETS])
