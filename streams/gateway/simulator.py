"""Post a synthetic programme through the gateway, as its buyer, facilitators and contractors would.

    python -m streams.gateway.simulator --url http://gateway:8000 [--beneficiaries 320] [--seed 2015]

The simulator shares the gateway's token store (LEDGER_GATEWAY_TOKENS): it issues a buyer token, a
token per facilitator and per contractor of the programme, posts the programme phase by phase
(reference data, activity, follow-ups, resolutions), each event by the party that owns it, in
batches (JSON arrays, with an Idempotency-Key each), retrying after Retry-After on 503; and revokes
its tokens at the end.
What the gateway refuses is counted, not hidden: the generator's malformed lines (422, posted one by
one since a batch is all or nothing) and timesheets on contracts nobody registered (403).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import urllib.error
import urllib.request

from ledger.synthetic import BUYER_ID
from streams.gateway.auth import TokenStore
from streams.gateway.config import GatewaySettings


@dataclass
class Summary:
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # status -> lines
    expected_hours: str = "0"

    def render(self) -> str:
        refused = ", ".join(f"{n} lines with {status}" for status, n in sorted(self.refused.items())) or "none"
        return (f"simulator: {self.accepted} events accepted by the gateway; refused: {refused}; "
                f"the generator expects {self.expected_hours} h in the ledger")


def _post(url: str, token: str, path: str, content: str, content_type: str, key: str,
          attempts: int = 10) -> int:
    """POST with the standard library (the image has no HTTP client package); the status."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type, "Idempotency-Key": key}
    status = 0
    for _ in range(attempts):
        request = urllib.request.Request(url + path, data=content.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status
        except urllib.error.HTTPError as error:
            status, retry = error.code, error.headers.get("Retry-After")
            if error.code not in (503, 409) or retry is None:
                return error.code
            time.sleep(min(30, int(retry)))
    return status  # still busy after every attempt: its last answer (the name `error` is gone by now)


BUYER_TYPES = {"programme.defined", "contract.registered", "pooling.agreed"}


def simulate(url: str, tokens: TokenStore, seed: int = 2015, beneficiaries: int | None = None,
             batch: int = 500, between_phases: Callable[[int], None] | None = None,
             settle_seconds: float = 15) -> Summary:
    """Post the programme phase by phase (reference, activity, follow-ups, resolutions), each event
    by the party that owns it. `between_phases(accepted so far)` runs after each phase (default:
    wait `settle_seconds`): contracts live in the workers' global table, fed from other partitions
    than the timesheets, and a correction or a claim's resolution must follow what it names."""
    from streams.demo import programme

    prog = programme(seed, beneficiaries)
    summary = Summary(expected_hours=str(prog.expected.total_hours))
    owner = {e["contract_id"]: e["contractor_siret"] for e in prog.reference if e["type"] == "contract.registered"}
    contract_of = {e["event_id"]: e.get("contract_id") for _, events in prog.phases for e in events
                   if isinstance(e, dict) and isinstance(e.get("event_id"), str)}
    issued: dict[tuple[str, str], str] = {}

    def token(role: str, subject: str) -> str:
        if (role, subject) not in issued:
            token_id, value = tokens.issue(role, subject, label="simulator")
            issued[(role, subject)] = value
            revoke.append(token_id)
        return issued[(role, subject)]

    def party(event) -> tuple[str, str] | None:
        """(role, subject) that posts this event; None for a line that is not an event."""
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return None
        kind = event["type"]
        if kind in BUYER_TYPES:
            return "buyer", BUYER_ID  # the owner the programme's and contracts' buyer_id name
        if "facilitator_id" in event and isinstance(event["facilitator_id"], str):
            return "facilitator", event["facilitator_id"]
        contract_id = event.get("contract_id") or contract_of.get(event.get("original_event_id"))
        if contract_id in owner:
            return "contractor", owner[contract_id]
        return ("contractor", next(iter(owner.values()))) if owner else None  # not held by anyone: 403

    def send(credential: str, events: list, key: str) -> None:
        for start in range(0, len(events), batch):
            chunk = events[start:start + batch]
            status = _post(url, credential, "/v1/batches", json.dumps(chunk), "application/json", f"{key}-{start}")
            if status == 202:
                summary.accepted += len(chunk)
            else:
                summary.refused[status] += len(chunk)

    revoke: list[str] = []
    try:
        for phase, events in prog.phases:
            groups: dict[tuple[str, str], list] = defaultdict(list)
            malformed = []
            for event in events:
                who = party(event)
                if who is None:
                    malformed.append(event if isinstance(event, str) else json.dumps(event))
                else:
                    groups[who].append(event)
            # A batch is all or nothing: each contractor's events that it does not hold go alone.
            for (role, subject), group in sorted(groups.items()):
                held = [e for e in group if role != "contractor" or owner.get(
                    e.get("contract_id") or contract_of.get(e.get("original_event_id"))) == subject]
                others = [e for e in group if e not in held]
                send(token(role, subject), held, f"sim-{seed}-{phase}-{role}-{subject}")
                for n, event in enumerate(others):
                    send(token(role, subject), [event], f"sim-{seed}-{phase}-{subject}-foreign-{n}")
            for n, line in enumerate(malformed):  # one by one: each is refused (422) on its own
                credential = token("contractor", next(iter(owner.values())))
                summary.refused[_post(url, credential, "/v1/batches", line + "\n", "application/x-ndjson",
                                      f"sim-{seed}-{phase}-malformed-{n}")] += 1
            (between_phases or (lambda _: time.sleep(settle_seconds)))(summary.accepted)
    finally:
        for token_id in revoke:
            tokens.revoke(token_id)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.gateway.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--beneficiaries", type=int, default=None, help="size of the programme (default 320)")
    parser.add_argument("--batch", type=int, default=500, help="events per request")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for the gateway to be ready")
    parser.add_argument("--settle", type=float, default=15,
                        help="seconds between two phases (reference, activity, follow-ups, resolutions)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            with urllib.request.urlopen(f"{args.url}/readyz", timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            print(f"simulator: the gateway at {args.url} is not ready", file=sys.stderr)
            return 1
        time.sleep(2)
    summary = simulate(args.url, TokenStore(GatewaySettings().tokens), seed=args.seed,
                       beneficiaries=args.beneficiaries, batch=args.batch, settle_seconds=args.settle)
    print(summary.render())
    return 0 if summary.accepted else 1


if __name__ == "__main__":
    sys.exit(main())
