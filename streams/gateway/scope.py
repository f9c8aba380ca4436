"""What a token may post: its role's event types, and only what its party owns.

Ownership is what the gateway recorded from earlier requests, never what the request being checked
says (a line cannot vouch for another line of the same request):

- an event id belongs to the party (`role:subject`) that first posted it through the gateway: another
  party reusing it is refused (`event_id_taken`);
- a contractor posts timesheets and invoices on the contracts it holds (`contract_not_held`), and
  corrects or retracts only timesheets Kafka acknowledged for it before this request
  (`timesheet_not_yours`);
- a beneficiary belongs to the facilitator that first enrolled it: another facilitator's enrolment,
  outcome or claim.resolved for it is refused (`beneficiary_not_yours`);
- a programme and a contract belong to the buyer that first defined or registered it: another
  buyer's definition, registration (or registration into that programme) or pooling is refused
  (`programme_not_yours`, `contract_not_yours`).

`authorize` returns the refusals and the claims the request makes; `Gateway.process` reserves the
claims atomically (`TokenStore.reserve`: two parties racing cannot both win), then `remember` keeps
those Kafka acknowledged and gives back the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.gateway.auth import ALLOWED, Principal, Role, TokenStore
from streams.gateway.parsing import Line, LineError

# Timesheet events whose ownership the gateway records (who may later correct or retract them).
OWNED_TIMESHEETS = ("timesheet.submitted", "timesheet.corrected")

# kind -> (field, refusal reason, what it is)
KINDS = {
    "event": ("event_id", "event_id_taken", "event id"),
    "beneficiary": ("beneficiary_id", "beneficiary_not_yours", "beneficiary"),
    "programme": ("programme_id", "programme_not_yours", "programme"),
    "contract": ("contract_id", "contract_not_yours", "contract"),
}


@dataclass(frozen=True)
class Claim:
    """Line `line` makes `owner` the owner of (`kind`, `key`) once Kafka acknowledged it."""

    line: int
    kind: str
    key: str
    owner: str

    @property
    def row(self) -> tuple[str, str, str]:
        return self.kind, self.key, self.owner


def claims_of(principal: Principal, lines: list[Line]) -> list[Claim]:
    """What each line would own: its event id; an enrolment's beneficiary; a buyer's programme or contract."""
    claims = []
    for line in lines:
        event = line.event
        claims.append(Claim(line.line, "event", str(event.event_id), principal.label))
        if principal.role is Role.FACILITATOR and event.type == "beneficiary.enrolled":
            claims.append(Claim(line.line, "beneficiary", event.beneficiary_id, principal.subject))
        elif principal.role is Role.BUYER and event.type == "programme.defined":
            claims.append(Claim(line.line, "programme", event.programme_id, principal.subject))
        elif principal.role is Role.BUYER and event.type == "contract.registered":
            claims.append(Claim(line.line, "contract", event.contract_id, principal.subject))
    return claims


def taken_errors(claims: list[Claim], taken: dict[tuple[str, str], str]) -> list[LineError]:
    """One refusal per claim another party holds."""
    errors = []
    for claim in claims:
        if (claim.kind, claim.key) in taken:
            field, reason, what = KINDS[claim.kind]
            errors.append(LineError(claim.line, field, f"{what} {claim.key} belongs to another party", reason))
    return errors


def authorize(principal: Principal, lines: list[Line], store: TokenStore) -> tuple[list[LineError], list[Claim]]:
    """The refusals (one per line and field the caller may not post; empty when it may post them all)
    and the claims the request makes."""
    contractor = principal.role is Role.CONTRACTOR
    claims = claims_of(principal, lines)
    recorded = {kind: store.owners(kind, {c.key for c in claims if c.kind == kind}) for kind in KINDS}
    holders: dict[str, str] = {}
    timesheets: dict[str, str] = {}
    if contractor:
        holders = store.holders({cid for line in lines if (cid := getattr(line.event, "contract_id", None))})
        # Only timesheets Kafka acknowledged before this request: never a line of this request.
        timesheets = store.timesheet_owners(
            {str(o) for line in lines if (o := getattr(line.event, "original_event_id", None))})
    named = {kind: store.owners(kind, keys) for kind, keys in _named(principal, lines).items()}

    def holds(contract_id: str) -> bool:
        return holders.get(contract_id) == principal.subject or contract_id in principal.contracts

    def foreign(kind: str, key: str) -> bool:
        owner = named[kind].get(key)
        return owner is not None and owner != principal.subject

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
        buyer_id = getattr(event, "buyer_id", None)
        if principal.role is Role.BUYER and buyer_id is not None and buyer_id != principal.subject:
            errors.append(LineError(line.line, "buyer_id", f"this token posts for buyer {principal.subject}, "
                                    f"not {buyer_id}", "not_your_buyer_id"))
        if principal.role is Role.FACILITATOR and event.type in ("beneficiary.outcome", "claim.resolved") \
                and foreign("beneficiary", event.beneficiary_id):
            errors.append(LineError(line.line, "beneficiary_id", f"beneficiary {event.beneficiary_id} was enrolled "
                                    "by another facilitator", "beneficiary_not_yours"))
        if principal.role is Role.BUYER and event.type in ("contract.registered", "pooling.agreed") \
                and foreign("programme", event.programme_id):
            errors.append(LineError(line.line, "programme_id", f"programme {event.programme_id} belongs to "
                                    "another buyer", "programme_not_yours"))
        if principal.role is Role.BUYER and event.type == "pooling.agreed":
            for n, contract_id in enumerate(event.contract_ids):
                if foreign("contract", contract_id):
                    errors.append(LineError(line.line, f"contract_ids.{n}", f"contract {contract_id} belongs to "
                                            "another buyer", "contract_not_yours"))
        if not contractor:
            continue
        contract_id = getattr(event, "contract_id", None)
        if contract_id is not None and not holds(contract_id):
            errors.append(LineError(line.line, "contract_id", f"contract {contract_id} is not held by SIRET "
                                    f"{principal.subject}", "contract_not_held"))
        original = getattr(event, "original_event_id", None)
        if original is not None and timesheets.get(str(original)) != principal.subject:
            errors.append(LineError(line.line, "original_event_id", f"{original} is not a timesheet SIRET "
                                    f"{principal.subject} posted through the gateway before this request",
                                    "timesheet_not_yours"))
    errors.extend(taken_errors(claims, {(c.kind, c.key): o for c in claims
                                        if (o := recorded[c.kind].get(c.key)) is not None and o != c.owner}))
    errors.sort(key=lambda e: e.line)
    return errors, claims


def _named(principal: Principal, lines: list[Line]) -> dict[str, set[str]]:
    """Beneficiaries, programmes and contracts the lines name without claiming them."""
    named: dict[str, set[str]] = {"beneficiary": set(), "programme": set(), "contract": set()}
    for line in lines:
        event = line.event
        if principal.role is Role.FACILITATOR and event.type in ("beneficiary.outcome", "claim.resolved"):
            named["beneficiary"].add(event.beneficiary_id)
        if principal.role is Role.BUYER and event.type in ("contract.registered", "pooling.agreed"):
            named["programme"].add(event.programme_id)
        if principal.role is Role.BUYER and event.type == "pooling.agreed":
            named["contract"].update(event.contract_ids)
    return named


def remember(principal: Principal, acknowledged: list[Line], claims: list[Claim], store: TokenStore,
             request: str, unconfirmed: list[Line] = ()) -> None:
    """After Kafka answered, before the answer is written: keep what the acknowledged lines claimed
    (and what unconfirmed lines claimed: they may be in Kafka), give back the rest; contracts
    registered move to their holder; timesheets become their contractor's to correct or retract."""
    acked = {line.line for line in acknowledged}
    kept = acked | {line.line for line in unconfirmed}
    keep = {c.row for c in claims if c.line in kept}
    store.confirm([c.row for c in claims if c.line in acked])
    store.release([c.row for c in claims if c.line not in kept and c.row not in keep], request)
    store.register_contracts(
        [(line.event.contract_id, line.event.contractor_siret, str(line.event.event_id))
         for line in acknowledged if line.event.type == "contract.registered"], registered_by=principal.token_id,
        buyer=principal.subject)
    if principal.role is Role.CONTRACTOR:
        store.record_timesheets([(str(line.event.event_id), principal.subject, line.event.contract_id)
                                 for line in acknowledged if line.event.type in OWNED_TIMESHEETS])
