"""`ledger gateway`, `ledger token issue|revoke|list` and `ledger openapi` (wired in streams/cli.py).

Nothing heavy is imported here at module level: `ledger --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path

from streams.settings import REPO_ROOT

OPENAPI_FILE = REPO_ROOT / "openapi.json"
LIVE_OPENAPI_FILE = REPO_ROOT / "docs" / "live-openapi.json"


def add_parsers(commands) -> None:
    gateway = commands.add_parser("gateway", help="serve the HTTP ingestion gateway (uvicorn)")
    gateway.add_argument("--host", default=None, help="default LEDGER_GATEWAY_HOST (127.0.0.1)")
    gateway.add_argument("--port", type=int, default=None, help="default LEDGER_GATEWAY_PORT (8000)")

    token = commands.add_parser("token", help="issue, revoke or list the gateway's API tokens")
    actions = token.add_subparsers(dest="action", required=True)
    issue = actions.add_parser("issue", help="issue a token (printed once, stored hashed)")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--contractor", metavar="SIRET", help="a contractor: posts timesheets on contracts it holds")
    who.add_argument("--facilitator", metavar="ID", help="a facilitator: posts enrolments and outcomes as ID")
    who.add_argument("--buyer", metavar="NAME", help="a buyer or administrator: posts programmes and contracts")
    who.add_argument("--auditor", metavar="NAME", help="an auditor: posts nothing, reads the live view and runs its "
                                                       "read-only SQL (docs/live.md)")
    issue.add_argument("--contracts", default="", metavar="C1,C2",
                       help="contracts this contractor holds besides those registered through the gateway")
    issue.add_argument("--label", default=None, help="a note kept with the token (e.g. the system using it)")
    issue.add_argument("--json", action="store_true", help="print {id, token, role, subject} as JSON")
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id")
    listing = actions.add_parser("list", help="list tokens (ids, roles, subjects; never the secrets)")
    listing.add_argument("--json", action="store_true")

    openapi = commands.add_parser("openapi", help="write the gateway's OpenAPI document (openapi.json), or with "
                                                  "--live the live view's (docs/live-openapi.json)")
    openapi.add_argument("--live", action="store_true", help="the live view's document (streams/live/app.py)")
    openapi.add_argument("--out", type=Path, default=None, help="default openapi.json, or docs/live-openapi.json")


def openapi_text(live: bool = False) -> str:
    if live:
        from streams.live.app import openapi_document
    else:
        from streams.gateway.app import openapi_document

    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def _gateway(args) -> int:
    import uvicorn

    from streams.gateway.app import create_app
    from streams.gateway.config import GatewaySettings
    from streams.settings import settings
    from streams.kafka.topics import RetentionError, check_retention, ensure_topics

    cfg, gw = settings(), GatewaySettings()
    if not args.verbose:  # a broker that is down is reported by /readyz and 503s, not by a log flood
        logging.getLogger("kafka").setLevel(logging.CRITICAL)

    def topics() -> None:  # in the background: the gateway serves (503 until Kafka answers) meanwhile
        try:
            ensure_topics(cfg)
            check_retention(cfg)
        except RetentionError as error:  # refuse to feed a book of record that deletes its history
            print(f"ledger gateway: {error}", file=sys.stderr)
            os._exit(2)
        except Exception as error:
            print(f"ledger gateway: topics not checked ({error}); /readyz tells when Kafka answers", file=sys.stderr)

    threading.Thread(target=topics, name="ensure-topics", daemon=True).start()
    uvicorn.run(create_app(cfg, gw), host=args.host or gw.host, port=args.port or gw.port,
                log_level="info" if args.verbose else "warning", proxy_headers=True,
                timeout_keep_alive=gw.keep_alive_seconds)
    return 0


def _token(args) -> int:
    from streams.gateway.auth import Role, TokenStore
    from streams.gateway.config import GatewaySettings

    store = TokenStore(GatewaySettings().tokens)
    if args.action == "issue":
        role, subject = next((role, value) for role, value in (
            (Role.CONTRACTOR, args.contractor), (Role.FACILITATOR, args.facilitator), (Role.BUYER, args.buyer),
            (Role.AUDITOR, args.auditor))
            if value)
        contracts = [c.strip() for c in args.contracts.split(",") if c.strip()]
        try:
            token_id, token = store.issue(role, subject, contracts, label=args.label)
        except ValueError as error:
            print(f"ledger token issue: {error}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps({"id": token_id, "token": token, "role": role.value, "subject": subject,
                              "contracts": contracts}))
        else:
            print(token)
            print(f"token {token_id} for {role.value} {subject} (shown once: store it now)", file=sys.stderr)
        return 0
    if args.action == "revoke":
        if store.revoke(args.id):
            print(f"revoked {args.id}")
            return 0
        print(f"ledger token revoke: no active token {args.id}", file=sys.stderr)
        return 1
    tokens = store.list()
    if args.json:
        print(json.dumps(tokens, indent=2))
    else:
        for t in tokens:
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
            contracts = f" contracts={','.join(t['contracts'])}" if t["contracts"] else ""
            print(f"{t['id']}  {t['role']:<11} {t['subject']:<16} {state}  created {t['created_at']}{contracts}"
                  + (f"  ({t['label']})" if t["label"] else ""))
    return 0


def _openapi(args) -> int:
    out = args.out or (LIVE_OPENAPI_FILE if args.live else OPENAPI_FILE)
    out.write_text(openapi_text(live=args.live))
    print(out)
    return 0


COMMANDS = {"gateway": _gateway, "token": _token, "openapi": _openapi}


def main(argv: list[str] | None = None) -> int:  # `python -m streams.gateway.commands`, without streams.cli
    parser = argparse.ArgumentParser(prog="ledger")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
