"""The ingestion gateway: contractor, facilitator and buyer systems post events over HTTP.

`app.create_app()` builds the FastAPI application; `ledger gateway` serves it with uvicorn.
Modules: `config` (LEDGER_GATEWAY_* settings), `auth` (hashed per-party tokens and the contracts
each contractor holds), `idempotency` (Idempotency-Key answers), `parsing` (JSON, JSONL and CSV
bodies into validated events with per-line errors), `intake` (acks=all production), `metrics`,
`commands` (the `ledger gateway|token|openapi` subcommands) and `simulator`.
"""
